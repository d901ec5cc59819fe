"""infra/ and the code, tied together both ways (the HCL parsed with python-hcl2).

Every entry point of main.py is deployed, with the trigger its signature calls for and the
topic the local pipeline wires it to, and nothing else is deployed; every topic has a
dead-letter topic and every Pub/Sub trigger dead-letters; every scheduled job names a job
on_cadence_tick knows; every query the store runs is served by an index, and no index
serves nothing.
"""

from __future__ import annotations

import ast
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml

from functions.ticks import JOBS
from shared import dev
from shared.book import parse_book
from shared.bootstrap import Context
from shared.cli import mailbox_rows
from shared.dashboard.app import page_data
from shared.demo import BOOK, EVENTS
from shared.outbox import relay
from shared.policy import load_policy
from shared.refused import REFUSED_TOPIC
from shared.replay import replay
from shared.sources import deel, salesforce, vitally
from shared.store import EmbeddedStore, Where

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"


def _unquote(value: Any) -> Any:
    """python-hcl2 keeps string literals quoted; expressions stay ``${...}``."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    if isinstance(value, list):
        return [_unquote(v) for v in value]
    if isinstance(value, dict):
        return {
            _unquote(k): _unquote(v) for k, v in value.items() if k not in ("__comments__", "__is_block__")
        }
    return value


def _load(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return dict(_unquote(hcl2.load(handle)))


def _resources(doc: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for block in doc.get("resource", []):
        for rtype, named in block.items():
            if rtype == kind:
                found.update(named)
    return found


def _locals(doc: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for block in doc["locals"]:
        merged.update(block)
    return merged


ROOT_TF = _load(INFRA / "main.tf")
LOCALS = _locals(ROOT_TF)
FUNCTIONS: dict[str, dict[str, Any]] = LOCALS["functions"]


def local_value(value: Any) -> Any:
    """``${local.NAME}`` resolved to that local's value; anything else as it is."""
    if isinstance(value, str) and value.startswith("${local.") and value.endswith("}"):
        return LOCALS[value[len("${local.") : -1]]
    return value


def _entry_points() -> dict[str, str]:
    """main.py's functions by name, with their framework signature (http / cloud_event)."""
    tree = ast.parse((ROOT / "main.py").read_text(encoding="utf-8"))
    out = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                if isinstance(decorator, ast.Attribute) and decorator.attr in ("http", "cloud_event"):
                    out[node.name] = decorator.attr
    return out


def test_every_entry_point_is_deployed_and_nothing_else_is() -> None:
    entry_points = _entry_points()
    assert len(entry_points) == 11
    assert set(FUNCTIONS) == set(entry_points)


def test_http_functions_have_no_trigger_and_event_functions_their_topic() -> None:
    consumers = {function: topic for topic, function in dev.PUSH.items()}
    for name, signature in _entry_points().items():
        spec = FUNCTIONS[name]
        if signature == "http":
            assert spec["trigger"] is None, name
            assert spec["public"] is True, f"{name}: a vendor must reach it"
        else:
            assert spec["trigger"] == consumers[name], name
            assert spec["public"] is False, f"{name}: only its trigger may call it"


def test_the_function_module_deploys_entry_point_and_retrying_pubsub_trigger() -> None:
    module = _load(INFRA / "modules" / "function" / "main.tf")
    function = _resources(module, "google_cloudfunctions2_function")["function"]
    assert function["build_config"][0]["entry_point"] == "${var.entry_point}"
    trigger = function["dynamic"][0]["event_trigger"]["content"][0]
    assert trigger["event_type"] == "google.cloud.pubsub.topic.v1.messagePublished"
    assert trigger["retry_policy"] == "RETRY_POLICY_RETRY"
    assert trigger["pubsub_topic"] == "${event_trigger.value}"
    # Every trigger's subscription gets the dead-letter policy, from the variable.
    dead_letter = _resources(module, "terraform_data")["dead_letter_policy"]
    assert dead_letter["count"] == "${local.triggered ? 1 : 0}"
    env = dead_letter["provisioner"][0]["local-exec"]["environment"]
    assert env["MAX_DELIVERY_ATTEMPTS"] == "${tostring(var.max_delivery_attempts)}"
    assert env["DEAD_LETTER_TOPIC"] == "${var.dead_letter_topic_id}"
    calls = _root_module("function")
    assert calls["dead_letter_topic_id"] == (
        "${each.value.trigger == null ? null : module.topic[each.value.trigger].dead_letter_id}"
    )
    assert calls["max_delivery_attempts"] == "${var.max_delivery_attempts}"


