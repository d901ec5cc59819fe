"""The Monday digest's words, rendered from Jinja2 templates: one line template per row of
each section, the sentence an empty section says, and the plain-text email around them.
Slack gets the same lines as Block Kit (a header, a section block per part, the reason
at the foot); the email gets them as plain text.

Slack's mrkdwn treats ``&``, ``<`` and ``>`` as markup, so the values of a Slack line are
escaped before rendering (a customer's subject line stays what it was).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

# (name, title, what an empty section says)
SECTIONS = (
    ("out", "Out this week", "Nothing: everyone is in."),
    ("threads", "Waiting in the pooled mailbox", "Nothing is waiting for a team reply."),
    ("health", "Health category changes, past week", "Nothing changed category."),
    ("renewals", "Entering the 120-day renewal process", "Nothing enters the renewal process."),
    ("reviews", "MBRs and QBRs coming", "Nothing in the next {lookahead} days."),
    ("failed", "Actions that failed, past week", "Nothing failed."),
)

ROWS = {
    "out": (
        "{{ name }}{% if role %} ({{ role }}){% endif %}: out {{ first_day }} to {{ last_day }}"
        "{% if requested %} (requested, not yet approved){% endif %}"
        "{% if covers %}; {% if draft %}draft plan: {% endif %}"
        "{% for c in covers %}{{ c.account }} covered by {{ c.cover }} ({{ c.why }})"
        "{% if not loop.last %}, {% endif %}{% endfor %}"
        "{% elif note %}; {{ note }}{% endif %}"
    ),
    "threads": (
        "'{{ subject }}' from {{ customer }}{% if account %} ({{ account }}){% endif %}: {{ left }}"
        "{% if reached %}; {{ reached }} sent{% endif %}{% if ta %}; {{ ta }}{% endif %}"
    ),
    "health": (
        "{{ account }}: {{ old or 'no category' }} → {{ new }} on {{ day }}"
        "{% if score is not none %} (score {{ score }}){% endif %}{% if ta %}; {{ ta }}{% endif %}"
    ),
    "renewals": (
        "{{ account }} renews {{ renewal }} (in {{ days }} days): "
        "{% if started %}its renewal process started {{ started }}"
        "{% else %}its renewal process starts {{ starts }}{% endif %}"
        "{% if ta %}; {{ ta }}{% endif %}"
    ),
    "reviews": "{{ what }} {{ when }}, {{ first }} to {{ last }} ({{ which }}): {{ detail }}",
    "failed": "{{ kind }} to {{ to }}, failed {{ day }}: {{ error }} (it was: {{ reason }})",
    "failed_older": (
        "and {{ count }} older failure{{ '' if count == 1 else 's' }}: `taops outbox --failed` lists them"
    ),
}

EMAIL = """\
{{ title }}
{{ scope }}
{% for s in sections %}
{{ s.title }}
{% for line in s.lines %}{{ "" if s.empty else "- " }}{{ line }}
{% endfor %}{% endfor %}"""

SUMMARY = (
    "{{ title }}: {{ counts.out }} out, {{ counts.threads }} waiting in the mailbox, "
    "{{ counts.health }} health change{{ '' if counts.health == 1 else 's' }}, "
    "{{ counts.renewals }} entering renewal, "
    "{{ counts.reviews }} review week{{ '' if counts.reviews == 1 else 's' }} coming, "
    "{{ counts.failed }} failed"
)

# Slack's limits: a header's text, a section's text.
HEADER_MAX = 150
SECTION_MAX = 3000


@lru_cache(maxsize=1)
def _environment() -> Any:
    from jinja2 import DictLoader, Environment, StrictUndefined

    templates = {**{f"row:{k}": v for k, v in ROWS.items()}, "email": EMAIL, "summary": SUMMARY}
    return Environment(loader=DictLoader(templates), undefined=StrictUndefined, autoescape=False)


def _render(template: str, /, **context: Any) -> str:
    return str(_environment().get_template(template).render(**context))


def _slack_escape(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if isinstance(value, list):
        return [_slack_escape(v) for v in value]
    if isinstance(value, dict):
        return {k: _slack_escape(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str  # the plain-text email body
    summary: str  # Slack's notification text
    blocks: list[dict[str, Any]]


def _lines(name: str, rows: list[dict[str, Any]], extra: dict[str, Any], slack: bool) -> list[str]:
    lines = [_render(f"row:{name}", **(_slack_escape(r) if slack else r)) for r in rows]
    if name == "failed" and extra.get("older"):
        lines.append(_render("row:failed_older", count=extra["older"]))
    return lines


def _section_text(title: str, lines: list[str], nothing: str) -> str:
    """A section block's mrkdwn, within Slack's limit: the lines that fit, then how many
    more there are (the email has them all)."""
    head = f"*{title}*"
    if not lines:
        return f"{head}\n{nothing}"
    shown: list[str] = []
    for n, line in enumerate(lines):
        candidate = "\n".join([head, *[f"• {x}" for x in [*shown, line]]])
        rest = f"\n… and {len(lines) - n} more in the email version"
        if len(candidate) + len(rest) > SECTION_MAX:
            return "\n".join([head, *[f"• {x}" for x in shown]]) + rest
        shown.append(line)
    return "\n".join([head, *[f"• {x}" for x in shown]])


def render(
    title: str,
    scope: str,
    sections: dict[str, list[dict[str, Any]]],
    extra: dict[str, Any],
    why: str,
) -> Rendered:
    """The digest as an email body and as Slack blocks. ``sections`` holds each section's
    rows by name; ``extra`` what a section says besides its rows (``older`` failures, the
    ``lookahead`` of the reviews)."""
    text_sections = []
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:HEADER_MAX]}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": _slack_escape(scope)}]},
    ]
    for name, section_title, empty in SECTIONS:
        rows = sections.get(name, [])
        nothing = empty.format(lookahead=extra.get("lookahead"))
        text_lines = _lines(name, rows, extra, slack=False)
        text_sections.append(
            {"title": section_title, "lines": text_lines or [nothing], "empty": not text_lines}
        )
        slack_lines = _lines(name, rows, extra, slack=True)
        blocks.append({"type": "divider"})
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": _section_text(section_title, slack_lines, nothing)},
            }
        )
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": _slack_escape(f"Why you: {why}.")}]}
    )
    counts = {name: len(sections.get(name, [])) for name, _, _ in SECTIONS}
    return Rendered(
        subject=title,
        text=_render("email", title=title, scope=scope, sections=text_sections).strip(),
        summary=_render("summary", title=title, counts=counts),
        blocks=blocks,
    )
