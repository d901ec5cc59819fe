output "id" {
  description = "The topic's id (projects/P/topics/NAME)."
  value       = google_pubsub_topic.topic.id
}

output "name" {
  description = "The topic's short name."
  value       = google_pubsub_topic.topic.name
}

output "dead_letter_id" {
  description = "The dead-letter topic's id."
  value       = google_pubsub_topic.dead_letter.id
}
