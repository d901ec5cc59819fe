"""Read models for the operations view, after Cosmic Python's ``views.py``: small documents
in the ``views`` collection that every commit keeps current with the state it changes, so
the dashboard reads a few documents per page whatever the size of the book.

- ``mailbox_board/{thread}``: one small document per thread waiting for a team reply (and
  only while it waits), with who was told at each step of the SLA ladder: the board is
  exactly as long as what the Today page shows;
- ``views/mailbox:{ISO week}``: the waits the team answered that week (hours waited, and
  whether the reply came inside the SLA), the last 12 weeks: a reply rewrites its week's
  document only;
- ``views/health``: per day, how many accounts were green, yellow and red, and which
  weeks have changes kept;
- ``views/health:{ISO week}``: that week's health category changes (the handbook's list),
  newest first, kept for the last weeks: a change rewrites its week's document only, never
  the whole history;
- ``views/directory``: each person's name, role and manager;
- ``views/book:{ta}``: a compact line per account of one TA (renewal, ARR, expansion,
  health, Lighthouse and save plan, renewal process, seats), what Top 3, the Lighthouse
  list, the renewal process and the seat alerts are drawn from; an account without a TA
  is in its AE's (``book:-ae:{ae}``), else in one of ``book:-0`` … ``book:-15``: one
  person's book stays far below Firestore's 1 MiB a document.

``project`` derives the view documents' writes from a commit's writes (and the SLA
actions it creates); ``shared.processing.process`` and the book import call it inside their
transaction, after every read of their own and before any write, so a view is exactly as
current as the state: a duplicate event changes neither. ``rebuild`` recomputes every view
from the state with full scans, for a store written before the views existed
(``taops views rebuild``); it cannot recover the weekly mailbox figures of waits that
ended before, which it leaves as they are.

A view document is read and written by every commit that touches what it summarises: a
thread's board document by its messages and SLA steps, a TA's book by each change to one
of their accounts, the health view by each category change. Those rates are far below
Firestore's sustained write rate for one document; a transaction that meets another on
the same view is simply retried.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

VIEWS = "views"
BOARD = "mailbox_board"
MAILBOX_WEEK_PREFIX = "mailbox:"
HEALTH = "health"
HEALTH_WEEK_PREFIX = "health:"
DIRECTORY = "directory"
BOOK_PREFIX = "book:"
UNASSIGNED_SHARDS = 16

# Collections whose writes the views follow (named here so this module imports nothing
# of the handlers: ``shared.processing`` imports it).
ACCOUNTS = "accounts"
PEOPLE = "people"
MAIL_THREADS = "mail_threads"
HEALTH_CHANGES = "health_changes"

# How much history the views keep: the pages show 8 weeks and 30 days.
WEEKS_KEPT = 12
WAITS_PER_WEEK = 1000
CHANGES_KEPT_DAYS = 45
CHANGES_KEPT = 500  # in one week's document
DAYS_KEPT = 90  # the Accounts page's chart
CATEGORIES = ("green", "yellow", "red")

Document = dict[str, Any]
Getter = Callable[[str, str], Document | None]
# (collection, document id, the new document or None for a delete)
Write = tuple[str, str, Document | None]


def book_id(ta: str | None, account_id: str, ae: str | None = None) -> str:
    """The ``views`` document that holds the account's line."""
    if ta:
        return f"{BOOK_PREFIX}{ta}"
    if ae:
        return f"{BOOK_PREFIX}-ae:{ae}"
    shard = int(hashlib.sha256(account_id.encode()).hexdigest()[:8], 16) % UNASSIGNED_SHARDS
    return f"{BOOK_PREFIX}-{shard}"


def _day(text: str) -> str:
    return str(text)[:10]


def iso_week(moment: datetime | date) -> str:
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))


def _text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# -- the lines each view keeps ---------------------------------------------------------------


