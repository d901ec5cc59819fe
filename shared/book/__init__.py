"""The book of business: the file (``file``: validation, schema) and its import into a
store (``importing``: what each field's owner allows, the diff, pruning)."""

from shared.book.file import ACCOUNTS, KEY_FIELD, OWNERS, PEOPLE, book_schema, load_book, parse_book
from shared.book.importing import (
    FieldChange,
    ImportReport,
    PruneRefusedError,
    RecordDiff,
    import_book,
    prune_blockers,
    run_import,
    with_segments,
)
from shared.models import Account, Book, Person

__all__ = [
    "ACCOUNTS",
    "KEY_FIELD",
    "OWNERS",
    "PEOPLE",
    "Account",
    "Book",
    "FieldChange",
    "ImportReport",
    "Person",
    "PruneRefusedError",
    "RecordDiff",
    "book_schema",
    "import_book",
    "load_book",
    "parse_book",
    "prune_blockers",
    "run_import",
    "with_segments",
]
