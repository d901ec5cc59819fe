# One cadence of the policy file: Cloud Scheduler publishes {"job": NAME} to cadence-tick
# on the policy's schedule, in the policy's time zone.

terraform {
  required_providers {
    google = {
      source = "hashicorp/google"
    }
  }
}

resource "google_cloud_scheduler_job" "job" {
  name        = "taops-${var.job}"
  region      = var.region
  description = var.description
  schedule    = var.schedule
  time_zone   = var.time_zone

  pubsub_target {
    topic_name = var.topic_id
    data       = base64encode(jsonencode({ job = var.job }))
  }

  # A missed tick is caught by the next one, but a short outage should not cost a day.
  retry_config {
    retry_count          = 3
    min_backoff_duration = "10s"
    max_backoff_duration = "300s"
  }
}
