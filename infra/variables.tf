variable "project_id" {
  type        = string
  description = "The Google Cloud project taops is deployed to."
}

variable "region" {
  type        = string
  description = "Region of the functions, their triggers, the scheduler jobs and the source bucket."
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

variable "max_delivery_attempts" {
  type        = number
  description = "Deliveries of one message to a function before its subscription dead-letters it (Pub/Sub allows 5 to 100)."
  default     = 10

  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
    error_message = "max_delivery_attempts must be between 5 and 100 (Pub/Sub's limits)."
  }
}

variable "policy_file" {
  type        = string
  description = "The policy YAML the functions run with and the scheduler jobs come from."
  default     = "../shared/default_policy.yaml"
}

variable "salesforce_org_ids" {
  type        = string
  description = "Comma-separated Salesforce org ids whose messages salesforce_webhook accepts."
}

variable "vitally_base_url" {
  type        = string
  description = "Your Vitally REST base URL, such as https://acme.rest.vitally.io."
}

variable "mail_sender" {
  type        = string
  description = "The Google Workspace user mailbox taops sends email as (domain-wide delegation)."
}

variable "delivery" {
  type        = string
  description = "\"live\" delivers actions; \"dry-run\" records what would be sent and calls nothing (a first deploy)."
  default     = "dry-run"

  validation {
    condition     = contains(["live", "dry-run"], var.delivery)
    error_message = "delivery must be \"live\" or \"dry-run\"."
  }
}

variable "source_retention_days" {
  type        = number
  description = "Days an uploaded source archive is kept: the window a rollback can reach back."
  default     = 90
}

variable "dashboard_client_id" {
  type        = string
  description = "The OAuth client id (Web application) the dashboard's Sign in with Google uses; its ID tokens must name it as audience. Empty: nobody can sign in."
  default     = ""
}
