"""What every handler shares: the collections, the book lookups, and the directory that
routing reads (lazily, through the transaction's read view)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta

from shared.book import ACCOUNTS, PEOPLE
from shared.exceptions import StoreError
from shared.models import utc_text
from shared.processing import ReadView
from shared.store import Document, Where
from shared.store.base import check_id

ABSENCES = "absences"
COVERAGE_PLANS = "coverage_plans"
HEALTH_CHANGES = "health_changes"
MAIL_THREADS = "mail_threads"


def account_by(view: ReadView, field: str, value: str | None) -> Document | None:
    """The account whose ``field`` equals ``value`` (None when there is none)."""
    if not value:
        return None
    found = view.query(ACCOUNTS, Where(field, "==", value), limit=1)
    return found[0][1] if found else None


def account_of_sender(view: ReadView, sender: str | None) -> Document | None:
    """The account a customer writes for: a champion by email, else the account whose
    ``domains`` hold the sender's domain."""
    if not sender or "@" not in sender:
        return None
    found = view.query(ACCOUNTS, Where("champions", "array_contains", sender), limit=1)
    if not found:
        domain = sender.rsplit("@", 1)[1]
        found = view.query(ACCOUNTS, Where("domains", "array_contains", domain), limit=1)
    return found[0][1] if found else None


def named(*keys: tuple[str, object]) -> list[tuple[str, str]]:
    """The (collection, id) pairs an event names that can be read by id (a value that
    cannot be an id is left to the handler, which says what is wrong with it)."""
    out = []
    for collection, doc_id in keys:
        if not isinstance(doc_id, str):
            continue
        try:
            check_id(collection, doc_id)
        except StoreError:
            continue
        out.append((collection, doc_id))
    return out


IN_LIMIT = 30  # values in one Firestore ``in`` filter


def absences_of(view: ReadView, emails: Iterable[object], *window: Where) -> list[tuple[str, Document]]:
    """The absences of ``emails`` within ``window`` (filters on ``ends_at`` and
    ``starts_at``), in id order: one ``in`` query per 30 people."""
    wanted = sorted({e for e in emails if isinstance(e, str) and e})
    found: dict[str, Document] = {}
    for start in range(0, len(wanted), IN_LIMIT):
        found.update(view.query(ABSENCES, Where("person", "in", wanted[start : start + IN_LIMIT]), *window))
    return sorted(found.items())


class ViewDirectory:
    """``shared.rules.routing.Directory`` over a read view: each person, absence list and
    plan is read once, when routing first asks for it, so a routed message costs reads for
    the people it touches, not for the whole directory.

    Absences are the ones not ended by ``since`` (the moment being decided) and begun
    within ``HORIZON`` of it: routing asks about that moment or its next working hour, never
    weeks later (the composite index ``absences(person, ends_at, starts_at)`` serves it).
    """

    HORIZON = timedelta(days=21)

    def __init__(self, view: ReadView, since: datetime) -> None:
        self._view = view
        # Whole days: every decision of one day asks the same question (the embedded store
        # answers it once); the absences that ended earlier that day are harmless extras.
        day = since.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        # The window's two filters, the same for everyone asked about.
        self._window = (
            Where("ends_at", ">", utc_text(day)),
            Where("starts_at", "<", utc_text(day + self.HORIZON + timedelta(days=1))),
        )
        self._people: dict[str, Document | None] = {}
        self._absences: dict[str, list[Document]] = {}
        self._plans: dict[str, Document | None] = {}
        self._roles: dict[str, list[str]] = {}

    def person(self, email: str) -> Document | None:
        if email not in self._people:
            self._people[email] = self._view.get(PEOPLE, email)
        return self._people[email]

    def prefetch(self, emails: Iterable[str | None]) -> ViewDirectory:
        """Read now, in one round trip, the people a rule is about to look up one at a
        time (a plan's peers, manager and account teams); those read already are skipped."""
        wanted = sorted({e for e in emails if isinstance(e, str) and e and e not in self._people})
        if wanted:
            self._people.update(self._view.get_many(PEOPLE, wanted))
        return self

    def by_email(self) -> PeopleByEmail:
        """The directory as a mapping read by key, sharing this directory's reads."""
        return PeopleByEmail(self)

    def absences(self, email: str) -> Iterable[Document]:
        if email not in self._absences:
            found = self._view.query(ABSENCES, Where("person", "==", email), *self._window)
            self._absences[email] = [doc for _, doc in found]
        return self._absences[email]

    def expect(self, emails: Iterable[str | None]) -> ViewDirectory:
        """Read now, in one query each 30 people (Firestore's ``in`` takes 30 values), the
        absences routing is about to ask about one person at a time: a reaction told to
        the TA, the AE and the manager costs one query, not three. The same documents as
        ``absences`` finds, in the same order; people already read are skipped."""
        wanted = sorted({e for e in emails if isinstance(e, str) and e and e not in self._absences})
        if len(wanted) == 1:
            self.absences(wanted[0])
            return self
        for email in wanted:
            self._absences[email] = []
        for _, doc in absences_of(self._view, wanted, *self._window):
            self._absences[str(doc["person"])].append(doc)
        return self

    def plan(self, absence_id: str) -> Document | None:
        if absence_id not in self._plans:
            self._plans[absence_id] = self._view.get(COVERAGE_PLANS, absence_id)
        return self._plans[absence_id]

    def with_role(self, role: str) -> list[str]:
        if role not in self._roles:
            found = self._view.query(PEOPLE, Where("role", "==", role))
            for email, doc in found:
                self._people.setdefault(email, doc)
            self._roles[role] = [email for email, _ in found]
        return self._roles[role]


class PeopleByEmail(Mapping[str, Document]):
    """The directory as the rules look people up (``people[email]``, ``people.get(email)``,
    ``email in people``), each person read once, when first asked for: a TA's time off
    reads the TA, their peers, manager, account team and covers, not the whole directory.
    It cannot be listed: a rule that needs everyone of a role asks ``ViewDirectory``."""

    def __init__(self, directory: ViewDirectory) -> None:
        self._directory = directory

    def __getitem__(self, email: str) -> Document:
        found = self._directory.person(email) if isinstance(email, str) and email else None
        if found is None:
            raise KeyError(email)
        return found

    def __iter__(self) -> Iterator[str]:
        raise TypeError("the directory is read by key, not listed")

    def __len__(self) -> int:
        raise TypeError("the directory is read by key, not counted")
