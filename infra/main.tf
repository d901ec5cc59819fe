# taops on Google Cloud: the production environment, composed from ./modules.
#
#   topics        every topic of design §3 with its dead-letter topic      (modules/topic)
#   functions     every entry point of main.py, each with its own account  (modules/function)
#                 holding only what it uses (see "Who may do what" below)
#   cadences      a Cloud Scheduler job per enabled cadence of the policy  (modules/scheduled_job)
#   firestore     the database, its composite indexes and TTL policy
#   secrets       Secret Manager secrets (values are added by hand, never here)
#
# tests/functional/test_infra.py ties this file to the code both ways: every entry point
# deployed with the right trigger, every topic dead-lettered, every scheduled job known to
# on_cadence_tick, every query the store runs indexed.

terraform {
  required_version = ">= 1.5"

  # State lives in a GCS bucket of yours: terraform init -backend-config="bucket=NAME"
  # (docs/deploy.md). It holds no secret values: terraform never sees them.
  backend "gcs" {
    prefix = "taops"
  }
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 5.20"
    }
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.4"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}

data "google_project" "this" {}

locals {
  repo   = "${path.module}/.."
  labels = { app = "taops" }

  pubsub_service_agent = "service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"

  # Public names (design §3): terraform, the scheduler and outside checks rely on them;
  # refused-input carries what the webhooks refused to keep_refused (shared/refused.py).
  topics = ["pto-logged", "renewal-changed", "health-changed", "gmail-push", "cadence-tick", "actions", "refused-input"]

  # Every API the deployment uses, enabled by the same apply.
  apis = [
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "run.googleapis.com",
    "eventarc.googleapis.com",
    "artifactregistry.googleapis.com",
    "pubsub.googleapis.com",
    "firestore.googleapis.com",
    "cloudscheduler.googleapis.com",
    "secretmanager.googleapis.com",
    "cloudkms.googleapis.com",
    "gmail.googleapis.com",
    "calendar-json.googleapis.com",
  ]

  # Secret id => what it holds. Values are added with `gcloud secrets versions add`
  # (docs/deploy.md); terraform only creates the secrets and grants access.
  secrets = {
    "taops-deel-signing-key"   = "Deel webhook signing key (x-deel-signature HMAC)"
    "taops-salesforce-token"   = "Token Salesforce sends with Outbound Messages or the CDC relay"
    "taops-vitally-token"      = "Token in the Vitally playbook webhook URL"
    "taops-vitally-api-key"    = "Vitally REST API key (tasks, account re-reads, the account sync)"
    "taops-slack-bot-token"    = "Slack bot token, chat:write"
    "taops-slack-user-token"   = "Slack user token, users.profile:write (OOO statuses)"
    "taops-google-sa-key"      = "Delivery's service-account key, domain-wide delegation for gmail.send, gmail.settings.basic and Calendar: deliver_action only"
    "taops-gmail-metadata-key" = "A second service account's key, domain-wide delegation for gmail.metadata alone: reads the pooled mailbox"
  }

  # Two Google keys, two service accounts, two delegations (docs/deploy.md): the key that
  # can send mail and change autoresponders is mounted in deliver_action alone; reading the
  # pooled mailbox and renewing its watch needs gmail.metadata, from a key that grants no more.
  google_delivery_key = {
    TAOPS_GMAIL_SA_KEY_FILE = { secret = "taops-google-sa-key", mount_path = "/secrets/google", file_name = "key.json" }
  }
  gmail_metadata_key = {
    TAOPS_GMAIL_METADATA_KEY_FILE = { secret = "taops-gmail-metadata-key", mount_path = "/secrets/gmail-metadata", file_name = "key.json" }
  }

  common_env = {
    GOOGLE_CLOUD_PROJECT = var.project_id
    TAOPS_STORE          = "firestore:${var.project_id}"
    TAOPS_POLICY         = "/workspace/policy.yaml"
    LOG_EXECUTION_ID     = "true"
  }

  # Entry point => how it is deployed. trigger = null means HTTP. Memory, timeouts and
  # instance caps are set per function on purpose: webhooks answer vendors fast and must
  # scale; handlers hold a Firestore transaction; delivery waits on vendor APIs and is
  # capped to stay inside Slack's and Vitally's rate limits.
  #
  # Who may do what (tests/functional/test_infra_least_privilege.py holds these):
  #   firestore  roles/datastore.user on the project (Firestore has no finer grant) only
  #              for functions that read or write state; a webhook has none: it publishes
  #              what it refuses to refused-input, and keep_refused stores it;
  #   publishes  roles/pubsub.publisher on those topics alone, never on the project;
  #              "actions" only for functions that create actions;
  #   secret_env, files  the secrets it reads, each granted on that secret alone.
  functions = {
    deel_webhook = {
      description = "Deel time-off webhooks: verify the signature, publish to pto-logged"
      trigger     = null, public = true, publishes = ["pto-logged", "refused-input"], firestore = false
      memory      = "256Mi", timeout = 30, max_instances = 20
      env         = { TAOPS_REFUSED_TOPIC = "refused-input" }
      secret_env  = { TAOPS_DEEL_SIGNING_KEY = "taops-deel-signing-key" }
      files       = {}
    }
    salesforce_webhook = {
      description = "Salesforce Outbound Messages or CDC relay: verify, publish to renewal-changed"
      trigger     = null, public = true, publishes = ["renewal-changed", "refused-input"], firestore = false
      memory      = "256Mi", timeout = 30, max_instances = 20
      env         = { TAOPS_SALESFORCE_ORG_IDS = var.salesforce_org_ids, TAOPS_REFUSED_TOPIC = "refused-input" }
      secret_env  = { TAOPS_SALESFORCE_TOKEN = "taops-salesforce-token" }
      files       = {}
    }
    vitally_webhook = {
      description = "Vitally playbook webhooks: check the token, publish to health-changed"
      trigger     = null, public = true, publishes = ["health-changed", "refused-input"], firestore = false
      memory      = "256Mi", timeout = 30, max_instances = 20
      env         = { TAOPS_REFUSED_TOPIC = "refused-input" }
      secret_env  = { TAOPS_VITALLY_TOKEN = "taops-vitally-token" }
      files       = {}
    }
    on_pto_logged = {
      description = "Time off logged: absence, coverage plan and OOO actions"
      trigger     = "pto-logged", public = false, publishes = ["actions"], firestore = true
      memory      = "512Mi", timeout = 120, max_instances = 5
      env         = {}
      secret_env  = {}
      files       = {}
    }
    on_renewal_changed = {
      description = "Renewal changed in Salesforce: the book of business kept current"
      trigger     = "renewal-changed", public = false, publishes = ["actions"], firestore = true
      memory      = "512Mi", timeout = 120, max_instances = 5
      env         = {}
      secret_env  = {}
      files       = {}
    }
    on_health_changed = {
      description = "Health changed in Vitally: category change log and the book kept current"
      trigger     = "health-changed", public = false, publishes = ["actions"], firestore = true
      memory      = "512Mi", timeout = 120, max_instances = 5
      env         = { TAOPS_VITALLY_BASE_URL = var.vitally_base_url }
      secret_env  = { TAOPS_VITALLY_API_KEY = "taops-vitally-api-key" }
      files       = {}
    }
    on_group_mail = {
      description = "Pooled mailbox push from Gmail: threads and SLA clocks"
      trigger     = "gmail-push", public = false, publishes = ["actions"], firestore = true
      memory      = "512Mi", timeout = 120, max_instances = 5
      env         = {}
      secret_env  = {}
      files       = local.gmail_metadata_key
    }
    on_cadence_tick = {
      description = "Cloud Scheduler ticks: outbox relay, Gmail watch renewal, Vitally sync, cadences"
      trigger     = "cadence-tick", public = false, publishes = ["actions"], firestore = true
      memory      = "512Mi", timeout = 300, max_instances = 2
      # vitally-sync reads Vitally's account list with the REST key; gmail-watch renews the
      # pooled mailbox's users.watch, which gmail.metadata allows.
      env        = { TAOPS_VITALLY_BASE_URL = var.vitally_base_url }
      secret_env = { TAOPS_VITALLY_API_KEY = "taops-vitally-api-key" }
      files      = local.gmail_metadata_key
    }
    # The operations view (design §7): public so a browser reaches it; the page itself
    # admits only signed-in people of the company who are in the directory.
    dashboard = {
      description = "The operations view: the mailbox board, who is out, accounts, the outbox"
      trigger     = null, public = true, publishes = ["actions"], firestore = true
      memory      = "512Mi", timeout = 60, max_instances = 3
      env         = { TAOPS_DASHBOARD_CLIENT_ID = var.dashboard_client_id }
      secret_env  = {}
      files       = {}
    }
    deliver_action = {
      description = "Delivers one action to Slack, Gmail, Vitally or Calendar, at most once"
      trigger     = "actions", public = false, publishes = [], firestore = true
      memory      = "512Mi", timeout = 120, max_instances = 3
      # It creates no action but the operators' alert about its own configuration, which
      # waits in the outbox for outbox-relay: it may not publish to actions.
      env = {
        TAOPS_VITALLY_BASE_URL = var.vitally_base_url
        TAOPS_MAIL_SENDER      = var.mail_sender
        TAOPS_DELIVERY         = var.delivery
        TAOPS_PUBLISH_ACTIONS  = "0"
      }
      secret_env = {
        TAOPS_SLACK_BOT_TOKEN  = "taops-slack-bot-token"
        TAOPS_SLACK_USER_TOKEN = "taops-slack-user-token"
        TAOPS_VITALLY_API_KEY  = "taops-vitally-api-key"
      }
      files = local.google_delivery_key
    }
    # What the webhooks refused, stored in dead_letters: Firestore and nothing else.
    keep_refused = {
      description = "Keeps what a webhook refused in dead_letters (webhooks may not write Firestore)"
      trigger     = "refused-input", public = false, publishes = [], firestore = true
      memory      = "256Mi", timeout = 60, max_instances = 3
      env         = { TAOPS_PUBLISH_ACTIONS = "0" }
      secret_env  = {}
      files       = {}
    }
  }

  policy = yamldecode(file(var.policy_file))
  # Only enabled cadences are scheduled: a disabled one has no reaction yet.
  cadences = { for c in local.policy.cadences : c.job => c if try(c.enabled, true) }

  source_files = setunion(
    ["main.py", "requirements.txt"],
    fileset(local.repo, "functions/**/*.py"),
    fileset(local.repo, "shared/**/*.{py,yaml,json,jsonl,html,css}"),
  )
}

