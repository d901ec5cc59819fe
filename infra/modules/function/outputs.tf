output "uri" {
  description = "The function's HTTPS URL."
  value       = google_cloudfunctions2_function.function.service_config[0].uri
}

output "service_account" {
  description = "Email of the function's own service account."
  value       = google_service_account.function.email
}

output "name" {
  description = "The deployed function's name."
  value       = google_cloudfunctions2_function.function.name
}
