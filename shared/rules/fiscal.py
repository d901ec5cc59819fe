"""The fiscal calendar and the handbook's "Nth week of" cadences.

With a fiscal year starting in February, FQ1 is Feb-Apr, FQ2 May-Jul, FQ3 Aug-Oct and
FQ4 Nov-Jan. Weeks run Monday to Sunday; how "the second week of the month" is read is
the policy's ``calendar.week_rule`` (see the policy file for both readings).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from shared.policy import CalendarPolicy

WeekRule = Literal["nth_monday", "calendar"]


def _add_months(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


@dataclass(frozen=True)
class FiscalQuarter:
    fiscal_year: int
    quarter: int
    start: date  # first day
    end: date  # first day of the next quarter (exclusive)

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day < self.end

    @property
    def label(self) -> str:
        return f"FY{self.fiscal_year} Q{self.quarter}"

    @property
    def period(self) -> str:
        """The quarter as a once-per-period key names it (design §6): ``FY2027-Q4``."""
        return f"FY{self.fiscal_year}-Q{self.quarter}"


def fiscal_quarter(day: date, policy: CalendarPolicy) -> FiscalQuarter:
    """The fiscal quarter that holds ``day``, with its bounds."""
    start_month = policy.fiscal_year_start_month
    offset = (day.month - start_month) % 12
    quarter = offset // 3 + 1
    fy_start_year = day.year if day.month >= start_month else day.year - 1
    qy, qm = _add_months(fy_start_year, start_month, (quarter - 1) * 3)
    ny, nm = _add_months(qy, qm, 3)
    named = fy_start_year if policy.fiscal_year_named_by == "start" or start_month == 1 else fy_start_year + 1
    return FiscalQuarter(named, quarter, date(qy, qm, 1), date(ny, nm, 1))


def _week_one_start(first: date, rule: WeekRule) -> date:
    if rule == "nth_monday":
        return first + timedelta(days=(7 - first.weekday()) % 7)
    return first - timedelta(days=first.weekday())


def nth_week_of_month(n: int, year: int, month: int, rule: WeekRule) -> tuple[date, date]:
    """Monday and Sunday of the ``n``-th week of a month (1-based), by ``rule``."""
    if n < 1:
        raise ValueError("n counts from 1")
    monday = _week_one_start(date(year, month, 1), rule) + timedelta(weeks=n - 1)
    return monday, monday + timedelta(days=6)


def is_second_week_of_month(day: date, policy: CalendarPolicy) -> bool:
    """True during the week MBRs happen in."""
    monday, sunday = nth_week_of_month(2, day.year, day.month, policy.week_rule)
    return monday <= day <= sunday


def is_first_week_of_fiscal_quarter(day: date, policy: CalendarPolicy) -> bool:
    """True during the week internal QBRs happen in."""
    q = fiscal_quarter(day, policy)
    # In the "calendar" reading the first week can begin a few days before the quarter
    # does, so the days just before the next quarter's start may belong to its week 1.
    for start in (q.start, q.end):
        monday, sunday = nth_week_of_month(1, start.year, start.month, policy.week_rule)
        if monday <= day <= sunday:
            return True
    return False


def next_fiscal_quarter(quarter: FiscalQuarter, policy: CalendarPolicy) -> FiscalQuarter:
    return fiscal_quarter(quarter.end, policy)


def mbr_week(year: int, month: int, policy: CalendarPolicy) -> tuple[date, date]:
    """Monday and Sunday of the week a month's MBRs happen in: its second week."""
    return nth_week_of_month(2, year, month, policy.week_rule)


def qbr_week(quarter: FiscalQuarter, policy: CalendarPolicy) -> tuple[date, date]:
    """Monday and Sunday of the week a fiscal quarter's internal QBRs happen in: the first
    week of its first month (in the ``calendar`` reading it may begin a few days before the
    quarter does)."""
    return nth_week_of_month(1, quarter.start.year, quarter.start.month, policy.week_rule)


def quarter_of_period(period: str, policy: CalendarPolicy) -> FiscalQuarter:
    """The fiscal quarter a period key names (``FY2027-Q4``); ``ValueError`` for another shape."""
    fy_text, _, q_text = period.partition("-Q")
    if not fy_text.startswith("FY") or not q_text.isdigit() or not 1 <= int(q_text) <= 4:
        raise ValueError(f"{period!r} is not a fiscal quarter like FY2027-Q4")
    start_month = policy.fiscal_year_start_month
    named_by_start = policy.fiscal_year_named_by == "start" or start_month == 1
    fy_start_year = int(fy_text[2:]) - (0 if named_by_start else 1)
    year, month = _add_months(fy_start_year, start_month, (int(q_text) - 1) * 3)
    return fiscal_quarter(date(year, month, 1), policy)
