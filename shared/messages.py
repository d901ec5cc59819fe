"""Words people read: the OOO protocol's messages, rendered from Jinja2 templates.

Plain text serves email and Slack alike (Slack shows it as mrkdwn); the plan is a table a
manager can scan: account, reasons, cover, renewal date, health.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

TEMPLATES = {
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
    "team": """\
{{ ta_name }} is out of office {{ first_day }} to {{ last_day }}. Your accounts in the coverage plan:
{% for r in rows %}- {{ r.name }}: {{ r.why }}; covered by {{ r.cover_name }} ({{ r.cover }})
{% endfor %}""",
    "cover": """\
You are covering for {{ ta_name }} from {{ first_day }} to {{ last_day }}:
{% for r in rows %}- {{ r.name }}: {{ r.why }}{% if r.renewal %}; renews {{ r.renewal }}{% endif %}
{% endfor %}""",
    "vacation": """\
Hi, I am out of office from {{ first_day }} to {{ last_day }}.{% if covers %} While I am away:
{% for c in covers %}- {{ c.accounts }}: {{ c.name }} ({{ c.email }})
{% endfor %}{% else %}
{% endif %}Thank you!
{{ ta_name }}""",
    "customer": """\
Hi {{ account }} team, a heads-up: {{ ta_name }} is out of office from {{ first_day }} to {{ last_day }}. \
{{ cover_name }} ({{ cover }}) is covering for your account in the meantime.""",
    "withdrawn": """\
{{ ta_name }}'s time off {{ first_day }} to {{ last_day }} is {{ outcome }}: the coverage plan is withdrawn and nothing more will be sent for it.""",
    "removed": """\
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


def render(name: str, **context: Any) -> str:
    """The named template with ``context``; a missing variable is an error, never blank."""
    return str(_environment().get_template(name).render(**context)).strip()
