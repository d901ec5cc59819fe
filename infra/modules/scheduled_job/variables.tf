variable "job" {
  type        = string
  description = "The job name on_cadence_tick dispatches on (a cadence of the policy file)."
}

variable "schedule" {
  type        = string
  description = "Five-field cron expression, read in time_zone."
}

variable "time_zone" {
  type        = string
  description = "IANA time zone the schedule is read in."
}

variable "description" {
  type        = string
  description = "What the job is for, from the policy file."
}

variable "topic_id" {
  type        = string
  description = "Id of the cadence-tick topic."
}

variable "region" {
  type        = string
  description = "Region of the Cloud Scheduler job."
}
