#!/usr/bin/env bash
# Set the dead-letter policy on the Pub/Sub subscription behind a function's Eventarc
# trigger (terraform cannot reach that subscription). Run by terraform_data in main.tf
# with PROJECT, REGION, TRIGGER, DEAD_LETTER_TOPIC, MAX_DELIVERY_ATTEMPTS and
# PUBSUB_SERVICE_AGENT in the environment. Safe to run again: it sets, never adds.
set -euo pipefail

subscription=$(gcloud eventarc triggers describe "$TRIGGER" --project "$PROJECT" --location "$REGION" \
  --format 'value(transport.pubsub.subscription)')
if [[ -z "$subscription" ]]; then
  echo "trigger $TRIGGER has no Pub/Sub subscription yet" >&2
  exit 1
fi

gcloud pubsub subscriptions update "$subscription" --project "$PROJECT" \
  --dead-letter-topic "$DEAD_LETTER_TOPIC" \
  --max-delivery-attempts "$MAX_DELIVERY_ATTEMPTS" \
  --min-retry-delay 10s --max-retry-delay 600s

# Forwarding a message to the dead-letter topic means acknowledging it here, as the
# Pub/Sub service agent.
gcloud pubsub subscriptions add-iam-policy-binding "$subscription" --project "$PROJECT" \
  --member "serviceAccount:$PUBSUB_SERVICE_AGENT" --role roles/pubsub.subscriber >/dev/null

echo "dead-letter policy on $subscription: $DEAD_LETTER_TOPIC after $MAX_DELIVERY_ATTEMPTS attempts"