def _root_module(name: str) -> dict[str, Any]:
    for block in ROOT_TF["module"]:
        if name in block:
            return dict(block[name])
    raise AssertionError(f"no module {name!r} in infra/main.tf")


def test_each_function_publishes_exactly_to_the_topics_its_code_publishes_to() -> None:
    webhooks = {
        "deel_webhook": [deel.PTO_TOPIC, REFUSED_TOPIC],
        "salesforce_webhook": [salesforce.RENEWAL_TOPIC, REFUSED_TOPIC],
        "vitally_webhook": [vitally.HEALTH_TOPIC, REFUSED_TOPIC],
    }
    for name, spec in FUNCTIONS.items():
        if name in webhooks:
            assert spec["publishes"] == webhooks[name], name
        elif name in ("deliver_action", "keep_refused"):
            assert spec["publishes"] == [], f"{name} publishes nothing"
        else:
            assert spec["publishes"] == ["actions"], f"{name} publishes its new actions"


def test_every_topic_of_the_code_exists_with_a_dead_letter_topic() -> None:
    used = set(dev.PUSH) | {deel.PTO_TOPIC, salesforce.RENEWAL_TOPIC, vitally.HEALTH_TOPIC}
    assert set(LOCALS["topics"]) == used
    topic = _load(INFRA / "modules" / "topic" / "main.tf")
    topics = _resources(topic, "google_pubsub_topic")
    assert topics["dead_letter"]["name"] == "${var.name}-dead-letter"
    assert _resources(topic, "google_pubsub_topic_iam_member")["dead_letter_publisher"]["member"] == (
        "serviceAccount:${var.pubsub_service_agent}"
    )
    assert _root_module("topic")["for_each"] == "${toset(local.topics)}"


def test_secrets_and_variables_terraform_sets_are_ones_the_code_reads() -> None:
    code = "".join(
        p.read_text(encoding="utf-8") for p in [*ROOT.glob("shared/**/*.py"), *ROOT.glob("functions/*.py")]
    )
    read = set(re.findall(r"TAOPS_[A-Z_]+", code))
    secrets = set(LOCALS["secrets"])
    for name, spec in FUNCTIONS.items():
        for variable, secret in spec["secret_env"].items():
            assert variable in read, f"{name}: nothing reads {variable}"
            assert secret in secrets, f"{name}: {secret} is not a declared secret"
        files = local_value(spec["files"])
        for variable in [*spec["env"], *files]:
            assert variable in read, f"{name}: nothing reads {variable}"
        for mounted in files.values():
            assert mounted["secret"] in secrets, f"{name}: {mounted['secret']} is not a declared secret"
    for variable in LOCALS["common_env"]:
        assert variable in read or variable in {"GOOGLE_CLOUD_PROJECT", "LOG_EXECUTION_ID"}


def test_scheduled_jobs_are_the_enabled_cadences_and_each_is_a_job_the_tick_handler_knows() -> None:
    assert LOCALS["cadences"] == "${{for c in local.policy.cadences : c.job => c if try(c.enabled, true)}}"
    assert LOCALS["policy"] == "${yamldecode(file(var.policy_file))}"
    variables = _load(INFRA / "variables.tf")
    policy_file = next(v["policy_file"] for v in variables["variable"] if "policy_file" in v)
    assert (INFRA / policy_file["default"]).resolve() == (ROOT / "shared" / "default_policy.yaml")
    scheduled = [c.job for c in load_policy().cadences if c.enabled]
    assert scheduled, "nothing would be scheduled"
    assert set(scheduled) <= set(JOBS), f"no reaction for {sorted(set(scheduled) - set(JOBS))}"
    # And the other way: a job the tick handler knows but nothing schedules is dead code.
    assert set(JOBS) <= set(scheduled)
    job = _load(INFRA / "modules" / "scheduled_job" / "main.tf")
    target = _resources(job, "google_cloud_scheduler_job")["job"]["pubsub_target"][0]
    assert target["data"] == '${base64encode(jsonencode({"job": var.job}))}' or "var.job" in target["data"]
    assert _root_module("cadence")["topic_id"] == '${module.topic["cadence-tick"].id}'