def account_line(account: Mapping[str, Any]) -> Document:
    """What the pages need of an account, and nothing else (a field that changes often and
    shows nowhere, such as Slack activity, would rewrite the view for nothing)."""
    plan = account.get("save_plan") or None
    process = account.get("renewal_process") or None
    alerts = account.get("seat_alerts") or None
    return {
        "id": account.get("id"),
        "name": account.get("name"),
        "ta": account.get("ta"),
        "ae": account.get("ae"),
        "segment": account.get("segment"),
        "managed": account.get("managed"),
        "arr": account.get("arr") or 0,
        "renewal_date": account.get("renewal_date"),
        "expansion_opportunity": bool(account.get("expansion_opportunity")),
        "health_category": account.get("health_category"),
        # Shown beside a Lighthouse account only: each Vitally ping moves the score, and the
        # category is all the other lists show.
        "health_score": account.get("health_score") if account.get("lighthouse_active") else None,
        "health_since": account.get("health_since"),
        "lighthouse_active": bool(account.get("lighthouse_active")),
        "lighthouse_entered_at": account.get("lighthouse_entered_at"),
        "save_plan": (
            {
                k: plan.get(k)
                for k in ("opened_at", "owner", "summary", "due_date", "requested_for", "vitally_task_id")
            }
            if plan
            else None
        ),
        "renewal_process": (
            {"renewal_date": process.get("renewal_date"), "started_at": process.get("started_at")}
            if process
            else None
        ),
        "seats_used": account.get("seats_used") or 0,
        "seats_licensed": account.get("seats_licensed") or 0,
        "seat_alerts": (
            {
                "term": alerts.get("term"),
                "percents": list(alerts.get("percents") or []),
                "at": alerts.get("at"),
            }
            if alerts
            else None
        ),
    }


def thread_line(thread: Mapping[str, Any], account_name: str | None) -> Document:
    """A waiting thread as the mailbox board shows it (``shared.rules.sla.time_left``
    reads the same fields from it as from the thread)."""
    return {
        "thread_id": thread.get("thread_id"),
        "mailbox": thread.get("mailbox"),
        "subject": thread.get("subject") or "",
        "customer": thread.get("customer_address"),
        "customer_name": thread.get("customer_name"),
        "account_id": thread.get("account_id"),
        "account_name": account_name,
        "ta": thread.get("ta"),
        "waiting": True,
        "waiting_since": thread.get("waiting_since"),
        "deadline_at": thread.get("deadline_at"),
        "clock_timezone": thread.get("clock_timezone"),
        "sla_level": thread.get("sla_level"),
        "next_sla_level": thread.get("next_sla_level"),
        "next_sla_at": thread.get("next_sla_at"),
        "told": [],
    }


def person_line(person: Mapping[str, Any]) -> Document:
    return {"name": person.get("name"), "role": person.get("role"), "manager": person.get("manager")}


def _empty(view_id: str) -> Document:
    if view_id.startswith(MAILBOX_WEEK_PREFIX):
        week = view_id[len(MAILBOX_WEEK_PREFIX) :]
        return {"kind": "mailbox_week", "week": week, "answered": 0, "within_sla": 0, "hours": []}
    if view_id == HEALTH:
        return {"kind": "health", "days": {}, "change_weeks": []}
    if view_id.startswith(HEALTH_WEEK_PREFIX):
        return {"kind": "health_week", "week": view_id[len(HEALTH_WEEK_PREFIX) :], "changes": []}
    if view_id == DIRECTORY:
        return {"kind": "directory", "people": {}}
    ta = view_id[len(BOOK_PREFIX) :]
    return {"kind": "book", "ta": None if ta.startswith("-") else ta, "accounts": {}}


class _Loaded:
    """The view documents one commit touches, each read once.

    A view document is copied two levels deep, not whole: its top-level maps and lists
    are the commit's own, what they hold is shared with the stored document, and the code
    below replaces a line or a day's counts rather than changing one in place. A commit
    that moves one line of a long view copies that view's index, not all its lines."""

    def __init__(self, get: Getter) -> None:
        self._get = get
        self.docs: dict[str, Document] = {}
        self.before: dict[str, Document | None] = {}
        self.board: dict[str, Document | None] = {}
        self.board_before: dict[str, Document | None] = {}
        self.deleted: set[str] = set()

    def __call__(self, view_id: str) -> Document:
        if view_id not in self.docs:
            stored = self._get(VIEWS, view_id)
            self.before[view_id] = stored
            self.docs[view_id] = _two_levels(stored) if stored is not None else _empty(view_id)
        return self.docs[view_id]

    def delete(self, view_id: str) -> None:
        self.deleted.add(view_id)

    def card(self, key: str) -> Document | None:
        """The thread's board document as stored (None: not waiting)."""
        if key not in self.board:
            stored = self._get(BOARD, key)
            self.board_before[key] = stored
            self.board[key] = _copy(stored) if stored is not None else None
        return self.board[key]

    def changed(self) -> list[Write]:
        writes: list[Write] = [
            (VIEWS, i, d) for i, d in self.docs.items() if i not in self.deleted and d != self.before.get(i)
        ]
        writes += [(VIEWS, i, None) for i in sorted(self.deleted)]
        writes += [(BOARD, k, d) for k, d in self.board.items() if d != self.board_before.get(k)]
        return writes


