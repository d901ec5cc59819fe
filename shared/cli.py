"""``taops``: the command line for TA managers and the engineers who run taops.

Verbs: ``demo``, ``replay``, ``dev``, ``dashboard`` (the operations view on this machine),
``show`` (a coverage plan, an account), ``dead-letters`` (what was refused, and re-running
it), ``views rebuild``, ``import`` (a book of business into a store),
``schema`` (the book's JSON Schema), ``policy check`` (validate a policy file), ``gmail
watch`` (renew the pooled mailbox's push), ``outbox`` (what taops did or will do),
``mailbox`` (the pooled mailbox's waiting threads), ``sync vitally`` (the book from
Vitally's accounts), ``cadences`` (what each cadence job would do at a moment), ``sign``.
Exit 0 on success, 1 when the input is invalid (each problem on its own line, naming the
field), 2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from shared.exceptions import BookError, PolicyError, StoreError
from shared.models import utc_text

DEFAULT_SCHEMA_PATH = Path("docs/book.schema.json")


def _schema_text() -> str:
    from shared.book import book_schema

    return json.dumps(book_schema(), indent=2, sort_keys=True) + "\n"


def cmd_import(args: argparse.Namespace) -> int:
    from shared import clock
    from shared.book import PruneRefusedError, load_book, run_import
    from shared.policy import load_policy
    from shared.store import open_store

    policy = load_policy(args.policy)
    book = load_book(args.book)  # validates everything before the store is even opened
    store = open_store(args.store)
    try:
        report = run_import(
            store, book, policy, now=clock.now(), force=args.force, prune=args.prune, dry_run=args.dry_run
        )
    except PruneRefusedError as exc:
        print(f"taops import: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    for problem in report.blockers:  # only a dry run gets this far with blockers
        print(f"taops import: --prune would be refused: {problem}", file=sys.stderr)
    failed = 1 if report.blockers else 0
    if args.json:
        print(json.dumps({"book": args.book, **report.to_json()}, sort_keys=True))
        return failed
    print("\n".join(report.lines()))
    kept = f"; {len(report.kept)} field(s) kept because another source owns them" if report.kept else ""
    if args.dry_run:
        print(f"dry run: nothing written to the store{kept}")
        return failed
    forced = f"; --force overwrote {len(report.forced)} field(s) other sources own" if report.forced else ""
    print(
        f"imported {len(book.people)} people and {len(book.accounts)} accounts from {args.book}{kept}{forced}"
    )
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    text = _schema_text()
    out = Path(args.out)
    if args.check:
        if not out.exists() or out.read_text(encoding="utf-8") != text:
            print(f"{out} is out of date: run `taops schema --write`", file=sys.stderr)
            return 1
        print(f"{out} is current")
        return 0
    if args.write:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        print(f"wrote {out}")
        return 0
    sys.stdout.write(text)
    return 0


def cmd_policy_check(args: argparse.Namespace) -> int:
    from shared.policy import load_policy, policy_path

    policy = load_policy(args.file)
    print(
        f"{policy_path(args.file)} is valid: {len(policy.cadences)} cadences, "
        f"{len(policy.segmentation.tiers)} segmentation tiers"
    )
    return 0


def cmd_gmail_watch(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from shared import clients, pubsub
    from shared.exceptions import TransientError
    from shared.policy import load_policy
    from shared.sources.gmail import GmailApi, access_token

    mailbox = args.mailbox or load_policy(args.policy).group_mail.address
    topic = pubsub.topic_path("gmail-push")
    try:
        answer = GmailApi(clients.http(), access_token(mailbox)).watch(mailbox, topic)
    except TransientError as exc:
        print(f"taops gmail watch: {exc}", file=sys.stderr)
        return 1
    expires = datetime.fromtimestamp(int(answer.get("expiration", 0)) / 1000, UTC).isoformat()
    print(f"watching {mailbox} into {topic} from history {answer.get('historyId')}; expires {expires}")
    return 0


def outbox_line(action_id: str, doc: dict[str, Any]) -> str:
    """One action of the outbox as two lines a person reads: what, to whom, its state, and why."""
    recipients = ", ".join(doc.get("recipients") or []) or str(doc.get("channel") or "-")
    line = f"{action_id}  {doc.get('status'):<10} {doc.get('kind'):<15} {recipients}"
    if doc.get("status") == "pending" and doc.get("not_before"):
        line += f"  held until {doc['not_before']}"
    if doc.get("cadence"):
        line += f"  [{doc['cadence']} {doc.get('period') or ''}]".rstrip()
    if doc.get("last_error"):
        line += f"  last error: {doc['last_error']}"
    if doc.get("cancelled_by"):
        line += f"  cancelled by {doc['cancelled_by']}: {doc.get('cancel_reason')}"
    if doc.get("skipped_reason"):
        line += f"  skipped: {doc['skipped_reason']}"
    subject = f"\n    subject: {doc['subject']}" if doc.get("subject") else ""
    return line + subject + f"\n    {doc.get('reason')}"


def cmd_outbox(args: argparse.Namespace) -> int:
    from shared.processing import OUTBOX
    from shared.store import Where, open_store

    store = open_store(args.store)
    try:
        status = "failed" if args.failed else "pending" if args.pending else None
        rows = store.query(OUTBOX, *([Where("status", "==", status)] if status else []))
    finally:
        store.close()
    # In time order (when it goes, else when it was decided), not by random id.
    rows = sorted(rows, key=lambda row: (str(row[1].get("not_before") or row[1].get("at") or ""), row[0]))
    if getattr(args, "json", False):
        print(json.dumps([{"id": i, **d} for i, d in rows], sort_keys=True))
        return 0
    for action_id, doc in rows:
        print(outbox_line(action_id, doc))
    print(f"{len(rows)} action(s)" + (f" {status}" if status else ""))
    if args.pending and rows:
        print("stop one before it goes: taops outbox cancel ID --by EMAIL --reason WHY")
    return 0


def cmd_outbox_cancel(args: argparse.Namespace) -> int:
    """A person stops a waiting action: through the dispatcher (logged, exactly once),
    recorded on the action with who and why."""
    from shared.bootstrap import Context
    from shared.decisions import cancel_event
    from shared.dispatch import dispatch
    from shared.policy import load_policy
    from shared.processing import OUTBOX, Outcome
    from shared.store import open_store

    now = _at(args)
    event = cancel_event(args.id, args.by, args.reason, now)
    store = open_store(args.store)
    try:
        result = dispatch(Context(store, load_policy(args.policy), function="cli"), event, now)
        after = store.get(OUTBOX, args.id) or {}
    finally:
        store.close()
    for note in (result.decision.notes if result.decision else []) or [result.reason]:
        print(note)
    return 0 if result.outcome is Outcome.APPLIED and after.get("status") == "cancelled" else 1


def _when(text: str | None, default: Any, option: str = "--at") -> Any:
    """``--at``/``--since``: an ISO-8601 instant, ``Nd`` (days before now), or ``default``."""
    from datetime import timedelta

    from shared import clock

    if not text:
        return default
    if text[:-1].isdigit() and text.endswith("d"):
        return clock.now() - timedelta(days=int(text[:-1]))
    try:
        return clock.instant(text)
    except ValueError:
        raise UsageError(
            f"{option} {text!r} is not an ISO-8601 time (e.g. 2026-12-01T09:00:00Z) or Nd (N days ago)"
        ) from None


def cmd_show(args: argparse.Namespace) -> int:
    from shared import clock
    from shared.dashboard import terminal
    from shared.policy import load_policy
    from shared.store import open_store

    now = _when(args.at, clock.now())
    store = open_store(args.store)
    try:
        if args.what == "plan":
            data = terminal.plan(store, args.id, now)
        else:
            data = terminal.account(store, load_policy(args.policy), args.id, now)
    except terminal.NotFoundError as exc:
        print(f"taops show {args.what}: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    if args.json:
        print(terminal.document_json(data))
    elif args.what == "plan":
        terminal.print_plan(data)
    else:
        terminal.print_account(data)
    return 0


def cmd_dead_letters(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from shared import clock
    from shared.bootstrap import Context
    from shared.dashboard import terminal
    from shared.dispatch import dispatch
    from shared.policy import load_policy
    from shared.store import open_store

    now = clock.now()
    store = open_store(args.store)
    try:
        if args.rerun:
            policy = load_policy(args.policy)
            ctx = Context(store, policy, function="taops-dead-letters")
            try:
                done = terminal.rerun(store, policy, args.rerun, now, lambda event: dispatch(ctx, event, now))
            except (terminal.NotFoundError, ValueError) as exc:
                print(f"taops dead-letters --rerun: {exc}", file=sys.stderr)
                return 1
            if args.json:
                print(terminal.document_json(done))
            for event in done["events"]:
                if not args.json:
                    why = f": {event['reason']}" if event["reason"] else ""
                    print(f"event {event['event_id']}: {event['outcome']}{why}")
            if not args.json:
                print("new actions wait in the outbox for the outbox-relay tick (taops outbox)")
            return 0 if all(e["outcome"] in ("applied", "duplicate") for e in done["events"]) else 1
        since = _when(args.since, now - timedelta(days=7), "--since")
        rows = terminal.dead_letters(store, since)
    finally:
        store.close()
    if args.json:
        print(terminal.document_json(rows))
    else:
        terminal.print_dead_letters(rows, since)
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    from shared import clock
    from shared.bootstrap import Context
    from shared.dashboard import serve
    from shared.dashboard.views import DIRECTORY, VIEWS, rebuild
    from shared.policy import load_policy
    from shared.store import EmbeddedStore, open_store

    at = clock.instant(args.at) if args.at else None
    store = open_store(args.store)
    ctx = Context(store, load_policy(args.policy), function="dashboard")
    if (
        isinstance(store, EmbeddedStore)
        and store.get(VIEWS, DIRECTORY) is None
        and store.query("people", limit=1)
    ):
        # A state written before the read models existed (an older --state-out file).
        built = rebuild(lambda collection: store.query(collection), at or clock.now())
        store.put_many((c, i, d) for c, i, d in built if d is not None)
        print(f"this state had no read models: built {len(built)} from it", flush=True)
    try:
        return serve.serve_forever(
            ctx,
            port=args.port,
            acting_as=args.as_,
            clock=(lambda: at) if at else clock.now,
            say=lambda text: print(text, flush=True),
        )
    finally:
        store.close()


def cmd_views_rebuild(args: argparse.Namespace) -> int:
    from shared import clock, outbox_index
    from shared.dashboard.views import BOARD, MAILBOX_WEEK_PREFIX, VIEWS, rebuild
    from shared.store import open_store

    now = _when(args.at, clock.now())
    store = open_store(args.store)
    try:
        built = rebuild(lambda collection: store.query(collection), now)
        indexed = outbox_index.rebuild(lambda collection: store.query(collection))
        kept = {(c, i) for c, i, _ in built}
        # The weekly mailbox figures stay: no state left holds the waits that ended.
        stale = [
            (c, i)
            for c in (VIEWS, BOARD)
            for i, _ in store.query(c)
            if (c, i) not in kept and not (c == VIEWS and i.startswith(MAILBOX_WEEK_PREFIX))
        ]
        store.put_many([*((c, i, d) for c, i, d in built if d is not None), *indexed])
        for start in range(0, len(stale), 400):

            def remove(tx: Any, chunk: list[tuple[str, str]] = stale[start : start + 400]) -> None:
                for collection, doc_id in chunk:
                    tx.delete(collection, doc_id)

            store.run_transaction(remove)
    finally:
        store.close()
    print(
        f"rebuilt {len(built)} view document(s) from the state as of {utc_text(now)}"
        + (f", removed {len(stale)} stale" if stale else "")
        + f"; the outbox index: {len(indexed)} owner(s)"
    )
    return 0


def cmd_lighthouse_exit(args: argparse.Namespace) -> int:
    """A person decides an account leaves Lighthouse: recorded through the dispatcher, so
    it is logged, exactly once, and kept with who decided and why."""

    from shared.bootstrap import Context
    from shared.decisions import lighthouse_exit_event
    from shared.dispatch import dispatch
    from shared.policy import load_policy
    from shared.processing import Outcome
    from shared.store import open_store

    now = _at(args)
    event = lighthouse_exit_event(args.account, args.by, args.note, now)
    store = open_store(args.store)
    try:
        result = dispatch(Context(store, load_policy(args.policy), function="cli"), event, now)
    finally:
        store.close()
    for note in (result.decision.notes if result.decision else []) or [result.reason]:
        print(note)
    return 0 if result.outcome is Outcome.APPLIED else 1


class UsageError(Exception):
    """A command line taops cannot act on: printed as one line, exit status 2."""


def _at(args: argparse.Namespace) -> datetime:
    """``--at`` as an aware instant (UTC when it names no zone), else now."""
    from shared import clock

    return _when(getattr(args, "at", None), None) or clock.now()


def _hours(value: float) -> str:
    sign = "-" if value < 0 else ""
    whole = abs(value)
    minutes = round(whole * 60)
    return f"{sign}{minutes // 60}h{minutes % 60:02d}"


def mailbox_rows(store: Any, policy: Any, now: Any) -> list[dict[str, Any]]:
    """The pooled mailbox's waiting threads, soonest deadline first, with their time left
    on the SLA clock (negative once breached) and the ladder step reached."""
    from shared.handlers import MAIL_THREADS
    from shared.rules.sla import time_left
    from shared.store import Where

    rows = []
    for _, thread in store.query(MAIL_THREADS, Where("waiting", "==", True)):
        left = time_left(thread, policy.group_mail, policy.calendar, now)
        level = thread.get("sla_level")
        rows.append(
            {
                "deadline_at": thread.get("deadline_at"),
                "time_left_hours": None if left is None else round(left, 2),
                "sla_level": level,
                "reached": "-" if level is None else ("reminder" if level == 0 else f"step {level}"),
                "next_sla_level": thread.get("next_sla_level"),
                "next_sla_at": thread.get("next_sla_at"),
                "subject": thread.get("subject"),
                "customer": thread.get("customer_address"),
                "account_id": thread.get("account_id"),
                "ta": thread.get("ta"),
                "thread_id": thread.get("thread_id"),
                "waiting_since": thread.get("waiting_since"),
            }
        )
    return sorted(rows, key=lambda r: (str(r["deadline_at"]), str(r["thread_id"])))


def cmd_mailbox(args: argparse.Namespace) -> int:

    from shared.policy import load_policy
    from shared.store import open_store

    policy = load_policy(args.policy)
    now = _at(args)
    store = open_store(args.store)
    try:
        rows = mailbox_rows(store, policy, now)
    finally:
        store.close()
    if args.json:
        print(json.dumps(rows, sort_keys=True))
        return 0
    unit = "hours" if policy.group_mail.sla_clock == "calendar" else "working hours"
    print(f"{'deadline (UTC)':<21} {'left':>8}  {'reached':<9} {'account':<12} {'TA':<22} subject / customer")
    for row in rows:
        left = "-" if row["time_left_hours"] is None else _hours(row["time_left_hours"])
        account, ta = row["account_id"] or "-", row["ta"] or "pooled team"
        print(
            f"{str(row['deadline_at'])[:16]:<21} {left:>8}  {row['reached']:<9} {account:<12} "
            f"{ta:<22} {row['subject']} / {row['customer']}"
        )
    breached = sum(1 for r in rows if (r["time_left_hours"] or 0) < 0)
    print(
        f"{len(rows)} thread(s) waiting for the team, {breached} past the "
        f"{policy.group_mail.sla_hours:g}-hour SLA ({policy.group_mail.sla_clock} clock; "
        f"time left in {unit})"
    )
    return 0


def cmd_sources(args: argparse.Namespace) -> int:
    from shared.policy import load_policy
    from shared.quiet import source_status
    from shared.store import open_store

    policy = load_policy(args.policy)
    now = _at(args)
    store = open_store(args.store)
    try:
        rows = source_status(store, policy, now)
    finally:
        store.close()
    if args.json:
        print(json.dumps([row.as_dict() for row in rows], sort_keys=True))
        return 0
    print(f"{'source':<12} {'last heard (UTC)':<21} {'limit':>7}  {'state':<6} why")
    for row in rows:
        limit = "-" if row.limit_hours is None else f"{row.limit_hours:g}h"
        state = "QUIET" if row.quiet else "ok"
        told = " (operators told)" if row.quiet and row.alerted == row.since else ""
        heard = str(row.last_heard or "-")[:19]
        print(f"{row.source:<12} {heard:<21} {limit:>7}  {state:<6} {row.reason}{told}")
    quiet = sum(row.quiet for row in rows)
    print(f"{len(rows)} source(s) watched, {quiet} quiet")
    return 0


def cmd_sync_vitally(args: argparse.Namespace) -> int:
    from shared import clients, clock
    from shared.bootstrap import Context
    from shared.dispatch import dispatch
    from shared.exceptions import ConfigurationError, PermanentError, TransientError
    from shared.logs import muted
    from shared.policy import load_policy
    from shared.sources import vitally_sync
    from shared.store import open_store

    policy = load_policy(args.policy)
    now = clock.now()
    store = open_store(args.store)
    try:
        source = vitally_sync.RestAccounts.configured(clients.http())
        ctx = Context(store=store, policy=policy, function="taops-sync")
        apply = None if args.dry_run else (lambda event: dispatch(ctx, event, now))
        with muted():
            report = vitally_sync.run(store, policy, source, now, apply=apply, resume=False)
    except (ConfigurationError, PermanentError, TransientError) as exc:
        print(f"taops sync vitally: {getattr(exc, 'reason', exc)}", file=sys.stderr)
        return 1
    finally:
        store.close()
    if args.json:
        print(json.dumps({**report.as_json(), "dry_run": args.dry_run}, sort_keys=True))
        return 0
    verb = "would change" if args.dry_run else "changed"
    for account in report.accounts:
        print(account.line())
    for line in [u.line() for u in report.unknown] + report.problems:
        print(line)
    summary = report.summary()
    done = (
        " (dry run: nothing written)"
        if args.dry_run
        else f"; {summary['events']} event(s) applied"
        + "".join(f", {summary[k]} {k[7:]}" for k in ("events_stale", "events_rejected") if k in summary)
    )
    print(
        f"{report.seen} Vitally account(s) on {report.pages} page(s): {report.changed} book account(s) "
        f"{verb}, {len(report.unknown)} not in the book{done}"
    )
    return 0


def cadence_report(store: Any, policy: Any, now: Any, jobs: list[str]) -> list[dict[str, Any]]:
    """What each of ``jobs`` would do at ``now``, decided on ``store`` and written nowhere:
    per job its schedule around ``now``, and per reaction owed whether it is already done
    or the actions it would create, with the notes that say why."""
    from datetime import timedelta

    from shared.cadences import preview
    from shared.processing import OUTBOX
    from shared.rules.cron import fire_times, previous_fire

    previews = preview(store, policy, now, jobs) if jobs else []
    report = []
    for job in jobs:
        scheduled = policy.cadence(job)
        entry: dict[str, Any] = {"job": job, "enabled": bool(scheduled and scheduled.enabled), "due": []}
        if scheduled is not None:
            last = previous_fire(scheduled.schedule, scheduled.time_zone, now)
            upcoming = fire_times(scheduled.schedule, scheduled.time_zone, now, now + timedelta(days=400))
            entry.update(
                schedule=scheduled.schedule,
                time_zone=scheduled.time_zone,
                last_tick=utc_text(last) if last else None,
                next_tick=utc_text(upcoming[0]) if upcoming else None,
            )
        for seen in (p for p in previews if p.due.job == job):
            due = seen.due
            row: dict[str, Any] = {
                "key": due.key,
                "subject": due.subject,
                "period": due.period,
                "done": seen.done,
                "actions": [],
                "notes": list(seen.decision.notes) if seen.decision else [],
            }
            for action in seen.decision.actions if seen.decision else []:
                stored = store.get(OUTBOX, action.id)
                extra = action.model_extra or {}
                row["actions"].append(
                    {
                        "kind": action.kind,
                        "recipients": action.recipients,
                        "channel": extra.get("channel") if not action.recipients else None,
                        "not_before": utc_text(action.not_before) if action.not_before else None,
                        "reason": action.reason,
                        "idempotency_key": action.idempotency_key,
                        "cadence": extra.get("cadence"),
                        "period": extra.get("period"),
                        "in_outbox": stored.get("status") if stored else None,
                    }
                )
            entry["due"].append(row)
        report.append(entry)
    return report


def _cadence_lines(entry: dict[str, Any]) -> list[str]:
    due = entry["due"]
    done = sum(1 for d in due if d["done"])
    head = f"{entry['job']}"
    if "schedule" in entry:
        head += f" ({entry['schedule']} {entry['time_zone']}"
        head += f"; last tick {entry['last_tick'] or 'none'}, next {entry['next_tick'] or 'none'})"
    if not entry["enabled"]:
        head += " [not enabled: no tick is scheduled]"
    head += f": {len(due)} due, {done} already done" if due else ": nothing due at this moment"
    lines = [head]
    for row in due:
        label = f"  {row['key']} (period {row['period']})"
        if row["done"]:
            lines.append(f"{label}: already done")
            continue
        lines.append(f"{label}: " + (f"{len(row['actions'])} action(s)" if row["actions"] else "no action"))
        for action in row["actions"]:
            who = ", ".join(action["recipients"]) or action["channel"] or "-"
            when = f", not before {action['not_before']}" if action["not_before"] else ", at once"
            kept = f" [already in the outbox: {action['in_outbox']}]" if action["in_outbox"] else ""
            lines.append(f"    -> {action['kind']} to {who}{when}{kept}")
            lines.append(f"       why: {action['reason']}")
        lines += [f"    note: {note}" for note in row["notes"]]
    return lines


def cmd_cadences(args: argparse.Namespace) -> int:
    from shared.cadences import MODULES
    from shared.policy import load_policy
    from shared.store import open_store

    policy = load_policy(args.policy)
    now = _at(args)
    if args.job and args.job not in MODULES:
        print(
            f"taops cadences: no cadence {args.job!r} (known: {', '.join(sorted(MODULES))})", file=sys.stderr
        )
        return 2
    enabled = [c.job for c in policy.cadences if c.enabled and c.job in MODULES]
    jobs = [args.job] if args.job else enabled
    store = open_store(args.store)
    try:
        report = cadence_report(store, policy, now, jobs)
    finally:
        store.close()
    if args.json:
        print(json.dumps({"at": utc_text(now), "dry_run": True, "jobs": report}, sort_keys=True))
        return 0
    print(f"cadences at {utc_text(now)} (a dry run on the configured store: nothing is written)")
    for entry in report:
        print("\n".join(_cadence_lines(entry)))
    if not report:
        print("no cadence job is enabled in the policy")
    return 0


def describe(step: Any) -> list[str]:
    """A step of a replay as lines a person reads."""
    line = step.line
    out = [f"{utc_text(line.at)}  {line.source:<10} {step.outcome}"]
    out += [f"    - {note}" for note in step.notes]
    for action in step.actions:
        when = f" (not before {action['not_before']})" if action.get("not_before") else ""
        out.append(
            f"    -> {action['kind']} to {', '.join(action['recipients']) or action.get('channel')}{when}: "
            f"{action['reason']}"
        )
    for action in step.delivered:
        out.append(
            f"    delivered (dry run): {action['kind']} to "
            f"{', '.join(action['recipients']) or action.get('channel')}"
        )
    return out


def cmd_demo(args: argparse.Namespace) -> int:
    from shared import demo
    from shared.policy import load_policy

    policy = load_policy(args.policy)
    if not args.serve:
        demo.run(policy)
        return 0
    from shared.bootstrap import Context
    from shared.dashboard import serve
    from shared.store import EmbeddedStore

    store = EmbeddedStore()
    demo.run(policy, store=store)
    print(f"\nthe demo's end state, as of {utc_text(demo.UNTIL)}:", flush=True)
    return serve.serve_forever(
        Context(store, policy, function="dashboard"),
        port=args.port,
        acting_as=None,
        clock=lambda: demo.UNTIL,
        say=lambda text: print(text, flush=True),
    )


def cmd_dev(args: argparse.Namespace) -> int:
    from shared import clock, dev

    def say(text: str) -> None:
        print(text, flush=True)

    action = getattr(args, "dev_action", None)
    if action is None:
        return dev.run(Path(args.book), say=say)
    given = getattr(args, "at", None) or getattr(args, "value", None)
    at = None
    if given and given.strip().lower() != "now":
        try:
            at = clock.instant(given)
        except ValueError:
            print(f"taops dev {action}: {given!r} is not an ISO-8601 time", file=sys.stderr)
            return 2
    try:
        if action == "mail":
            return dev.post_mail(Path(args.file), at, say=say)
        if action == "clock":
            return dev.set_clock(at, clear=given is not None and given.strip().lower() == "now", say=say)
        return dev.publish_tick(args.job, at, say=say)
    except (dev.NotRunningError, ValueError) as exc:
        print(f"taops dev {action}: {exc}", file=sys.stderr)
        return 1


def cmd_sign(args: argparse.Namespace) -> int:
    import os

    from shared.sources import deel

    key = args.key or os.environ.get("TAOPS_DEEL_SIGNING_KEY")
    if not key:
        print("taops sign: give --key or set TAOPS_DEEL_SIGNING_KEY", file=sys.stderr)
        return 1
    body = Path(args.file).read_bytes()
    print(deel.signature(key, body))
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from datetime import datetime

    from shared.book import load_book
    from shared.policy import load_policy
    from shared.replay import ReplayError, dumps_actions, dumps_state, replay

    policy = load_policy(args.policy)
    book = load_book(args.book)
    until = None
    if args.until:
        try:
            until = datetime.fromisoformat(args.until)
        except ValueError:
            print(f"taops replay: --until {args.until!r} is not an ISO-8601 time", file=sys.stderr)
            return 2
        if until.tzinfo is None:
            print("taops replay: --until needs a time zone (e.g. Z)", file=sys.stderr)
            return 2
    try:
        with open(args.events, encoding="utf-8") as handle:
            result = replay(
                handle,
                book,
                policy,
                keep_going=args.keep_going,
                scheduler=args.scheduler or until is not None,
                until=until,
            )
    except OSError as exc:
        print(f"taops replay: cannot read {args.events}: {exc.strerror}", file=sys.stderr)
        return 1
    except ReplayError as exc:
        print(f"taops replay: {exc} (nothing written)", file=sys.stderr)
        return 1
    if args.actions_out:
        Path(args.actions_out).write_text(dumps_actions(result.actions), encoding="utf-8")
    if args.state_out:
        Path(args.state_out).write_text(dumps_state(result.state), encoding="utf-8")
    for problem in result.skipped:
        print(f"skipped {problem}", file=sys.stderr)
    if args.json:
        summary = {
            "lines": len(result.steps),
            "actions": len(result.actions),
            "skipped": result.skipped,
            "outcomes": {
                o: sum(s.outcome == o for s in result.steps)
                for o in sorted({s.outcome for s in result.steps})
            },
        }
        print(json.dumps(summary, sort_keys=True))
    else:
        for step in result.steps:
            print("\n".join(describe(step)))
        print(
            f"{len(result.steps)} line(s) replayed, {len(result.actions)} action(s), "
            f"{len(result.skipped)} skipped"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="taops", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    p = sub.add_parser("import", help="validate a book of business and write it to the store")
    p.add_argument("book", metavar="BOOK.json")
    p.add_argument(
        "--store",
        help="embedded[:PATH] or firestore[:PROJECT] (default: $TAOPS_STORE, "
        "else embedded:.taops/state.json)",
    )
    p.add_argument("--policy", help="policy YAML (default: $TAOPS_POLICY, else the bundled one)")
    p.add_argument("--dry-run", action="store_true", help="print what would change and write nothing")
    p.add_argument(
        "--force",
        action="store_true",
        help="overwrite fields Salesforce, Vitally or taops own with the file's values too",
    )
    p.add_argument(
        "--prune",
        action="store_true",
        help="remove people and accounts the file no longer has (refused while a running "
        "coverage plan or a waiting mail thread needs them)",
    )
    p.add_argument("--json", action="store_true", help="print the diff as one JSON object")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("schema", help="print, write or check the book file's JSON Schema")
    p.add_argument("--out", default=str(DEFAULT_SCHEMA_PATH))
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="write it to --out")
    mode.add_argument("--check", action="store_true", help="fail if --out is not current")
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser("policy", help="policy file tools")
    psub = p.add_subparsers(dest="policy_verb", required=True, metavar="ACTION")
    pc = psub.add_parser("check", help="validate a policy file (default: $TAOPS_POLICY or the bundled one)")
    pc.add_argument("file", nargs="?")
    pc.set_defaults(func=cmd_policy_check)

    p = sub.add_parser(
        "demo", help="replay a bundled TA-team scenario end to end and show what happened and why"
    )
    p.add_argument("--policy", help="policy YAML (default: $TAOPS_POLICY, else the bundled one)")
    p.add_argument(
        "--serve", action="store_true", help="then open the dashboard on the demo's end state (127.0.0.1)"
    )
    p.add_argument("--port", type=int, default=8080, help="the dashboard's port with --serve (default 8080)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "dashboard",
        help="the operations view of a store on http://127.0.0.1:PORT/ (open locally, no sign-in)",
        description="Serves the same pages as the deployed dashboard function, open on 127.0.0.1 "
        "only, acting as --as (default: the directory's first TA manager). A replay's state: "
        "taops replay ... --state-out F, then taops dashboard --store embedded:F --at TIME.",
    )
    p.add_argument("--store", help="embedded[:PATH] or firestore[:PROJECT] (default: $TAOPS_STORE)")
    p.add_argument("--policy", help="policy YAML (default: $TAOPS_POLICY, else the bundled one)")
    p.add_argument("--port", type=int, default=8080, help="default 8080 (0: any free port)")
    p.add_argument("--at", metavar="ISO", help="the moment the pages are drawn at (default: now)")
    p.add_argument("--as", dest="as_", metavar="EMAIL", help="who presses the buttons (in the directory)")
    p.set_defaults(func=cmd_dashboard)

    p = sub.add_parser("show", help="one coverage plan or one account, as the dashboard knows it")
    p.add_argument("what", choices=("plan", "account"))
    p.add_argument("id", metavar="ID", help="the absence id (plan) or the account id (account)")
    p.add_argument("--store", help="embedded[:PATH] or firestore[:PROJECT] (default: $TAOPS_STORE)")
    p.add_argument("--policy", help="policy YAML (default: $TAOPS_POLICY, else the bundled one)")
    p.add_argument("--at", metavar="ISO", help="count time left from this moment (default: now)")
    p.add_argument("--json", action="store_true", help="one JSON object instead of the tables")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser(
        "dead-letters",
        help="what was refused and why (default: the last 7 days); --rerun ID after a fix",
    )
    p.add_argument("--since", metavar="ISO|Nd", help="from this moment, or N days back (default 7d)")
    p.add_argument("--rerun", metavar="ID", help="run a refused input again (after fixing its cause)")
    p.add_argument("--store", help="embedded[:PATH] or firestore[:PROJECT] (default: $TAOPS_STORE)")
    p.add_argument("--policy", help="policy YAML (default: $TAOPS_POLICY, else the bundled one)")
    p.add_argument("--json", action="store_true", help="JSON instead of the table")
    p.set_defaults(func=cmd_dead_letters)

    p = sub.add_parser("views", help="the dashboard's read models")
    vsub = p.add_subparsers(dest="views_verb", required=True, metavar="ACTION")
    vr = vsub.add_parser(
        "rebuild",
        help="recompute every view, and the outbox index, from the whole state "
        "(a store written before they existed)",
    )
    vr.add_argument("--store", help="embedded[:PATH] or firestore[:PROJECT] (default: $TAOPS_STORE)")
    vr.add_argument("--at", metavar="ISO", help="the moment the state stands for (default: now)")
    vr.set_defaults(func=cmd_views_rebuild)

    p = sub.add_parser(
        "dev",
        help="run the real pipeline locally on the emulators (Ctrl-C stops it); "
        "from another terminal: dev mail, dev clock, dev tick",
        usage="taops dev [--book BOOK.json] | taops dev {mail,clock,tick} ...",
        description="Without an action: start the pipeline and keep it in the foreground. "
        "With one, from another terminal in the same directory: drive the running pipeline.",
    )
    p.add_argument(
        "--book",
        default=str(Path(__file__).parent / "demo" / "book.json"),
        help="book to import (default: the demo's)",
    )
    p.set_defaults(func=cmd_dev)
    dsub = p.add_subparsers(dest="dev_action", metavar="ACTION", prog="taops dev")
    dm = dsub.add_parser(
        "mail", help="a Gmail message resource (format=metadata) arrives in the running pipeline's mailbox"
    )
    dm.add_argument("file", metavar="FILE.json")
    dm.add_argument(
        "--at", metavar="ISO", help="its internalDate (default: the file's, else the pipeline's time)"
    )
    dc = dsub.add_parser("clock", help="show, set (ISO) or clear (now) the running pipeline's time")
    dc.add_argument("value", metavar="ISO|now", nargs="?", help="omit it to show the time")
    dt = dsub.add_parser("tick", help='publish {"job": JOB} to cadence-tick, as Cloud Scheduler does')
    dt.add_argument("job", metavar="JOB", help="the job's name, e.g. sla-check or outbox-relay")
    dt.add_argument("--at", metavar="ISO", help="the time it stands for (default: the pipeline's time)")

    p = sub.add_parser("sign", help="the x-deel-signature for a request body (HMAC-SHA256 of POST + body)")
    p.add_argument("file", help="the exact bytes you will POST")
    p.add_argument("--key", help="signing key (default: $TAOPS_DEEL_SIGNING_KEY)")
    p.set_defaults(func=cmd_sign)

    p = sub.add_parser("replay", help="run recorded events through the handlers with a simulated clock")
    p.add_argument("events", metavar="EVENTS.jsonl")
    p.add_argument("--book", required=True, metavar="BOOK.json")
    p.add_argument("--policy", help="policy YAML (default: $TAOPS_POLICY, else the bundled one)")
    p.add_argument("--actions-out", metavar="F", help="write every action, one JSON object a line")
    p.add_argument("--state-out", metavar="F", help="write the final state as JSON")
    p.add_argument("--json", action="store_true", help="print a JSON summary instead of the timeline")
    p.add_argument(
        "--keep-going", action="store_true", help="skip bad lines (each reported) instead of stopping"
    )
    p.add_argument(
        "--scheduler",
        action="store_true",
        help="simulate Cloud Scheduler: the policy's enabled cadences tick between lines (timers fire)",
    )
    p.add_argument(
        "--until", metavar="ISO", help="keep the simulated clock (and scheduler) running until this time"
    )
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("mailbox", help="the pooled mailbox: threads waiting for a team reply, soonest first")
    p.add_argument("--store", help="embedded[:PATH] or firestore[:PROJECT] (default: $TAOPS_STORE)")
    p.add_argument("--policy", help="policy YAML (default: $TAOPS_POLICY, else the bundled one)")
    p.add_argument("--at", metavar="ISO", help="count time left from this moment (default: now)")
    p.add_argument("--json", action="store_true", help="one JSON array instead of the table")
    p.set_defaults(func=cmd_mailbox)

    p = sub.add_parser("sources", help="each watched source: last heard, and whether it has gone quiet")
    p.add_argument("--store", help="embedded[:PATH] or firestore[:PROJECT] (default: $TAOPS_STORE)")
    p.add_argument("--policy", help="policy YAML (default: $TAOPS_POLICY, else the bundled one)")
    p.add_argument("--at", metavar="ISO", help="judge silences at this moment (default: now)")
    p.add_argument("--json", action="store_true", help="one JSON array instead of the table")
    p.set_defaults(func=cmd_sources)

    p = sub.add_parser(
        "cadences",
        help="what each enabled cadence job would do at a moment, and why (a dry run: nothing written)",
        description="For each enabled cadence (or --job): every reaction owed at that moment, "
        "whether it is already done, else the actions it would create (kind, recipients, not "
        "before, reason) and the notes that explain it. Decided on the configured store; "
        "nothing is written.",
    )
    p.add_argument("--at", metavar="ISO", help="the moment (default: now; UTC when no zone is given)")
    p.add_argument("--store", help="embedded[:PATH] or firestore[:PROJECT] (default: $TAOPS_STORE)")
    p.add_argument("--policy", help="policy YAML (default: $TAOPS_POLICY, else the bundled one)")
    p.add_argument("--job", metavar="JOB", help="only this cadence job (enabled or not)")
    p.add_argument("--json", action="store_true", help="one JSON object instead of the lines")
    p.set_defaults(func=cmd_cadences)

    p = sub.add_parser(
        "outbox",
        help="list the actions in the outbox (what taops did or will do, and why); cancel one waiting",
        usage="taops outbox [--failed | --pending] [--store S]\n"
        "       taops outbox cancel ID --by EMAIL --reason WHY [--store S]",
    )
    shown = p.add_mutually_exclusive_group()
    shown.add_argument("--failed", action="store_true", help="only actions that failed permanently")
    shown.add_argument(
        "--pending",
        action="store_true",
        help="only actions waiting to go out (customer emails held for review among them), soonest first",
    )
    p.add_argument("--store", help="embedded[:PATH] or firestore[:PROJECT] (default: $TAOPS_STORE)")
    p.add_argument("--json", action="store_true", help="one JSON array instead of the lines")
    p.set_defaults(func=cmd_outbox)
    osub = p.add_subparsers(dest="outbox_verb", metavar="ACTION", prog="taops outbox")
    oc = osub.add_parser(
        "cancel",
        help="stop an action still waiting (pending, or published and not yet sent): who and why are kept",
    )
    oc.add_argument("id", metavar="ID", help="the action id (act_...), as `taops outbox --pending` lists it")
    oc.add_argument("--by", required=True, metavar="EMAIL", help="who cancels (in the directory)")
    oc.add_argument("--reason", required=True, metavar="WHY", help="why, kept on the action")
    oc.add_argument("--store", help="embedded[:PATH] or firestore[:PROJECT] (default: $TAOPS_STORE)")
    oc.add_argument("--policy", help="policy YAML (default: $TAOPS_POLICY, else the bundled one)")
    oc.add_argument("--at", metavar="ISO", help="when it was cancelled (default: now)")
    oc.set_defaults(func=cmd_outbox_cancel)

    p = sub.add_parser("lighthouse", help="the Lighthouse program: record a decision taops leaves to people")
    lsub = p.add_subparsers(dest="lighthouse_verb", required=True, metavar="ACTION")
    le = lsub.add_parser("exit", help="record that ACCOUNT leaves Lighthouse (who decided, and why)")
    le.add_argument("account", metavar="ACCOUNT", help="the account id in the book")
    le.add_argument("--by", required=True, metavar="EMAIL", help="who decided (in the directory)")
    le.add_argument("--note", help="why, kept on the save plan")
    le.add_argument("--store", help="embedded[:PATH] or firestore[:PROJECT] (default: $TAOPS_STORE)")
    le.add_argument("--policy", help="policy YAML (default: $TAOPS_POLICY, else the bundled one)")
    le.add_argument("--at", metavar="ISO", help="when it was decided (default: now)")
    le.set_defaults(func=cmd_lighthouse_exit)

    p = sub.add_parser("sync", help="bring the book up to date from a source of truth")
    ssub = p.add_subparsers(dest="sync_source", required=True, metavar="SOURCE")
    sv = ssub.add_parser(
        "vitally",
        help="page through Vitally's accounts and update the fields Vitally owns (policy vitally.traits)",
        description="Needs TAOPS_VITALLY_API_KEY (and TAOPS_VITALLY_BASE_URL). Prints, per account, "
        "each field that changes (old → new), and the accounts Vitally knows that the book does not.",
    )
    sv.add_argument("--dry-run", action="store_true", help="show what would change; write nothing")
    sv.add_argument("--store", help="embedded[:PATH] or firestore[:PROJECT] (default: $TAOPS_STORE)")
    sv.add_argument("--policy", help="policy YAML (default: $TAOPS_POLICY, else the bundled one)")
    sv.add_argument("--json", action="store_true", help="one JSON object instead of the lines")
    sv.set_defaults(func=cmd_sync_vitally)

    p = sub.add_parser("gmail", help="the pooled mailbox's Gmail connection")
    gsub = p.add_subparsers(dest="gmail_verb", required=True, metavar="ACTION")
    gw = gsub.add_parser("watch", help="renew users.watch (Gmail stops pushing after 7 days)")
    gw.add_argument("--mailbox", help="default: the policy's group_mail.address")
    gw.add_argument("--policy", help="policy YAML (default: $TAOPS_POLICY, else the bundled one)")
    gw.set_defaults(func=cmd_gmail_watch)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (BookError, PolicyError) as exc:
        print(f"taops {args.verb}: {exc}", file=sys.stderr)
        return 1
    except StoreError as exc:
        print(f"taops {args.verb}: store: {exc}", file=sys.stderr)
        return 1
    except UsageError as exc:
        print(f"taops {args.verb}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
