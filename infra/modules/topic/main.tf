# A taops topic and its dead-letter topic, encrypted with the deployment's key and kept
# in its region. Messages a subscriber gave up on (after the
# subscription's max delivery attempts) land in the dead-letter topic, and a pull
# subscription keeps them there for inspection and replay instead of letting them expire.

terraform {
  required_providers {
    google = {
      source = "hashicorp/google"
    }
  }
}

resource "google_pubsub_topic" "topic" {
  name                       = var.name
  message_retention_duration = var.message_retention
  kms_key_name               = var.kms_key_name
  labels                     = var.labels

  message_storage_policy {
    allowed_persistence_regions = [var.region]
  }
}

resource "google_pubsub_topic" "dead_letter" {
  name                       = "${var.name}-dead-letter"
  message_retention_duration = var.dead_letter_retention
  kms_key_name               = var.kms_key_name
  labels                     = var.labels

  message_storage_policy {
    allowed_persistence_regions = [var.region]
  }
}

resource "google_pubsub_subscription" "dead_letter_inspection" {
  name                       = "${var.name}-dead-letter-inspection"
  topic                      = google_pubsub_topic.dead_letter.id
  message_retention_duration = var.dead_letter_retention
  retain_acked_messages      = true
  ack_deadline_seconds       = 60
  labels                     = var.labels

  # Never deleted for inactivity: a quiet dead-letter topic is the good case.
  expiration_policy {
    ttl = ""
  }
}

# Pub/Sub forwards a message to the dead-letter topic as its own service agent.
resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  topic  = google_pubsub_topic.dead_letter.id
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:${var.pubsub_service_agent}"
}