def _two_levels(doc: Document) -> Document:
    return {k: dict(v) if type(v) is dict else list(v) if type(v) is list else v for k, v in doc.items()}


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _last_writes(writes: Iterable[Write]) -> dict[tuple[str, str], Document | None]:
    """Each document's final state in the commit (a later write of it wins, as in the commit)."""
    final: dict[tuple[str, str], Document | None] = {}
    for collection, doc_id, doc in writes:
        if collection in (ACCOUNTS, PEOPLE, MAIL_THREADS, HEALTH_CHANGES):
            final.pop((collection, doc_id), None)
            final[(collection, doc_id)] = doc
    return final


def project(
    get: Getter, writes: Iterable[Write], actions: Iterable[Mapping[str, Any]], now: datetime
) -> list[Write]:
    """The writes of view documents a commit of ``writes`` (and of the new ``actions``)
    calls for, as ``(collection, document id, document or None to delete)``. Reads through
    ``get`` (the committed state: call it before the commit writes anything); raises what
    ``get`` raises."""
    final = _last_writes(writes)
    sla = [a for a in actions if a.get("cadence") == "sla" and a.get("thread_id") is not None]
    if not final and not sla:
        return []
    views = _Loaded(get)
    accounts = {i: d for (c, i), d in final.items() if c == ACCOUNTS}
    for account_id, doc in accounts.items():
        _account(views, account_id, get(ACCOUNTS, account_id), doc, now)
    for (collection, doc_id), doc in final.items():
        if collection == PEOPLE:
            people = views(DIRECTORY)["people"]
            if doc is None:
                people.pop(doc_id, None)
            else:
                people[doc_id] = person_line(doc)
        elif collection == MAIL_THREADS:
            _thread(views, get, accounts, doc_id, get(MAIL_THREADS, doc_id), doc)
        elif collection == HEALTH_CHANGES and doc is not None:
            _health_change(views, get, accounts, doc_id, doc)
    if sla:
        _told(views, sla)
    return views.changed()


def _account(
    views: _Loaded, account_id: str, old: Document | None, new: Document | None, now: datetime
) -> None:
    old_book = book_id(old.get("ta"), account_id, old.get("ae")) if old else None
    new_book = book_id(new.get("ta"), account_id, new.get("ae")) if new else None
    if (
        old is not None
        and new is not None
        and old_book == new_book
        and old.get("health_category") == new.get("health_category")
        and account_line(old) == account_line(new)
    ):
        return  # nothing the views show moved: no view is read or written
    if old_book is not None and old_book != new_book:
        views(old_book)["accounts"].pop(account_id, None)
    if new_book is not None and new is not None:
        line = account_line(new)
        lines = views(new_book)["accounts"]
        if lines.get(account_id) != line:
            lines[account_id] = line
    before = (old or {}).get("health_category") if old else None
    after = (new or {}).get("health_category") if new else None
    if before != after:
        _count(views(HEALTH)["days"], _day(_text(now)), before, after)


def _count(days: dict[str, dict[str, int]], day: str, before: str | None, after: str | None) -> None:
    """Move one account from ``before`` to ``after`` in the per-day counts from ``day`` on."""
    if day not in days:
        earlier = [d for d in days if d < day]
        days[day] = dict(days[max(earlier)]) if earlier else dict.fromkeys(CATEGORIES, 0)
    for each in [d for d in days if d >= day]:
        counts = days[each] = dict(days[each])  # the stored day's counts stay as they were
        if before in CATEGORIES:
            counts[before] = max(0, counts.get(before, 0) - 1)
        if after in CATEGORIES:
            counts[after] = counts.get(after, 0) + 1
    # Keep DAYS_KEPT days, and the last day before them: the counts the chart starts from.
    cutoff = (date.fromisoformat(max(days)) - timedelta(days=DAYS_KEPT)).isoformat()
    old = sorted(d for d in days if d < cutoff)
    for stale in old[:-1]:
        del days[stale]


