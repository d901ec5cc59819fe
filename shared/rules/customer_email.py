"""Email to customers that is safe to send: the one path every email taops writes to a
customer takes (the quarterly call offer, the monthly usage recap, the OOO notice and its
corrections).

``compose`` decides one email to an account's champions and returns what to do:

- nothing, when the account is ``do_not_contact`` in the book: the skip is kept instead
  (``Composed.skipped``: an outbox record with status ``skipped`` and the reason, so a
  person can find it later with ``taops outbox``), and a note says so;
- nothing, when a person cancelled this very email before (``taops outbox cancel``): a
  later re-derivation never revives it;
- otherwise the ``email.send`` action, rendered from templates (subject, a plain-text and
  an HTML part, a ``List-Unsubscribe`` header and an unsubscribe line), from the team's
  address (``scaled_success.sender``), held:
  - for review: ``not_before`` at least ``scaled_success.review_hours`` after ``at``;
  - for the gap: no two customer emails to one account closer than
    ``scaled_success.min_gap_days`` (the account's other customer emails, pending or
    sent, are in ``history``): the email decided later waits. A notice with a
    ``deadline`` (the OOO notice must arrive before the absence begins) waits only while
    it would still arrive in time; else it goes at its own time and the reason says why;
  - for working hours: the TA's (design §5: routed, so an away TA's stand-in's hours),
    else the team's time zone.

Why the later email waits rather than being merged with the earlier one: each email keeps
its own key, period, review and cancel; merging would make one cancel stop two messages
and a once-per-period key stand for another period's content.

What an account was sent is read back from the outbox (``history``: every action with
``customer_account`` = the account), so a cancelled or failed email gives its content
back and the next recap can share it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from shared.models import Action, action_id, utc_text
from shared.policy import Policy
from shared.rules.business_hours import next_working_time
from shared.rules.routing import Directory, reach

if TYPE_CHECKING:
    from shared.processing import ReadView

Doc = Mapping[str, Any]

KIND = "email.send"
# The field that marks an outbox action as an email to a customer of this account.
CUSTOMER_ACCOUNT = "customer_account"
SKIPPED = "skipped"
# Statuses of an email that went, or will go, to the customer.
COUNTED = frozenset({"pending", "published", "sending", "delivered"})

_LAYOUT_TEXT = """\
{% block body %}{% endblock %}

{{ sender_name }}
{{ reply_hint }}

--
{{ unsubscribe_line }}"""

_LAYOUT_HTML = """\
<!DOCTYPE html>
<html lang="en">
<body style="font-family: Arial, Helvetica, sans-serif; font-size: 14px; line-height: 1.5; color: #1f2933;">
{% block body %}{% endblock %}
<p>{{ sender_name }}<br>{{ reply_hint }}</p>
<hr style="border: none; border-top: 1px solid #d9dee3;">
<p style="font-size: 12px; color: #616e7c;">{{ unsubscribe_line }}\
{% if unsubscribe_url %} <a href="{{ unsubscribe_url }}">Manage your email preferences</a>.{% endif %}</p>
</body>
</html>"""

TEMPLATES = {
    "layout.txt": _LAYOUT_TEXT,
    "layout.html": _LAYOUT_HTML,
    # A message already worded (the OOO notice): its paragraphs as they are.
    "note.subject": "{{ subject }}",
    "note.txt": """{% extends "layout.txt" %}{% block body %}{{ paragraphs | join("\n\n") }}{% endblock %}""",
    "note.html": """{% extends "layout.html" %}{% block body %}{% for p in paragraphs %}<p>{{ p }}</p>
{% endfor %}{% endblock %}""",
    "call_offer.subject": "{{ minutes }} minutes with a Technical Advisor this quarter, {{ account }}?",
    "call_offer.txt": """{% extends "layout.txt" %}{% block body %}\
Hi {{ account }} team,

Every quarter we offer each of our customers a {{ minutes }}-minute call with our Technical \
Advisors. Bring anything: how your teams use the product, an upgrade you are planning, \
a question that has been waiting for the right person.

Pick a time that suits you, any day until {{ until }}: {{ booking_link }}\
{% endblock %}""",
    "call_offer.html": """{% extends "layout.html" %}{% block body %}\
<p>Hi {{ account }} team,</p>
<p>Every quarter we offer each of our customers a {{ minutes }}-minute call with our Technical \
Advisors. Bring anything: how your teams use the product, an upgrade you are planning, \
a question that has been waiting for the right person.</p>
<p><a href="{{ booking_link }}">Pick a time that suits you</a>, any day until {{ until }}.</p>
{% endblock %}""",
    "usage_recap.subject": "{{ account }}: your usage recap for {{ month }}",
    "usage_recap.txt": """{% extends "layout.txt" %}{% block body %}\
