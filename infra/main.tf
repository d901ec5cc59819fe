# taops on Google Cloud: the state and messaging ground every function stands on.
# The functions, their service accounts and the scheduler jobs are added by the deploy
# issue; this much is what the foundation needs: Firestore in native mode with the TTL
# policy on processed-event markers, and every topic of design §3 with its dead-letter topic.

terraform {
  required_version = ">= 1.5"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 5.20"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}

resource "google_firestore_database" "taops" {
  name                    = "(default)"
  location_id             = var.firestore_location
  type                    = "FIRESTORE_NATIVE"
  delete_protection_state = "DELETE_PROTECTION_ENABLED"
}

# Markers of processed events are only needed while a vendor or Pub/Sub may redeliver;
# shared.processing writes expire_at (policy events.marker_retention_days) and the
# Firestore adapter stores it as a Timestamp so this policy can delete them.
resource "google_firestore_field" "processed_events_ttl" {
  project    = var.project_id
  database   = google_firestore_database.taops.name
  collection = "processed_events"
  field      = "expire_at"

  ttl_config {}
  # TTL fields are not queried: no single-field index is kept for them.
  index_config {}
}

resource "google_pubsub_topic" "topic" {
  for_each                   = toset(local.topics)
  name                       = each.key
  message_retention_duration = var.message_retention
}

resource "google_pubsub_topic" "dead_letter" {
  for_each                   = toset(local.topics)
  name                       = "${each.key}-dead-letter"
  message_retention_duration = var.dead_letter_retention
}

locals {
  # Public names (design §3): terraform, the scheduler and outside checks rely on them.
  topics = ["pto-logged", "renewal-changed", "health-changed", "gmail-push", "cadence-tick", "actions"]
}
