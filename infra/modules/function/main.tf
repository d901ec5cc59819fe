# One entry point of main.py as a Cloud Function (2nd gen) with its own service account
# holding only what this function uses: Firestore if it keeps state, publishing to the
# topics it publishes to (each topic's own binding), and reading its own secrets. A Pub/Sub-triggered function retries on failure (an
# exception means "retry" in taops) and its trigger's subscription dead-letters after
# max_delivery_attempts; an HTTP function is public only when a vendor must reach it.

terraform {
  required_providers {
    google = {
      source = "hashicorp/google"
    }
  }
}

locals {
  # Cloud Run service names take hyphens; the entry point keeps the Python name.
  service_name = replace(var.entry_point, "_", "-")
  triggered    = var.trigger_topic_id != null
}

resource "google_service_account" "function" {
  account_id   = "taops-${local.service_name}"
  display_name = "taops ${var.entry_point}"
  description  = "Runs the ${var.entry_point} function; granted only what it uses."
}

# Firestore grants only on the whole project (or database): a function that keeps no
# state (a webhook) gets no role at all.
resource "google_project_iam_member" "firestore_user" {
  count   = var.firestore ? 1 : 0
  project = var.project_id
  role    = "roles/datastore.user"
  member  = "serviceAccount:${google_service_account.function.email}"
}

resource "google_pubsub_topic_iam_member" "publisher" {
  for_each = toset(var.publishes_to)
  topic    = each.value
  role     = "roles/pubsub.publisher"
  member   = "serviceAccount:${google_service_account.function.email}"
}

resource "google_secret_manager_secret_iam_member" "accessor" {
  for_each  = toset(concat(values(var.secret_env), [for f in values(var.secret_files) : f.secret]))
  secret_id = each.value
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.function.email}"
}

resource "google_cloudfunctions2_function" "function" {
  name        = local.service_name
  location    = var.region
  description = var.description

  build_config {
    runtime     = var.runtime
    entry_point = var.entry_point
    source {
      storage_source {
        bucket = var.source_bucket
        object = var.source_object
      }
    }
  }

  service_config {
    available_memory               = var.memory
    timeout_seconds                = var.timeout_seconds
    max_instance_count             = var.max_instances
    min_instance_count             = 0
    ingress_settings               = var.public ? "ALLOW_ALL" : "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.function.email
    environment_variables          = merge(var.env, { for k, f in var.secret_files : k => "${f.mount_path}/${f.file_name}" })

    dynamic "secret_environment_variables" {
      for_each = var.secret_env
      content {
        key        = secret_environment_variables.key
        project_id = var.project_id
        secret     = secret_environment_variables.value
        version    = "latest"
      }
    }

    dynamic "secret_volumes" {
      for_each = var.secret_files
      content {
        mount_path = secret_volumes.value.mount_path
        project_id = var.project_id
        secret     = secret_volumes.value.secret
        versions {
          path    = secret_volumes.value.file_name
          version = "latest"
        }
      }
    }
  }

  dynamic "event_trigger" {
    for_each = local.triggered ? [var.trigger_topic_id] : []
    content {
      trigger_region        = var.region
      event_type            = "google.cloud.pubsub.topic.v1.messagePublished"
      pubsub_topic          = event_trigger.value
      retry_policy          = "RETRY_POLICY_RETRY"
      service_account_email = google_service_account.function.email
    }
  }

  labels = var.labels

  depends_on = [google_secret_manager_secret_iam_member.accessor]
}

# The trigger pushes as the function's own account, which may invoke only this function.
resource "google_cloud_run_service_iam_member" "trigger_invoker" {
  count    = local.triggered ? 1 : 0
  location = var.region
  service  = google_cloudfunctions2_function.function.name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.function.email}"
}

# A vendor webhook cannot present Google credentials: the function checks the vendor's
# signature or token itself, and refuses anything else with 401.
resource "google_cloud_run_service_iam_member" "public_invoker" {
  # checkov:skip=CKV_GCP_102:a vendor webhook is called without Google credentials; the function verifies the vendor's signature or token and answers 401 otherwise
  count    = var.public ? 1 : 0
  location = var.region
  service  = google_cloudfunctions2_function.function.name
  role     = "roles/run.invoker"
  member   = "allUsers"
}

# The google provider cannot set a dead-letter policy on the subscription a Pub/Sub
# trigger creates (hashicorp/terraform-provider-google#25069), so it is set on that
# subscription after the trigger exists, and again whenever the trigger is replaced.
resource "terraform_data" "dead_letter_policy" {
  count = local.triggered ? 1 : 0

  triggers_replace = [
    google_cloudfunctions2_function.function.event_trigger[0].trigger,
    var.dead_letter_topic_id,
    var.max_delivery_attempts,
  ]

  provisioner "local-exec" {
    command = "${path.module}/dead_letter_policy.sh"
    environment = {
      PROJECT               = var.project_id
      REGION                = var.region
      TRIGGER               = google_cloudfunctions2_function.function.event_trigger[0].trigger
      DEAD_LETTER_TOPIC     = var.dead_letter_topic_id
      MAX_DELIVERY_ATTEMPTS = tostring(var.max_delivery_attempts)
      PUBSUB_SERVICE_AGENT  = var.pubsub_service_agent
    }
  }
}
