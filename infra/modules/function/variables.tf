variable "entry_point" {
  type        = string
  description = "The function's name in main.py (design §3); the deployed service takes it with hyphens."
}

variable "description" {
  type        = string
  description = "What the function does, shown in the console."
}

variable "project_id" {
  type        = string
  description = "The Google Cloud project."
}

variable "region" {
  type        = string
  description = "Region of the function and its trigger."
}

variable "runtime" {
  type        = string
  description = "Cloud Functions runtime."
  default     = "python311"
}

variable "source_bucket" {
  type        = string
  description = "Bucket holding the source archive."
}

variable "source_object" {
  type        = string
  description = "The source archive, named by its content hash so a new archive means a new deploy."
}

variable "memory" {
  type        = string
  description = "Memory of one instance, such as \"256Mi\"."
}

variable "timeout_seconds" {
  type        = number
  description = "How long one request may run before it is cut off (and, for a trigger, retried)."
}

variable "max_instances" {
  type        = number
  description = "Upper bound on concurrent instances: protects Firestore and vendor rate limits."
}

variable "public" {
  type        = bool
  description = "Whether anyone may call it (a vendor webhook); otherwise only its trigger can."
  default     = false
}

variable "firestore" {
  type        = bool
  description = "Whether the function reads or writes Firestore: roles/datastore.user on the project, else no database role."
  default     = false
}

variable "trigger_topic_id" {
  type        = string
  description = "Topic whose messages trigger the function, or null for an HTTP function."
  default     = null
}

variable "dead_letter_topic_id" {
  type        = string
  description = "Dead-letter topic of the trigger's subscription (required with trigger_topic_id)."
  default     = null
}

variable "max_delivery_attempts" {
  type        = number
  description = "Deliveries of one message before the trigger's subscription dead-letters it."
  default     = 10
}

variable "pubsub_service_agent" {
  type        = string
  description = "Email of the project's Pub/Sub service agent (it forwards dead letters)."
  default     = null
}

variable "publishes_to" {
  type        = list(string)
  description = "Ids of the topics the function publishes to; it may publish to no other."
  default     = []
}

variable "env" {
  type        = map(string)
  description = "Plain environment variables (never secrets)."
  default     = {}
}

variable "secret_env" {
  type        = map(string)
  description = "Environment variable name => Secret Manager secret id, read at the latest version."
  default     = {}
}

variable "secret_files" {
  type = map(object({
    secret     = string
    mount_path = string
    file_name  = string
  }))
  description = "Environment variable name => a secret mounted as a file; the variable holds its path."
  default     = {}
}

variable "labels" {
  type        = map(string)
  description = "Labels put on the function."
  default     = {}
}
