"""Words people read: the OOO protocol's messages, rendered from Jinja2 templates.

Plain text serves email and Slack alike (Slack shows it as mrkdwn); the plan is a table a
manager can scan: account, reasons, cover, renewal date, health.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

# "What changed", first in every message about a plan that changed since people were told.
_CHANGES = """{% if changes %}What changed: {{ changes | join(" ") }}
{% endif %}"""

TEMPLATES = {
    "changes": _CHANGES,
    "plan": """\
{{ "Draft coverage plan" if draft else "Coverage plan" }} for {{ ta_name }}, away {{ first_day }} to {{ last_day }}{% if draft %} (for review: shared once approved){% endif %}.
{% if rows %}
{{ "%-28s %-60s %-28s %-12s %s" | format("Account", "Why it needs cover", "Cover", "Renews", "Health") }}
{% for r in rows -%}
{{ "%-28s %-60s %-28s %-12s %s" | format(r.name[:28], r.why[:60], r.cover, r.renewal or "-", r.health or "-") }}
{% endfor %}{% else %}
No account needs cover.
{% endif %}
{{ quiet }} other account{{ "" if quiet == 1 else "s" }} need{{ "s" if quiet == 1 else "" }} no cover.
{% for note in notes %}Note: {{ note }}
{% endfor %}""",
    "team": _CHANGES
    + """\
{{ ta_name }} is out of office {{ first_day }} to {{ last_day }}. Your accounts in the coverage plan:
{% for r in rows %}- {{ r.name }}: {{ r.why }}; covered by {{ r.cover_name }} ({{ r.cover }}){% if r.replaces %}, in place of {{ r.replaces }}{% endif %}
{% endfor %}""",
    "cover": _CHANGES
    + """\
You are covering for {{ ta_name }} from {{ first_day }} to {{ last_day }}:
{% for r in rows %}- {{ r.name }}: {{ r.why }}{% if r.renewal and "renewing" not in r.codes %}; renews {{ r.renewal }}{% endif %}{% if r.replaces %} (in place of {{ r.replaces }}){% endif %}
{% endfor %}""",
    "vacation": """\
Hi, I am out of office from {{ first_day }} to {{ last_day }}.{% if covers %} While I am away:
{% for c in covers %}- {{ c.accounts }}: {{ c.name }} ({{ c.email }})
{% endfor %}{% else %}
{% endif %}Thank you!
{{ ta_name }}""",
    "customer": """\
Hi {{ account }} team, {% if told_before %}an update to our earlier note: {{ ta_name }} is now out of office from {{ first_day }} to {{ last_day }}{% if was_days %} (instead of {{ was_days }}){% endif %}. \
{{ cover_name }} ({{ cover }}) is covering for your account in the meantime{% if was_cover %}, in place of {{ was_cover }}{% endif %}.\
{% else %}a heads-up: {{ ta_name }} is out of office from {{ first_day }} to {{ last_day }}. \
{{ cover_name }} ({{ cover }}) is covering for your account in the meantime.{% endif %}""",
    "customer_withdrawn": """\
Hi {{ account }} team, an update to our earlier note: {{ ta_name }} is no longer out of office from {{ first_day }} to {{ last_day }}, \
so nothing changes for you: {{ ta_name }} remains your contact as usual.""",
    "withdrawn": """\
{{ ta_name }}'s time off {{ first_day }} to {{ last_day }} is {{ outcome }}: the coverage plan is withdrawn and nothing more will be sent for it.""",
    "removed": _CHANGES
    + """\
{{ ta_name }}'s coverage plan for {{ first_day }} to {{ last_day }} changed: you no longer have accounts in it.""",
}


@lru_cache(maxsize=1)
def _environment() -> Any:
    from jinja2 import DictLoader, Environment, StrictUndefined

    return Environment(
        loader=DictLoader(TEMPLATES),
        undefined=StrictUndefined,
        keep_trailing_newline=False,
        trim_blocks=False,
        autoescape=False,
    )


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """``count`` with its noun agreeing: "1 account", "2 accounts", "0 accounts"."""
    return f"{count} {noun if count == 1 else plural_form or noun + 's'}"


def in_days(days: int) -> str:
    """How far away a day is: "today", "in 1 day", "in 12 days", "3 days ago"."""
    if days == 0:
        return "today"
    return f"in {plural(days, 'day')}" if days > 0 else f"{plural(-days, 'day')} ago"


def listing(items: Sequence[str]) -> str:
    """Names as a sentence lists them: "A", "A and B", "A, B and C"."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def with_article(word: str) -> str:
    """``word`` after "a" or "an" as it is read aloud: "an AE", "an IE", "a CE", "a TA"."""
    # An initialism is read letter by letter: "an AE", "an SLA", "a TA".
    vowels = "AEIOFHLMNRSX" if word.isupper() else "aeiouAEIOU"
    spoken_vowel = word[:1] in vowels
    return f"{'an' if spoken_vowel else 'a'} {word}"


def render(name: str, **context: Any) -> str:
    """The named template with ``context``; a missing variable is an error, never blank."""
    return str(_environment().get_template(name).render(**context)).strip()