def _query_shapes() -> set[tuple[str, tuple[tuple[str, str], ...], bool]]:
    """Every query shape the code runs: the demo's weeks through every handler with the
    scheduler simulated (SLA timers fire, routing reads absences), the outbox relay,
    ``taops outbox --failed``, ``taops mailbox`` and every page of the dashboard."""
    policy = load_policy()
    store = EmbeddedStore()
    book = parse_book(json.loads(BOOK.read_text(encoding="utf-8")), str(BOOK))
    lines = EVENTS.read_text(encoding="utf-8").splitlines()
    replay(lines, book, policy, store=store, scheduler=True, until=datetime(2027, 1, 31, tzinfo=UTC))
    relay(store, datetime(2027, 1, 1, tzinfo=UTC), lambda *_: "message-id")
    store.query("outbox", Where("status", "==", "failed"))
    mailbox_rows(store, policy, datetime(2027, 1, 1, tzinfo=UTC))
    for name in ("today", "out", "accounts", "actions"):
        page_data(name, Context(store, policy), datetime(2026, 12, 10, tzinfo=UTC))
    return store.query_shapes


def _needs_composite(filters: tuple[tuple[str, str], ...]) -> bool:
    fields = {f for f, _ in filters}
    return len(fields) > 1 and any(op not in ("==", "in") for _, op in filters)


def test_every_query_the_store_runs_has_its_index_and_every_index_a_query() -> None:
    shapes = _query_shapes()
    by_collection = {c for c, _, _ in shapes}
    # the scenario reached them all
    assert {"accounts", "outbox", "absences", "people", "timers", "mail_threads"} <= by_collection
    needed = set()
    for collection, filters, _ in shapes:
        if _needs_composite(filters):
            equality = sorted(f for f, op in filters if op in ("==", "in"))
            ranged = [f for f, op in filters if op not in ("==", "in")]
            needed.add((collection, tuple(equality + ranged)))
    declared = {
        (index["collection"], tuple(f["field_path"] for f in index["fields"]))
        for index in _resources(ROOT_TF, "google_firestore_index").values()
    }
    assert needed, "the relay's due query needs a composite index"
    assert declared == needed
    # A field exempted from single-field indexing (the TTL field) must never be queried.
    exempt = {
        (field["collection"], field["field"])
        for field in _resources(ROOT_TF, "google_firestore_field").values()
        if field.get("index_config") == [{}]
    }
    queried = {(c, f) for c, filters, _ in shapes for f, _ in filters}
    assert exempt and not exempt & queried


@pytest.mark.parametrize("path", sorted(str(p.relative_to(ROOT)) for p in INFRA.rglob("*.tf")))
def test_every_terraform_file_parses(path: str) -> None:
    assert _load(ROOT / path)


def test_the_tfvars_example_sets_every_required_variable_and_only_declared_ones() -> None:
    declared = {
        name: spec for block in _load(INFRA / "variables.tf")["variable"] for name, spec in block.items()
    }
    for name, spec in declared.items():
        assert spec.get("description"), f"variable {name} has no description"
        assert "type" in spec, f"variable {name} has no type"
    example = _load(INFRA / "terraform.tfvars.example")
    assert set(example) <= set(declared)
    assert {n for n, s in declared.items() if "default" not in s} <= set(example)


def test_cloud_build_runs_the_ci_checks_then_plans_and_applies_only_when_asked() -> None:
    build = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text(encoding="utf-8"))
    steps = {step["id"]: " ".join(step.get("args", [])) for step in build["steps"]}
    assert list(steps) == ["checks", "terraform-binary", "plan", "apply", "smoke"]
    assert "bash .ci/run" in steps["checks"]
    assert "init -backend-config" in steps["plan"] and "plan -out=tfplan" in steps["plan"]
    assert '"$_APPLY" != "true"' in steps["apply"] and "apply tfplan" in steps["apply"]
    assert '"401"' in steps["smoke"] and "webhook_urls" in steps["smoke"]
    assert build["substitutions"]["_APPLY"] == "false"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for target in ("make lint", "make typecheck", "make test", "make package", "make infra-check"):
        assert target in ci


def test_deliver_actions_timeout_lets_a_whole_delivery_run_end_and_be_recorded() -> None:
    """A run killed by its function's timeout would leave the action ``sending`` until the
    lease ran out; the default policy's run, with time to record it, fits the timeout."""
    from shared.policy import Delivery, load_policy

    rules = load_policy().delivery
    timeout = int(FUNCTIONS["deliver_action"]["timeout"])
    assert rules.run_seconds + Delivery.RECORD_SECONDS <= timeout
    assert rules.run_seconds + Delivery.RECORD_SECONDS <= rules.lease_seconds