Hi {{ account }} team,

Here is where you stand in {{ month }}:
- Deployed version: {{ deployed or "not reported" }}, {{ behind }} release{{ "" if behind == 1 else "s" }} \
behind{% if latest %} the latest ({{ latest }}){% endif %}
{% if seats_licensed %}- Seats in use: {{ seats_used }} of {{ seats_licensed }}
{% endif %}{% if missing %}
What the upgrade brings you:
{% for r in missing %}- {{ r.version }} ({{ r.date }})\
{% if r.highlights %}: {{ r.highlights | join("; ") }}{% endif %}
{% endfor %}{% endif %}{% if items %}
Worth a look:
{% for c in items %}- {{ c.title }} ({{ c.kind }}): {{ c.url }}
{% endfor %}{% endif %}
If you would like a hand planning the upgrade, reply to this email.\
{% endblock %}""",
    "usage_recap.html": """{% extends "layout.html" %}{% block body %}\
<p>Hi {{ account }} team,</p>
<p>Here is where you stand in {{ month }}:</p>
<ul>
<li>Deployed version: {{ deployed or "not reported" }}, {{ behind }} release{{ "" if behind == 1 else "s" }} \
behind{% if latest %} the latest ({{ latest }}){% endif %}</li>
{% if seats_licensed %}<li>Seats in use: {{ seats_used }} of {{ seats_licensed }}</li>
{% endif %}</ul>
{% if missing %}<p>What the upgrade brings you:</p>
<ul>
{% for r in missing %}<li><strong>{{ r.version }}</strong> ({{ r.date }})\
{% if r.highlights %}: {{ r.highlights | join("; ") }}{% endif %}</li>
{% endfor %}</ul>
{% endif %}{% if items %}<p>Worth a look:</p>
<ul>
{% for c in items %}<li><a href="{{ c.url }}">{{ c.title }}</a> ({{ c.kind }})</li>
{% endfor %}</ul>
{% endif %}<p>If you would like a hand planning the upgrade, reply to this email.</p>
{% endblock %}""",
}


@lru_cache(maxsize=1)
def _environment() -> Any:
    from jinja2 import DictLoader, Environment, StrictUndefined, select_autoescape

    # HTML parts are escaped (a customer's account name is data); text parts are not.
    return Environment(
        loader=DictLoader(TEMPLATES),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
        keep_trailing_newline=False,
    )


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    headers: dict[str, str]


def unsubscribe_headers(account_id: str, policy: Policy) -> dict[str, str]:
    """``List-Unsubscribe`` (RFC 2369): the policy's mailbox, with the account in the
    subject so the team knows whom to mark, and its page; ``List-Unsubscribe-Post``
    (RFC 8058) only when that page takes the one-click POST."""
    unsubscribe = policy.scaled_success.unsubscribe
    targets = [f"<mailto:{unsubscribe.mailto}?subject={quote(f'unsubscribe {account_id}')}>"]
    if unsubscribe.url:
        targets.append(f"<{_with_account(unsubscribe.url, account_id)}>")
    headers = {"List-Unsubscribe": ", ".join(targets)}
    if unsubscribe.one_click:
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return headers


def _with_account(url: str, account_id: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}account={quote(account_id)}"


def render_email(template: str, account: Doc, policy: Policy, **context: Any) -> Rendered:
    """The ``template`` email to ``account``: subject, text and HTML parts and headers.
    A variable the template needs and ``context`` lacks is an error, never a blank."""
    unsubscribe = policy.scaled_success.unsubscribe
    name = str(account.get("name") or account["id"])
    page = _with_account(unsubscribe.url, str(account["id"])) if unsubscribe.url else None
    line = (
        f"You receive this as a contact of {name}. To receive no more of these emails, "
        f"write to {unsubscribe.mailto}"
    )
    common = {
        "account": name,
        "sender_name": policy.scaled_success.sender_name,
        "reply_hint": f"Replies reach the team at {reply_to(policy)}.",
        "unsubscribe_url": page,
        **context,
    }
    env = _environment()
    text_line = line + (f" or visit {page}." if page else ".")
    return Rendered(
        subject=env.get_template(f"{template}.subject").render(**common).strip(),
        text=env.get_template(f"{template}.txt").render(**common, unsubscribe_line=text_line).strip() + "\n",
        html=env.get_template(f"{template}.html").render(**common, unsubscribe_line=line + ".").strip()
        + "\n",
        headers=unsubscribe_headers(str(account["id"]), policy),
    )


def reply_to(policy: Policy) -> str:
    """Where customers' replies go: the policy's ``reply_to``, else the pooled mailbox."""
    return policy.scaled_success.reply_to or policy.group_mail.address


# -- the account's customer emails ---------------------------------------------------------


def history(
    view: ReadView,
    account_id: str,
    *,
    counted_only: bool = False,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Doc]:
    """Every customer email of ``account_id`` in the outbox, sent, waiting, cancelled or
    skipped (through the outbox index: ``shared.outbox_index``); ``counted_only``: only
    those that reached, or will reach, the customer (``COUNTED``), what a gap is kept
    from; ``since`` and ``until``: only those due to go from ``since`` and before
    ``until``."""
    from shared.outbox_index import outbox_of

    found = outbox_of(view.lookup, CUSTOMER_ACCOUNT, account_id, since=since, until=until)
    return [doc for _, doc in found if not counted_only or doc.get("status") in COUNTED]


# How late an email may go after it was due and still be counted where it went: delivery
# retries for minutes, a relay that was down holds it for hours.
LATE_DELIVERY = timedelta(days=7)


# An account's customer emails due from one moment and before another (None: however
# late): what ``compose`` keeps its gap from, bounded by where the email can go; and the
# same for any account, by its id.
Emails = Callable[[datetime, datetime | None], Sequence[Doc]]
History = Callable[[str, datetime, datetime | None], Sequence[Doc]]


def goes_out_at(doc: Doc) -> datetime:
    """When a customer email went, or will go: its delivery, else its hold, else its decision."""
    text = doc.get("delivered_at") if doc.get("status") == "delivered" else None
    return _instant(str(text or doc.get("not_before") or doc.get("at")))


def _instant(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def counted(docs: Iterable[Doc]) -> list[Doc]:
    """The emails that reached, or will reach, the customer (not cancelled, failed or skipped)."""
    return [d for d in docs if d.get("status") in COUNTED]


# -- deciding one email --------------------------------------------------------------------


@dataclass(frozen=True)
class Composed:
    """What ``compose`` decided: the email to send, or the record of a skip, or neither;
    ``note`` says which, in words."""

    action: Action | None = None
    skipped: tuple[str, dict[str, Any]] | None = None  # (outbox id, document) to keep
    note: str = ""


@dataclass(frozen=True)
class Slot:
    when: datetime
    waited_for: Doc | None = None  # the email whose gap it waits out
    gave_way: Doc | None = None  # the email whose gap it goes inside (deadline)


def _clash(
    moment: datetime, others: Sequence[tuple[datetime, Doc]], gap: timedelta
) -> tuple[datetime, Doc] | None:
    return next(((at, doc) for at, doc in others if abs(moment - at) < gap), None)


def schedule(
    start: datetime,
    others: Sequence[tuple[datetime, Doc]],
    gap: timedelta,
    opens: Callable[[datetime], datetime],
    deadline: datetime | None = None,
) -> Slot:
    """The first working moment from ``start`` at least ``gap`` from every other email
    (``opens(t)``: the first working moment at or after ``t``). With a ``deadline``, a
    moment the gap would push past it gives way: the first working moment, inside the gap."""
    ordered = sorted(others, key=lambda pair: pair[0])
    first = opens(start)
    moment, waited = first, None
    # Each step moves past one email for good (the moment only grows), so this ends.
    for _ in range(len(ordered) + 1):
        found = _clash(moment, ordered, gap)
        if found is None:
            break
        waited = found[1]
        moment = opens(found[0] + gap)
    if waited is not None and deadline is not None and moment > deadline >= first:
        inside = _clash(first, ordered, gap)
        return Slot(first, gave_way=inside[1] if inside else waited)
    return Slot(moment, waited)


def _day(doc: Doc) -> str:
    return f"{goes_out_at(doc):%Y-%m-%d}"


def compose(
    account: Doc,
    *,
    key: str,
    reason: str,
    topic: str,
    template: str,
    context: Mapping[str, Any],
    history: Sequence[Doc] | Emails,
    policy: Policy,
    now: datetime,
    timezone: str,
    hours_of: str | None = None,
    directory: Directory | None = None,
    earliest: datetime | None = None,
    deadline: datetime | None = None,
    cc: Sequence[str] = (),
    **fields: Any,
) -> Composed:
    """One email about ``topic`` (words a person reads: "quarterly call offer") to the
    champions of ``account``, as the module docstring says. ``history`` is the account's
    customer emails (``history()``), or a function giving those due between two moments,
    so that only the emails this one can come near are read (it goes from ``earliest``
    on, and by ``deadline`` when it has one); ``timezone`` the working hours' zone when nobody's
    are known (``hours_of``, the TA, routed through ``directory``); ``earliest`` a
    moment it must not go before; ``fields`` ride on the action (``cadence``, ``period``...)."""
    account_id = str(account["id"])
    name = str(account.get("name") or account_id)
    own = action_id(key)
    hold = policy.scaled_success
    gap = timedelta(days=hold.min_gap_days)
    review_until = now + timedelta(hours=hold.review_hours)
    start = max(review_until, earliest or now)
    emails: Emails = history if callable(history) else (lambda _since, _until: history)
    # It goes from ``start`` on: an email due a gap (and a late delivery) before cannot be
    # near it; nor, going by the deadline, one due a gap after that (unless its first
    # working moment is past the deadline already: see below).
    since = start - gap - LATE_DELIVERY
    near = emails(since, deadline + gap if deadline is not None else None)
    before = next((d for d in near if d.get("id") == own), None)
    if before is not None and before.get("status") == "cancelled" and before.get("cancelled_by"):
        why = f" ({before['cancel_reason']})" if before.get("cancel_reason") else ""
        return Composed(
            note=f"{name}: the {topic} was cancelled by {before['cancelled_by']}{why}: not sent again"
        )
    rendered = render_email(template, account, policy, **context)
    again = f" (decided before, {before.get('status')})" if before is not None else ""
    if account.get("do_not_contact"):
        return _skip(account, key, reason, topic, rendered, near, now, fields)
    to = list(account.get("champions") or [])
    if not to:
        return Composed(note=f"{name}: no champion to send the {topic} to")

    def opens(moment: datetime) -> datetime:
        if directory is not None and hours_of:
            found = reach(hours_of, moment, account_id, directory, policy.calendar, timezone)
            return found.not_before or moment
        return next_working_time(moment, timezone, policy.calendar)

    others = [(goes_out_at(d), d) for d in counted(near) if d.get("id") != own]
    slot = schedule(start, others, gap, opens, deadline)
    if deadline is not None and slot.when > deadline:
        # Its first working moment is already past the deadline, so the gap is kept from
        # every email however late: read them all and place it again.
        others = [(goes_out_at(d), d) for d in counted(emails(since, None)) if d.get("id") != own]
        slot = schedule(start, others, gap, opens, deadline)
    why = reason
    if slot.waited_for is not None:
        why += (
            f"; waits {hold.min_gap_days:g} days after the {slot.waited_for.get('topic', 'email')} "
            f"of {_day(slot.waited_for)}"
        )
    if slot.gave_way is not None:
        why += (
            f"; inside {hold.min_gap_days:g} days of the {slot.gave_way.get('topic', 'email')} of "
            f"{_day(slot.gave_way)}, as it must arrive before {deadline:%Y-%m-%d %H:%M} UTC"
        )
    action = Action(
        kind=KIND,
        at=now,
        not_before=slot.when if slot.when > now else None,
        recipients=to,
        account_id=account_id,
        reason=why,
        idempotency_key=key,
        to=to,
        cc=list(cc),
        sender=hold.sender,
        sender_name=hold.sender_name,
        reply_to=reply_to(policy),
        subject=rendered.subject,
        body=rendered.text,
        html=rendered.html,
        headers=rendered.headers,
        topic=topic,
        review_until=utc_text(review_until),
        **{CUSTOMER_ACCOUNT: account_id},
        **fields,
    )
    note = (
        f"{name}: {topic} to {', '.join(to)}, held for review until {review_until:%Y-%m-%d %H:%M} UTC, "
        f"sent from {slot.when:%Y-%m-%d %H:%M} UTC{again}"
    )
    return Composed(action=action, note=note)


def _skip(
    account: Doc,
    key: str,
    reason: str,
    topic: str,
    rendered: Rendered,
    history: Sequence[Doc],
    now: datetime,
    fields: Mapping[str, Any],
) -> Composed:
    """An account that asked not to be contacted: the record of what was not sent, once."""
    account_id = str(account["id"])
    name = str(account.get("name") or account_id)
    note = f"{name} is marked do_not_contact: the {topic} is not sent"
    record = Action(
        kind=KIND,
        at=now,
        recipients=[],
        account_id=account_id,
        reason=f"{reason}: not sent, {name} is marked do_not_contact in the book",
        idempotency_key=f"{key}:{SKIPPED}",
        subject=rendered.subject,
        topic=topic,
        skipped_key=key,
        **{CUSTOMER_ACCOUNT: account_id},
        **fields,
    )
    if any(d.get("id") == record.id for d in history):
        return Composed(note=f"{note} (recorded before)")
    doc = {
        **record.model_dump(mode="json"),
        "status": SKIPPED,
        "skipped_reason": "do_not_contact",
        "published_at": None,
    }
    return Composed(skipped=(record.id, doc), note=note)
