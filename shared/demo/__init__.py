"""``taops demo``: a bundled book of business and several weeks of vendor-shaped events,
replayed through the real handlers on the embedded store with a simulated clock, Cloud
Scheduler simulated (so the pooled mailbox's SLA timers fire) and dry-run delivery,
printed as a timeline a TA manager can read."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from shared.book import parse_book
from shared.models import utc_text
from shared.policy import Policy
from shared.replay import ReplayResult, Step, replay
from shared.store import EmbeddedStore

HERE = Path(__file__).parent
BOOK = HERE / "book.json"
EVENTS = HERE / "events.jsonl"
STYLE = {"deel": "magenta", "salesforce": "blue", "vitally": "green", "gmail": "yellow", "tick": "cyan"}
# The simulated clock runs on past the last event, so the ladder can climb to its top.
UNTIL = datetime(2026, 12, 23, tzinfo=UTC)


# A scheduled tick can owe many people something (a digest each, a reminder per stale
# account): the timeline shows the first few of each and counts the rest.
SHOWN = 4


def _more(items: list[dict[str, str]]) -> str:
    kinds = Counter(a["kind"] for a in items)
    return ", ".join(f"{kind} ×{n}" for kind, n in sorted(kinds.items()))


def _print_step(console: Console, step: Step) -> None:
    line = step.line
    if line.source == "tick" and not step.actions and not step.delivered and line.number == 0:
        return  # a scheduled tick that found nothing worth telling
    colour = STYLE.get(line.source, "white")
    console.print(f"[bold]{utc_text(line.at)}[/]  [{colour}]{line.source:<10}[/] {step.outcome}")
    scheduled = line.source == "tick" and line.number == 0
    notes = step.notes[: SHOWN + 1] if scheduled else step.notes
    for note in notes:
        console.print(f"    [dim]why:[/] {note}")
    if len(notes) < len(step.notes):
        console.print(f"    [dim]why: … and {len(step.notes) - len(notes)} more[/]")
    actions = step.actions[:SHOWN] if scheduled else step.actions
    for action in actions:
        who = ", ".join(action["recipients"]) or action.get("channel") or "-"
        when = f" [dim](not before {action['not_before']})[/]" if action.get("not_before") else ""
        console.print(f"    [bold]→ {action['kind']}[/] to {who}{when}: {action['reason']}")
    if len(actions) < len(step.actions):
        console.print(f"    [bold]→ … and {_more(step.actions[len(actions) :])}[/]")
    if len(step.delivered) > SHOWN:
        console.print(f"    [dim]✓ delivered (dry run): {_more(step.delivered)}[/]")
        return
    for action in step.delivered:
        who = ", ".join(action["recipients"]) or action.get("channel") or "-"
        console.print(f"    [dim]✓ delivered (dry run): {action['kind']} to {who}[/]")


def run(policy: Policy, console: Console | None = None, store: EmbeddedStore | None = None) -> ReplayResult:
    """Replay the bundled scenario, printing each step as it happens, then a summary;
    ``store`` (empty) keeps the end state (``taops demo --serve`` shows it)."""
    out = console or Console(highlight=False)
    book = parse_book(json.loads(BOOK.read_text(encoding="utf-8")), str(BOOK))
    out.print(
        f"[bold]taops demo[/]: {len(book.people)} people, {len(book.accounts)} accounts; "
        "vendor events replayed on a simulated clock, delivery in dry run.\n"
    )
    with EVENTS.open(encoding="utf-8") as lines:
        result = replay(
            lines,
            book,
            policy,
            on_step=lambda step: _print_step(out, step),
            scheduler=True,
            until=UNTIL,
            store=store,
        )
    kinds = Counter(a["kind"] for a in result.actions)
    statuses = Counter(a["status"] for a in result.actions)
    table = Table(title="Summary")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("events replayed", str(len(result.steps)))
    for kind, count in sorted(kinds.items()):
        table.add_row(f"actions: {kind}", str(count))
    for status, count in sorted(statuses.items()):
        table.add_row(f"actions {status}", str(count))
    plans = result.state.get("coverage_plans", {})
    for plan in plans.values():
        covered = ", ".join(f"{i['account_id']}→{i['cover'].split('@')[0]}" for i in plan["items"]) or "none"
        table.add_row(f"plan {plan['absence_id']} ({plan['status']})", covered)
    table.add_row("health category changes", str(len(result.state.get("health_changes", {}))))
    accounts = result.state.get("accounts", {}).values()
    entered = sorted(
        f"{a['id']} ({a['lighthouse_entered_at'][:10]})" for a in accounts if a.get("lighthouse_entered_at")
    )
    table.add_row("entered Lighthouse", ", ".join(entered) or "none")
    live = [a for a in result.actions if a["status"] != "cancelled"]
    cadences = Counter(a["cadence"] for a in live if a.get("cadence"))
    started = {a["account_id"] for a in result.actions if a.get("cadence") == "renewal"}
    table.add_row("renewal processes started", str(len(started)))
    for cadence, label in (
        ("health-traits", "health-trait tasks"),
        ("mbr", "MBR reminders"),
        ("qbr", "QBR reminders"),
        ("contact", "contact reminders"),
        ("digest", "Monday digests"),
        ("seats", "seat alerts (AE and TA)"),
        ("call-offer", "call offers"),
        ("recap", "usage recaps"),
    ):
        table.add_row(label, str(cadences.get(cadence, 0)))
    threads = result.state.get("mail_threads", {}).values()
    table.add_row("mailbox threads waiting for the team", str(sum(1 for t in threads if t.get("waiting"))))
    steps = Counter(
        a["sla_level"] for a in result.actions if a.get("cadence") == "sla" and a["status"] != "cancelled"
    )
    ladder = ", ".join(
        f"{'reminder' if level == 0 else f'step {level}'}: {n}" for level, n in sorted(steps.items())
    )
    table.add_row("pooled-mailbox SLA messages", ladder or "none")
    out.print()
    out.print(table)
    return result