def _account_name(get: Getter, accounts: Mapping[str, Document | None], account_id: str | None) -> str | None:
    if not account_id:
        return None
    doc = accounts[account_id] if account_id in accounts else get(ACCOUNTS, account_id)
    return str(doc.get("name") or account_id) if doc else None


def _thread(
    views: _Loaded,
    get: Getter,
    accounts: Mapping[str, Document | None],
    key: str,
    old: Document | None,
    new: Document | None,
) -> None:
    shown = views.card(key)
    if new is not None and new.get("waiting"):
        same_account = shown is not None and shown.get("account_id") == new.get("account_id")
        name = shown.get("account_name") if same_account and shown else None
        line = thread_line(new, name or _account_name(get, accounts, new.get("account_id")))
        if shown is not None and shown.get("waiting_since") == new.get("waiting_since"):
            line["told"] = shown.get("told") or []
        views.board[key] = line
    else:
        views.board[key] = None
    # A wait the team's reply ended: how long the customer waited, and whether in time.
    if not old or not old.get("waiting") or not old.get("waiting_since") or new is None:
        return
    replied = new.get("last_team_reply_at")
    still = new.get("waiting") and new.get("waiting_since") == old.get("waiting_since")
    if still or not replied or replied == old.get("last_team_reply_at") or replied < old["waiting_since"]:
        return
    hours = (_instant(replied) - _instant(old["waiting_since"])).total_seconds() / 3600
    deadline = old.get("deadline_at")
    week = iso_week(_instant(replied))
    entry = views(MAILBOX_WEEK_PREFIX + week)
    entry["answered"] += 1
    entry["within_sla"] += 1 if deadline is None or replied <= deadline else 0
    if len(entry["hours"]) < WAITS_PER_WEEK:
        entry["hours"].append(round(hours, 2))  # the commit's own copy of the list
    if views.before.get(MAILBOX_WEEK_PREFIX + week) is None:
        # A new week: the weeks that leave the kept ones go (a month of them, in case the
        # team answered nothing in some week and so made no document to go then).
        for back in range(WEEKS_KEPT, WEEKS_KEPT + 4):
            views.delete(MAILBOX_WEEK_PREFIX + iso_week(_instant(replied) - timedelta(weeks=back)))


def _told(views: _Loaded, actions: Iterable[Mapping[str, Any]]) -> None:
    """Who each SLA step of a waiting thread went to (the routed recipients), once per step:
    an SLA step commits with its thread, whose board document is loaded already."""
    by_thread = {line.get("thread_id"): line for line in views.board.values() if line is not None}
    for action in actions:
        line = by_thread.get(action.get("thread_id"))
        if line is None or action.get("period") != line.get("waiting_since"):
            continue
        told = [t for t in line.get("told") or [] if t.get("level") != action.get("sla_level")]
        told.append(
            {
                "level": action.get("sla_level"),
                "recipients": list(action.get("recipients") or []),
                "meant_for": list(action.get("meant_for") or []),
                "kind": action.get("kind"),
                "at": action.get("at"),
                "not_before": action.get("not_before"),
                "action_id": action.get("id"),
            }
        )
        line["told"] = sorted(told, key=lambda t: int(t.get("level") or 0))


def _health_change(
    views: _Loaded, get: Getter, accounts: Mapping[str, Document | None], change_id: str, change: Document
) -> None:
    if not change.get("at"):
        return  # a change is listed by when it happened
    line = change_line(change_id, change, _account_name(get, accounts, change.get("account_id")))
    week = iso_week(_instant(str(change["at"])))
    listed = views(HEALTH_WEEK_PREFIX + week)
    kept = [c for c in listed["changes"] if c.get("id") != change_id] + [line]
    listed["changes"] = _newest_first(kept)[:CHANGES_KEPT]
    health = views(HEALTH)
    health.pop("changes", None)  # the list before it moved to weekly documents
    weeks = _weeks_kept({*(health.get("change_weeks") or []), week})
    for stale in {*(health.get("change_weeks") or []), week} - set(weeks):
        views.delete(HEALTH_WEEK_PREFIX + stale)
    health["change_weeks"] = weeks


