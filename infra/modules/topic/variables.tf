variable "name" {
  type        = string
  description = "Topic name (design §3); the dead-letter topic is named \"<name>-dead-letter\"."
}

variable "message_retention" {
  type        = string
  description = "How long the topic keeps messages, as a duration such as \"604800s\"."
}

variable "dead_letter_retention" {
  type        = string
  description = "How long dead-lettered messages are kept for inspection, as a duration."
}

variable "pubsub_service_agent" {
  type        = string
  description = "Email of the project's Pub/Sub service agent, which publishes dead letters."
}

variable "kms_key_name" {
  type        = string
  description = "Cloud KMS key (in region) both topics are encrypted with."
}

variable "region" {
  type        = string
  description = "The only region messages are stored in (the KMS key's region)."
}

variable "labels" {
  type        = map(string)
  description = "Labels put on every resource of the topic."
  default     = {}
}
