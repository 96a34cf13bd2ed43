"""Writing many rows at once, for `manage.py seed_bench`: a statement a batch, not a save a row.

`insert(model, columns, rows)` sends each column of a batch as one array and
inserts them with `INSERT ... SELECT FROM unnest(...)`: the values are the
database's own (uuids, aware datetimes, strings, numbers, lists for array
columns), already valid, for every column the table needs (the database's
defaults do not know Django's, so none is filled in here; generated columns are
left out). It works for Fascia's own role under row-level security (COPY does
not), in the caller's scope.

History is written by its triggers, row by row: they are never skipped, by
design (clinics/database_roles.py, `never_skipped`). `without_row_triggers()`
has the other triggers Fascia defines skip the rows written inside: the checks
of changes after the fact (a signed chart never changes, needle sites only in
needling sessions), which rows written whole, in an order they would allow,
would pass.
"""

import contextlib
from collections.abc import Iterable, Sequence

import pgtrigger
from django.db import connection
from django.db.models import GeneratedField

BATCH = 5_000


@contextlib.contextmanager
def without_row_triggers():
    """Fascia's skippable triggers (the checks of changes, not history) skip the rows written
    inside."""
    with pgtrigger.ignore():
        yield


def insert(model, columns: Sequence[str], rows: Iterable[Sequence], *, batch: int = BATCH) -> int:
    """Insert `rows` (tuples in the order of `columns`, attribute names such as
    `patient_id`) into `model`'s table and its history; the number written."""
    fields = {field.attname: field for field in model._meta.concrete_fields}
    unknown = [name for name in columns if name not in fields]
    if unknown:
        raise ValueError(f"{model.__name__} has no column {', '.join(unknown)}")
    missing = [
        name
        for name, field in fields.items()
        if name not in columns and not field.null and not isinstance(field, GeneratedField)
    ]
    if missing:
        raise ValueError(f"{model.__name__}: no value given for {', '.join(missing)}")
    statement = _statement(model, [fields[name] for name in columns])
    written = 0
    chunk: list[Sequence] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == batch:
            written += _write(statement, chunk)
            chunk = []
    if chunk:
        written += _write(statement, chunk)
    return written


def _write(statement: str, chunk: list[Sequence]) -> int:
    columns = [list(values) for values in zip(*chunk, strict=True)]
    with connection.cursor() as cursor:
        cursor.execute(statement, columns)
    return len(chunk)


def _statement(model, fields) -> str:
    quote = connection.ops.quote_name
    names = ", ".join(quote(field.column) for field in fields)
    return f"INSERT INTO {quote(model._meta.db_table)} ({names}) {_rows(fields)}"


def _rows(fields) -> str:
    """SELECT the columns from one array each. An array column comes as text (arrays of
    arrays must be rectangular) and is cast to its type once unnested."""
    arrays, values = [], []
    for number, field in enumerate(fields):
        kind = field.db_type(connection)
        if kind.endswith("[]"):
            arrays.append("%s::text[]")
            values.append(f"c{number}::{kind}")
        else:
            arrays.append(f"%s::{kind}[]")
            values.append(f"c{number}")
    names = ", ".join(f"c{number}" for number in range(len(fields)))
    unnested = ", ".join(arrays)
    return f"SELECT {', '.join(values)} FROM unnest({unnested}) AS t({names})"  # noqa: S608 (placeholders)
