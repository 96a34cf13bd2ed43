"""Loading many rows at once, for `manage.py seed_bench`: COPY and set-wise, not a save a row.

Inside `loading()` (the tables' owner, in one transaction),
`insert(model, columns, rows)` copies rows into a table (COPY): the values are
the database's own (uuids, aware datetimes, strings, numbers, lists for array
columns), already valid, for every column the table needs (the database's
defaults do not know Django's, so none is filled in here; generated columns are
left out).

A table takes its rows without the work each row costs otherwise: the first
`insert` into it sets aside its indexes, its constraints that need an index or
another table (primary key, unique, exclusion, foreign keys, and the foreign
keys of other tables that point at it), its triggers and its row-level security
(which COPY does not support: the owner sees every organisation's rows anyway).
At the end of the block, its history is written as its insert trigger would
have written it, a statement a table, and all that was set aside comes back as
it was: the indexes built once, each constraint
checked over every row (a row that breaks one fails the whole load, naming the
constraint). Row-level CHECK and NOT NULL constraints stay on throughout. What
the skipped triggers check (a signed chart never changes, needle sites only in
needling sessions) concerns changes after the fact, which a load of whole rows
never makes; so a load only inserts (an UPDATE or DELETE inside it would leave
no history). A hash-chained log (clinics/audit_chain.py) is never loaded: each
row's link is made by its trigger.
"""

import contextlib
import contextvars
from collections.abc import Iterable, Iterator, Sequence

import pghistory.trigger
import pgtrigger
from django.db import connection
from django.db.models import NOT_PROVIDED, AutoField, GeneratedField

from clinics.audit_chain import chained_models


def insert(model, columns: Sequence[str], rows: Iterable[Sequence]) -> int:
    """Copy `rows` (tuples in the order of `columns`, attribute names such as `patient_id`)
    into `model`'s table, inside `loading()`; the number written."""
    load = _load.get()
    if load is None:
        raise RuntimeError("bulk.insert writes inside bulk.loading() only")
    fields = _fields(model, columns)
    load.set_aside(model)
    load.written(model)
    quote = connection.ops.quote_name
    names = ", ".join(quote(fields[name].column) for name in columns)
    written = 0
    # psycopg's own cursor: Django's quotes every value into the statement's text.
    statement = f"COPY {quote(model._meta.db_table)} ({names}) FROM STDIN"
    with connection.connection.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
            written += 1
    return written


def insert_select(model, columns: Sequence[str], select: str, params: Sequence = ()) -> int:
    """Insert the rows `select` (SQL, its columns in the order of `columns`) gives into
    `model`'s table, inside `loading()`, such as rows made from others already loaded; the
    number written."""
    load = _load.get()
    if load is None:
        raise RuntimeError("bulk.insert_select writes inside bulk.loading() only")
    fields = _fields(model, columns)
    load.set_aside(model)
    quote = connection.ops.quote_name
    names = ", ".join(quote(fields[name].column) for name in columns)
    with connection.cursor() as cursor:
        # The planner's statistics of the rows loaded so far: without them it takes a
        # table just loaded for a few rows, and joins millions of rows one by one.
        for table in load.unanalyzed():
            cursor.execute(f"ANALYZE {quote(table)}")
        cursor.execute(f"INSERT INTO {quote(model._meta.db_table)} ({names}) {select}", params)
        load.written(model)
        return cursor.rowcount


def _fields(model, columns: Sequence[str]) -> dict:
    """`model`'s fields by attribute name, once every column is known and every one the
    table needs is given."""
    fields = {field.attname: field for field in model._meta.concrete_fields}
    unknown = [name for name in columns if name not in fields]
    if unknown:
        raise ValueError(f"{model.__name__} has no column {', '.join(unknown)}")
    missing = [
        name
        for name, field in fields.items()
        if name not in columns
        and not field.null
        and not isinstance(field, GeneratedField)
        and field.db_default is NOT_PROVIDED  # the database fills it
    ]
    if missing:
        raise ValueError(f"{model.__name__}: no value given for {', '.join(missing)}")
    return fields


_load: contextvars.ContextVar["_Load | None"] = contextvars.ContextVar("bulk_load", default=None)


@contextlib.contextmanager
def loading() -> Iterator[None]:
    """The tables `insert` writes inside take their rows as a load (the module says how).
    As the tables' owner, inside a transaction, which holds the tables to itself until it
    ends; if it fails, every table is as it was."""
    if not connection.in_atomic_block:
        raise RuntimeError("a load runs inside a transaction: all of it lands, or none")
    load = _Load()
    token = _load.set(load)
    try:
        with connection.cursor() as cursor:
            # Index builds sort in memory rather than in temporary files.
            cursor.execute("SET LOCAL maintenance_work_mem = '1GB'")
        yield
        load.finish()
    finally:
        _load.reset(token)


