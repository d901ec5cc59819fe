"""The composition root (after Cosmic Python's ``bootstrap``): what the dispatcher and the
jobs need, wired once per entry point. ``cloud()`` wires the real adapters (the configured
store, Pub/Sub, the Gmail API); replay and the demo wire the embedded store, no
publisher and a Gmail that only records what it would have done.

Handlers never see any of this: they get a read view and return a decision. The context
is for what happens around them: publishing after the commit, syncing a mailbox,
renewing a watch, alerting the operators.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from shared.models import Action
from shared.policy import Policy
from shared.store import Store


class Mailbox(Protocol):
    """The Gmail calls taops makes for the pooled mailbox (``shared.sources.gmail.GmailApi``)."""

    def added_since(self, user: str, start_history_id: int) -> tuple[list[str], int]: ...

    def recent(self, user: str, days: int) -> list[str]: ...

    def metadata(self, user: str, message_id: str) -> dict[str, Any] | None: ...

    def watch(self, user: str, topic: str, label_ids: list[str] | None = None) -> dict[str, Any]: ...


class VitallyAccounts(Protocol):
    """Vitally's account listing, a page a call (``shared.sources.vitally_sync.RestAccounts``)."""

    def page(self, cursor: str | None, limit: int) -> dict[str, Any]: ...


Publisher = Callable[[bytes, dict[str, str]], str]


@dataclass
class Context:
    store: Store
    policy: Policy
    # Publishes an action to the ``actions`` topic; None keeps actions in the outbox (the
    # relay, or replay's own delivery, carries them out).
    publisher: Publisher | None = None
    gmail: Callable[[str], Mailbox] | None = None
    # Told of every action a commit created, after the commit (replay delivers them).
    on_actions: Callable[[list[Action], datetime], None] | None = None
    function: str = "taops"
    # After a commit, publish the new actions already due (deployed); replay hands them to
    # its own delivery instead (``on_actions``) and leaves the publisher to the relay job.
    publish_after_commit: bool = True
    # Vitally's account listing for the vitally-sync job (replay's records instead of calling).
    vitally: Callable[[], VitallyAccounts] | None = None

    def publish(self, actions: list[Action], now: datetime) -> int:
        """After the commit: publish the new actions already due (the relay does the rest)."""
        count = 0
        if self.publisher is not None and self.publish_after_commit and actions:
            from shared import outbox

            docs = [(a.id, {**a.model_dump(mode="json"), "status": "pending"}) for a in actions]
            count = outbox.publish(self.store, docs, now, self.publisher)
        if self.on_actions is not None and actions:
            self.on_actions(actions, now)
        return count

    def mailbox(self, address: str) -> Mailbox:
        if self.gmail is None:
            from shared.exceptions import ConfigurationError

            raise ConfigurationError("gmail-credentials", "no Gmail connection is configured")
        return self.gmail(address)

    def vitally_accounts(self) -> VitallyAccounts:
        if self.vitally is None:
            from shared.exceptions import ConfigurationError

            raise ConfigurationError("vitally-credentials", "no Vitally connection is configured")
        return self.vitally()


def cloud(function: str) -> Context:
    """The deployed wiring: ``TAOPS_STORE``, the policy, Pub/Sub (unless
    ``TAOPS_PUBLISH_ACTIONS=0``) and the Gmail API with per-mailbox credentials."""
    from shared import clients
    from shared.outbox import publishing_enabled, pubsub_publisher
    from shared.policy import load_policy
    from shared.sources.gmail import GmailApi, access_token

    def gmail(address: str) -> Mailbox:
        return GmailApi(clients.http(), access_token(address))

    def vitally() -> VitallyAccounts:
        from shared.sources.vitally_sync import RestAccounts

        return RestAccounts.configured(clients.http())

    return Context(
        store=clients.store(),
        policy=load_policy(),
        publisher=pubsub_publisher if publishing_enabled() else None,
        gmail=gmail,
        vitally=vitally,
        function=function,
    )
