variable "project_id" {
  type        = string
  description = "The Google Cloud project taops is deployed to."
}

variable "region" {
  type        = string
  description = "Region of the functions and scheduler jobs."
  default     = "us-central1"
}

variable "firestore_location" {
  type        = string
  description = "Firestore location (a region such as us-central1, or a multi-region such as nam5)."
  default     = "nam5"
}

variable "message_retention" {
  type        = string
  description = "How long Pub/Sub keeps messages on the event topics, as a duration (e.g. 604800s)."
  default     = "604800s"
}

variable "dead_letter_retention" {
  type        = string
  description = "How long dead-lettered messages are kept for inspection, as a duration."
  default     = "2678400s"
}