class _Load:
    def __init__(self):
        self.models: list = []
        self.indexes: list[str] = []
        """CREATE INDEX statements, and ALTER TABLE ... ADD of constraints with an index."""
        self.foreign_keys: dict[tuple[str, str], str] = {}
        """(table, name): ALTER TABLE ... ADD CONSTRAINT, for every foreign key set aside."""
        self.triggers: list[tuple[str, str, str]] = []
        """(table, trigger, how it fired: pg_trigger.tgenabled) of each trigger turned off."""
        self.stale: set[str] = set()
        """Tables written since the planner last read their statistics."""
        self.forced: list[str] = []
        """Tables whose row-level security binds their owner too."""

    def written(self, model) -> None:
        self.stale.add(model._meta.db_table)

    def unanalyzed(self) -> list[str]:
        tables, self.stale = sorted(self.stale), set()
        return tables

    def set_aside(self, model) -> None:
        if model in self.models:
            return
        if model in chained_models():
            raise ValueError(f"{model.__name__} is a hash-chained log: its rows are never loaded")
        self.models.append(model)
        for table in [
            model._meta.db_table,
            *(event._meta.db_table for _, event in _history(model)),
        ]:
            self._set_aside(table)

    def _set_aside(self, table: str) -> None:
        quote = connection.ops.quote_name
        with connection.cursor() as cursor:
            # Its history is written from every row it holds at the end.
            cursor.execute(f"SELECT EXISTS (SELECT FROM {quote(table)})")  # noqa: S608 (a table's name)
            if cursor.fetchone()[0]:
                raise ValueError(f"a load fills empty tables; {table} has rows")
            cursor.execute(
                "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
                "FROM pg_constraint WHERE contype = 'f' "
                "AND (conrelid = %s::regclass OR confrelid = %s::regclass)",
                [table, table],
            )
            for owner, name, definition in cursor.fetchall():
                if (owner, name) not in self.foreign_keys:
                    cursor.execute(f"ALTER TABLE {owner} DROP CONSTRAINT {quote(name)}")
                    self.foreign_keys[owner, name] = (
                        f"ALTER TABLE {owner} ADD CONSTRAINT {quote(name)} {definition}"
                    )
            cursor.execute(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE contype IN ('p', 'u', 'x') AND conrelid = %s::regclass",
                [table],
            )
            for name, definition in cursor.fetchall():
                cursor.execute(f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(name)}")
                self.indexes.append(
                    f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(name)} {definition}"
                )
            cursor.execute(
                "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
                "WHERE indrelid = %s::regclass",
                [table],
            )
            for name, definition in cursor.fetchall():
                cursor.execute(f"DROP INDEX {name}")
                self.indexes.append(definition)
            cursor.execute(
                "SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = %s::regclass "
                "AND NOT tgisinternal AND tgenabled <> 'D'",
                [table],
            )
            for name, enabled in cursor.fetchall():
                cursor.execute(f"ALTER TABLE {quote(table)} DISABLE TRIGGER {quote(name)}")
                self.triggers.append((table, name, enabled))
            cursor.execute(
                "SELECT relforcerowsecurity FROM pg_class WHERE oid = %s::regclass", [table]
            )
            if cursor.fetchone()[0]:
                cursor.execute(f"ALTER TABLE {quote(table)} NO FORCE ROW LEVEL SECURITY")
                self.forced.append(table)

    def finish(self) -> None:
        quote = connection.ops.quote_name
        with connection.cursor() as cursor:
            for model in self.models:
                for statement, label in _history_statements(model):
                    cursor.execute(statement, [label])
            for statement in [*self.indexes, *self.foreign_keys.values()]:
                cursor.execute(statement)
            for table, name, enabled in self.triggers:
                how = {"O": "", "A": "ALWAYS ", "R": "REPLICA "}[enabled]
                cursor.execute(f"ALTER TABLE {quote(table)} ENABLE {how}TRIGGER {quote(name)}")
            for table in self.forced:
                cursor.execute(f"ALTER TABLE {quote(table)} FORCE ROW LEVEL SECURITY")


def _history(model) -> list[tuple[str, type]]:
    """(label, event model) of each trigger that writes `model`'s history on insert."""
    events = []
    for trigger in getattr(model._meta, "triggers", []):
        if isinstance(trigger, pghistory.trigger.Event) and str(trigger.operation) == "INSERT":
            if trigger.condition is not None or trigger.level != pgtrigger.Row:
                raise ValueError(f"{model.__name__}'s history on insert is not a row's copy")
            events.append((trigger.label, trigger.event_model))
    return events


def _history_statements(model) -> list[tuple[str, str]]:
    """The history of every row of `model`'s table, as its insert triggers write it (the
    time the transaction began, no context: a load is no one's request)."""
    quote = connection.ops.quote_name
    tracked = {field.name for field in model._meta.fields}
    statements = []
    for label, event in _history(model):
        columns = [
            field.column
            for field in event._meta.fields
            if field.name in tracked
            and field.concrete
            and not isinstance(field, AutoField | GeneratedField)
        ]
        copied = ", ".join(quote(column) for column in columns)
        key = quote(model._meta.pk.column)
        statement = (
            f"INSERT INTO {quote(event._meta.db_table)} "  # noqa: S608 (names from the models)
            f"({copied}, pgh_created_at, pgh_label, pgh_obj_id) "
            f"SELECT {copied}, now(), %s, {key} FROM {quote(model._meta.db_table)}"
        )
        statements.append((statement, label))
    return statements