resource "google_project_service" "api" {
  for_each           = toset(local.apis)
  service            = each.value
  disable_on_destroy = false
}

# --- Firestore ---------------------------------------------------------------------------

resource "google_firestore_database" "taops" {
  name                    = "(default)"
  location_id             = var.firestore_location
  type                    = "FIRESTORE_NATIVE"
  delete_protection_state = "DELETE_PROTECTION_ENABLED"
  depends_on              = [google_project_service.api]
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

# An equality and a range on two fields need a composite index; every other query of the
# code filters on one field (or on equalities only), which Firestore's automatic
# single-field indexes serve. tests/functional/test_infra.py derives this list from the
# queries the code runs.
#
# The outbox relay (shared/outbox.py) reads pending actions whose not_before has passed.
resource "google_firestore_index" "outbox_due" {
  project    = var.project_id
  database   = google_firestore_database.taops.name
  collection = "outbox"

  fields {
    field_path = "status"
    order      = "ASCENDING"
  }
  fields {
    field_path = "not_before"
    order      = "ASCENDING"
  }
}

# A tick's sweep (shared/jobs.py) reads its job's timers whose due_at has passed: the cost
# is what is due, not how many threads wait.
resource "google_firestore_index" "timers_due" {
  project    = var.project_id
  database   = google_firestore_database.taops.name
  collection = "timers"

  fields {
    field_path = "job"
    order      = "ASCENDING"
  }
  fields {
    field_path = "due_at"
    order      = "ASCENDING"
  }
}

# Routing (shared/handlers/common.py) reads a person's absences that have not ended yet
# and begin within three weeks: range filters on two fields, which Firestore serves from
# one composite index.
resource "google_firestore_index" "absences_of_person" {
  project    = var.project_id
  database   = google_firestore_database.taops.name
  collection = "absences"

  fields {
    field_path = "person"
    order      = "ASCENDING"
  }
  fields {
    field_path = "ends_at"
    order      = "ASCENDING"
  }
  fields {
    field_path = "starts_at"
    order      = "ASCENDING"
  }
}

# A renewal that moves, or an account entering Lighthouse (shared/handlers/coverage.py),
# re-draws the plans of its TA's absences that have not ended: equality and a range.
resource "google_firestore_index" "live_absences_of_person" {
  project    = var.project_id
  database   = google_firestore_database.taops.name
  collection = "absences"

  fields {
    field_path = "person"
    order      = "ASCENDING"
  }
  fields {
    field_path = "ends_at"
    order      = "ASCENDING"
  }
}

# A cover who logs time off (shared/handlers/coverage.py) reads the coverage plans they
# cover that have not ended: an array membership and a range, served by one composite index.
resource "google_firestore_index" "coverage_plans_of_cover" {
  project    = var.project_id
  database   = google_firestore_database.taops.name
  collection = "coverage_plans"

  fields {
    field_path   = "covers"
    array_config = "CONTAINS"
  }
  fields {
    field_path = "end"
    order      = "ASCENDING"
  }
}

# The operations view (shared/dashboard/pages.py) reads the absences that have not ended
# and begin within 30 days: range filters on two fields.
resource "google_firestore_index" "absences_in_window" {
  project    = var.project_id
  database   = google_firestore_database.taops.name
  collection = "absences"

  fields {
    field_path = "ends_at"
    order      = "ASCENDING"
  }
  fields {
    field_path = "starts_at"
    order      = "ASCENDING"
  }
}

# ... and the coverage plans still in draft whose absence has not ended.
resource "google_firestore_index" "live_draft_plans" {
  project    = var.project_id
  database   = google_firestore_database.taops.name
  collection = "coverage_plans"

  fields {
    field_path = "status"
    order      = "ASCENDING"
  }
  fields {
    field_path = "end"
    order      = "ASCENDING"
  }
}

# --- Pub/Sub -----------------------------------------------------------------------------

# Messages carry customer names and email metadata: the topics are encrypted with a key
# of the deployment's own, which Pub/Sub's service agent may use and nobody else.
resource "google_kms_key_ring" "taops" {
  name       = "taops"
  location   = var.region
  depends_on = [google_project_service.api]
}

resource "google_kms_crypto_key" "pubsub" {
  name            = "taops-pubsub"
  key_ring        = google_kms_key_ring.taops.id
  rotation_period = "7776000s" # 90 days

  lifecycle {
    prevent_destroy = true
  }
}

resource "google_kms_crypto_key_iam_member" "pubsub_agent" {
  crypto_key_id = google_kms_crypto_key.pubsub.id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = "serviceAccount:${local.pubsub_service_agent}"
}

module "topic" {
  source   = "./modules/topic"
  for_each = toset(local.topics)

  name                  = each.value
  region                = var.region
  kms_key_name          = google_kms_crypto_key.pubsub.id
  message_retention     = var.message_retention
  dead_letter_retention = var.dead_letter_retention
  pubsub_service_agent  = local.pubsub_service_agent
  labels                = local.labels

  depends_on = [google_kms_crypto_key_iam_member.pubsub_agent]
}

# Gmail's users.watch publishes mailbox changes to gmail-push as this Google account.
resource "google_pubsub_topic_iam_member" "gmail_push_publisher" {
  topic  = module.topic["gmail-push"].id
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:gmail-api-push@system.gserviceaccount.com"
}

# --- Secrets -----------------------------------------------------------------------------

resource "google_secret_manager_secret" "secret" {
  for_each  = local.secrets
  secret_id = each.key
  labels    = local.labels
  annotations = {
    holds = each.value
  }

  replication {
    auto {}
  }

  depends_on = [google_project_service.api]
}

# --- Source ------------------------------------------------------------------------------

resource "google_storage_bucket" "source" {
  # checkov:skip=CKV_GCP_62:the bucket holds only source archives the deploy writes; who reads them is in Cloud Audit Logs (Data Access logs for Cloud Storage, docs/deploy.md), a second log bucket would add nothing
  name                        = "${var.project_id}-taops-source"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false
  labels                      = local.labels

  # Old archives are what a rollback redeploys (docs/deploy.md): keep them a while.
  versioning {
    enabled = true
  }
  lifecycle_rule {
    condition {
      age = var.source_retention_days
    }
    action {
      type = "Delete"
    }
  }
}

# main.py, functions/, shared/, the runtime pins and the policy in use, zipped; the object
# is named by the archive's hash, so a deploy happens exactly when one of them changes.
data "archive_file" "source" {
  type        = "zip"
  output_path = "${path.module}/.build/taops-source.zip"

  dynamic "source" {
    for_each = local.source_files
    content {
      content  = file("${local.repo}/${source.value}")
      filename = source.value
    }
  }
  source {
    content  = file(var.policy_file)
    filename = "policy.yaml"
  }
}

resource "google_storage_bucket_object" "source" {
  name   = "taops-${data.archive_file.source.output_sha256}.zip"
  bucket = google_storage_bucket.source.name
  source = data.archive_file.source.output_path
}

# --- Functions ---------------------------------------------------------------------------

module "function" {
  source   = "./modules/function"
  for_each = local.functions

  entry_point     = each.key
  description     = each.value.description
  project_id      = var.project_id
  region          = var.region
  source_bucket   = google_storage_bucket.source.name
  source_object   = google_storage_bucket_object.source.name
  memory          = each.value.memory
  timeout_seconds = each.value.timeout
  max_instances   = each.value.max_instances
  public          = each.value.public
  firestore       = each.value.firestore

  trigger_topic_id      = each.value.trigger == null ? null : module.topic[each.value.trigger].id
  dead_letter_topic_id  = each.value.trigger == null ? null : module.topic[each.value.trigger].dead_letter_id
  max_delivery_attempts = var.max_delivery_attempts
  pubsub_service_agent  = local.pubsub_service_agent

  publishes_to = [for t in each.value.publishes : module.topic[t].id]
  env          = merge(local.common_env, each.value.env)
  secret_env   = { for k, s in each.value.secret_env : k => google_secret_manager_secret.secret[s].secret_id }
  secret_files = { for k, f in each.value.files : k => merge(f, { secret = google_secret_manager_secret.secret[f.secret].secret_id }) }
  labels       = local.labels

  depends_on = [google_project_service.api, google_firestore_database.taops]
}

# --- Cadences ----------------------------------------------------------------------------

module "cadence" {
  source   = "./modules/scheduled_job"
  for_each = local.cadences

  job         = each.key
  schedule    = each.value.schedule
  time_zone   = each.value.time_zone
  description = each.value.description
  topic_id    = module.topic["cadence-tick"].id
  region      = var.region

  depends_on = [google_project_service.api]
}