def change_line(change_id: str, change: Mapping[str, Any], account_name: str | None) -> Document:
    return {
        "id": change_id,
        "account_id": change.get("account_id"),
        "account_name": account_name,
        "at": change.get("at"),
        "old": change.get("old_category"),
        "new": change.get("new_category"),
        "score": change.get("score"),
    }


def _newest_first(changes: list[Document]) -> list[Document]:
    return sorted(changes, key=lambda c: (str(c.get("at")), str(c.get("id"))), reverse=True)


def _weeks_kept(weeks: Iterable[str]) -> list[str]:
    """The weeks whose changes stay listed: those ending within ``CHANGES_KEPT_DAYS`` of the
    end of the newest, oldest first."""
    ordered = sorted(weeks)
    if not ordered:
        return []
    year, number = ordered[-1].split("-W")
    newest_end = date.fromisocalendar(int(year), int(number), 7)
    cutoff = iso_week(newest_end - timedelta(days=CHANGES_KEPT_DAYS))
    return [w for w in ordered if w >= cutoff]


def health_changes(get: Getter, health: Mapping[str, Any] | None, since: str = "") -> list[Document]:
    """The health category changes kept in the views at or after ``since`` (UTC text),
    newest first: one read per week listed."""
    weeks = [
        w for w in (health or {}).get("change_weeks") or [] if not since or w >= iso_week(_instant(since))
    ]
    found: list[Document] = []
    for week in weeks:
        listed = get(VIEWS, HEALTH_WEEK_PREFIX + week) or {}
        found += [c for c in listed.get("changes") or [] if str(c.get("at")) >= since]
    return _newest_first(found)


# -- rebuilding from the state -----------------------------------------------------------------


def rebuild(scan: Callable[[str], Iterable[tuple[str, Document]]], now: datetime) -> list[Write]:
    """Every view document recomputed from the whole state (``scan(collection)`` yields its
    documents): for a store written before the views existed. The per-day health counts
    are walked back from today's through the recorded changes; the weekly mailbox figures
    are not rebuilt (a thread keeps only its current wait): leave them as they are."""
    built: dict[str, Document] = {}

    def view(view_id: str) -> Document:
        return built.setdefault(view_id, _empty(view_id))

    names: dict[str, str] = {}
    counts = dict.fromkeys(CATEGORIES, 0)
    for account_id, account in scan(ACCOUNTS):
        names[account_id] = str(account.get("name") or account_id)
        book = book_id(account.get("ta"), account_id, account.get("ae"))
        view(book)["accounts"][account_id] = account_line(account)
        if account.get("health_category") in CATEGORIES:
            counts[account["health_category"]] += 1
    for email, person in scan(PEOPLE):
        view(DIRECTORY)["people"][email] = person_line(person)
    board: list[Write] = [
        (BOARD, key, thread_line(thread, names.get(str(thread.get("account_id")))))
        for key, thread in scan(MAIL_THREADS)
        if thread.get("waiting")
    ]
    health = view(HEALTH)
    changes = sorted(scan(HEALTH_CHANGES), key=lambda pair: str(pair[1].get("at")), reverse=True)
    by_week: dict[str, list[Document]] = {}
    for change_id, change in changes:
        if change.get("at"):
            line = change_line(change_id, change, names.get(str(change.get("account_id"))))
            by_week.setdefault(iso_week(_instant(str(change["at"]))), []).append(line)
    health["change_weeks"] = _weeks_kept(by_week)
    for week in health["change_weeks"]:
        view(HEALTH_WEEK_PREFIX + week)["changes"] = _newest_first(by_week[week])[:CHANGES_KEPT]
    # Walk back: before a change old → new on day D, one account fewer was `new` and one
    # more was `old` than at the end of D.
    today = _day(_text(now))
    days = {today: dict(counts)}
    first = (date.fromisoformat(today) - timedelta(days=DAYS_KEPT)).isoformat()
    running = dict(counts)
    for _, change in changes:
        day = _day(str(change.get("at")))
        if day < first:
            break
        days.setdefault(day, dict(running))
        new, old = change.get("new_category"), change.get("old_category")
        if new in CATEGORIES:
            running[new] = max(0, running[new] - 1)
        if old in CATEGORIES:
            running[old] += 1
        previous = (date.fromisoformat(day) - timedelta(days=1)).isoformat()
        days[previous] = dict(running)
    health["days"] = dict(sorted(days.items()))
    return [(VIEWS, i, d) for i, d in sorted(built.items())] + board
