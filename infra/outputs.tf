output "topics" {
  description = "Event topics and their dead-letter topics."
  value = {
    for name, topic in google_pubsub_topic.topic : name => {
      topic       = topic.id
      dead_letter = google_pubsub_topic.dead_letter[name].id
    }
  }
}
