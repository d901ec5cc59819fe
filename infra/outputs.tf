output "webhook_urls" {
  description = "Where to register each vendor's webhook (docs/deploy.md)."
  value = {
    deel       = module.function["deel_webhook"].uri
    salesforce = module.function["salesforce_webhook"].uri
    vitally    = module.function["vitally_webhook"].uri
  }
}

output "dashboard_url" {
  description = "The operations view; add its origin to the OAuth client's authorized JavaScript origins (docs/deploy.md)."
  value       = module.function["dashboard"].uri
}

output "topics" {
  description = "Event topics and their dead-letter topics."
  value = {
    for name, topic in module.topic : name => {
      topic       = topic.id
      dead_letter = topic.dead_letter_id
    }
  }
}

output "function_service_accounts" {
  description = "Each function's own service account (grant nothing else to them)."
  value       = { for name, f in module.function : name => f.service_account }
}

output "scheduled_jobs" {
  description = "The Cloud Scheduler jobs made from the policy's enabled cadences."
  value       = sort([for c in module.cadence : c.name])
}

output "source_object" {
  description = "The source archive deployed, named by its content hash."
  value       = google_storage_bucket_object.source.name
}
