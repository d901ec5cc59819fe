"""Least privilege in infra/, to the letter (issue 15, item 9), read from the HCL:

- a vendor webhook holds no database role: it publishes to its topic and to
  ``refused-input``, and ``keep_refused`` stores what it refused;
- Firestore's role is granted per function, only where state is read or written, and no
  role is granted on the project otherwise (publishing is granted per topic);
- only functions that create actions may publish to ``actions``;
- the Google key that can send mail and change autoresponders is mounted in
  ``deliver_action`` alone; reading the pooled mailbox has its own gmail.metadata key,
  and the code picks each key by the scopes it asks for.

Each test fails if infra/ grants one more thing than these say.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from shared import clients
from shared.dev import HTTP, PUSH
from shared.refused import REFUSED_TOPIC, TOPIC_ENV
from shared.sources.gmail import CALENDAR_WRITE_SCOPES, DELIVERY_SCOPES, SCOPES
from tests.functional.test_infra import (
    FUNCTIONS,
    INFRA,
    LOCALS,
    ROOT,
    _load,
    _resources,
    _root_module,
    local_value,
)

WEBHOOKS = set(HTTP)  # the vendor webhooks: deel, salesforce, vitally
# The functions whose events go through the dispatcher and may create actions, and the
# dashboard, whose cancel and retry are such events. deliver_action creates none but the
# alert about its own configuration, left to outbox-relay; keep_refused creates none.
ACTION_CREATORS = {
    "on_pto_logged",
    "on_renewal_changed",
    "on_health_changed",
    "on_group_mail",
    "on_cadence_tick",
    "dashboard",
}
SEND_KEY = "taops-google-sa-key"
METADATA_KEY = "taops-gmail-metadata-key"


def _all_tf() -> dict[Path, dict[str, Any]]:
    return {path: _load(path) for path in sorted(INFRA.rglob("*.tf"))}


def test_the_webhooks_are_the_vendor_entry_points() -> None:
    assert {"deel_webhook", "salesforce_webhook", "vitally_webhook"} == WEBHOOKS
    assert set(FUNCTIONS) >= WEBHOOKS


def test_no_webhook_holds_a_database_role_and_the_rest_say_why_they_need_one() -> None:
    for name, spec in FUNCTIONS.items():
        assert isinstance(spec["firestore"], bool), f"{name}: firestore must be stated, true or false"
        if name in WEBHOOKS:
            assert spec["firestore"] is False, f"{name}: a webhook publishes, it never writes Firestore"
        else:
            assert spec["firestore"] is True, f"{name}: keeps state in Firestore"
    assert _root_module("function")["firestore"] == "${each.value.firestore}"


def test_the_only_project_wide_grant_is_firestore_and_only_when_asked() -> None:
    project_grants = {}
    for path, doc in _all_tf().items():
        for kind in (
            "google_project_iam_member",
            "google_project_iam_binding",
            "google_project_iam_policy",
        ):
            for name, resource in _resources(doc, kind).items():
                project_grants[(path.relative_to(INFRA).as_posix(), kind, name)] = resource
    assert set(project_grants) == {
        ("modules/function/main.tf", "google_project_iam_member", "firestore_user")
    }
    grant = project_grants[("modules/function/main.tf", "google_project_iam_member", "firestore_user")]
    assert grant["role"] == "roles/datastore.user"
    assert grant["count"] == "${var.firestore ? 1 : 0}"
    variables = {
        name: spec
        for block in _load(INFRA / "modules" / "function" / "variables.tf")["variable"]
        for name, spec in block.items()
    }
    assert variables["firestore"]["default"] is False, "no database unless a function asks"


def test_publishing_is_granted_per_topic_for_the_topics_a_function_names() -> None:
    module = _load(INFRA / "modules" / "function" / "main.tf")
    publisher = _resources(module, "google_pubsub_topic_iam_member")
    assert set(publisher) == {"publisher"}
    assert publisher["publisher"]["for_each"] == "${toset(var.publishes_to)}"
    assert publisher["publisher"]["topic"] == "${each.value}"
    assert (
        _root_module("function")["publishes_to"] == "${[for t in each.value.publishes : module.topic[t].id]}"
    )
    # Outside the module, a topic binding goes to Google's own agents only, never a function.
    for path, doc in _all_tf().items():
        if path == INFRA / "modules" / "function" / "main.tf":
            continue
        for name, binding in _resources(doc, "google_pubsub_topic_iam_member").items():
            assert "function" not in binding["member"], f"{path.name}: {name}"


def test_a_webhook_publishes_only_its_topic_and_what_it_refuses() -> None:
    consumers = {topic: function for topic, function in PUSH.items()}
    assert consumers[REFUSED_TOPIC] == "keep_refused"
    assert REFUSED_TOPIC in LOCALS["topics"]
    for name in WEBHOOKS:
        spec = FUNCTIONS[name]
        assert len(spec["publishes"]) == 2 and spec["publishes"][1] == REFUSED_TOPIC, name
        assert spec["env"][TOPIC_ENV] == REFUSED_TOPIC, f"{name}: refusals go to {REFUSED_TOPIC}"
    keeper = FUNCTIONS["keep_refused"]
    assert keeper["trigger"] == REFUSED_TOPIC and keeper["public"] is False
    assert keeper["publishes"] == [] and keeper["secret_env"] == {} and keeper["files"] == {}


def test_only_functions_that_create_actions_may_publish_to_actions() -> None:
    publishers = {name for name, spec in FUNCTIONS.items() if "actions" in spec["publishes"]}
    assert publishers == ACTION_CREATORS
    # The others never try: an action they might create (an alert) waits for the relay.
    for name, spec in FUNCTIONS.items():
        if name not in ACTION_CREATORS and spec["trigger"] is not None:
            assert spec["env"].get("TAOPS_PUBLISH_ACTIONS") == "0", name


def test_webhook_code_neither_dispatches_nor_touches_the_outbox() -> None:
    """What a webhook module imports: an edge verifies, normalises and publishes."""
    for module in ("webhooks", "deel", "salesforce", "vitally"):
        tree = ast.parse((ROOT / "functions" / f"{module}.py").read_text(encoding="utf-8"))
        imported = {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)} | {
            alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
        }
        assert not {
            m for m in imported if m.startswith(("shared.dispatch", "shared.outbox", "shared.handlers"))
        }, module


def _mounted(name: str) -> set[str]:
    files = local_value(FUNCTIONS[name]["files"])
    return {mount["secret"] for mount in files.values()}


def test_the_key_that_can_send_mail_is_mounted_in_deliver_action_alone() -> None:
    holders = {name for name in FUNCTIONS if SEND_KEY in _mounted(name)}
    assert holders == {"deliver_action"}
    assert not any(SEND_KEY in spec["secret_env"].values() for spec in FUNCTIONS.values())


def test_the_mailbox_is_read_with_its_own_metadata_key() -> None:
    holders = {name for name in FUNCTIONS if METADATA_KEY in _mounted(name)}
    # on_group_mail reads the mailbox; on_cadence_tick's gmail-watch renews users.watch.
    assert holders == {"on_group_mail", "on_cadence_tick"}
    for name in holders:
        files = local_value(FUNCTIONS[name]["files"])
        assert set(files) == {clients.GMAIL_METADATA_KEY}, name
        assert files[clients.GMAIL_METADATA_KEY]["secret"] == METADATA_KEY
    delivery = local_value(FUNCTIONS["deliver_action"]["files"])
    assert set(delivery) == {clients.GOOGLE_DELIVERY_KEY}
    assert delivery[clients.GOOGLE_DELIVERY_KEY]["secret"] == SEND_KEY
    assert "gmail.metadata" in LOCALS["secrets"][METADATA_KEY]


def test_the_code_reads_each_key_for_its_own_scopes() -> None:
    assert clients.google_key_variable(SCOPES) == clients.GMAIL_METADATA_KEY
    assert set(SCOPES) == clients.METADATA_SCOPES
    assert clients.google_key_variable(DELIVERY_SCOPES) == clients.GOOGLE_DELIVERY_KEY
    assert clients.google_key_variable(CALENDAR_WRITE_SCOPES) == clients.GOOGLE_DELIVERY_KEY
    # Asking for metadata and anything more is never served by the metadata key.
    assert clients.google_key_variable([*SCOPES, DELIVERY_SCOPES[0]]) == clients.GOOGLE_DELIVERY_KEY
