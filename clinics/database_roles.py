"""What the role Fascia runs as may do in the database: read and write, never rewrite evidence.

Fascia's web processes and task worker connect as a role that owns nothing
(settings.DATABASE_APP_ROLE, from DATABASE_URL); `migrate` connects as the
owner (the "owner" alias, from DATABASE_OWNER_URL) and ends by granting the
app role, from scratch, exactly this (`grant_statements`):

- SELECT, INSERT, UPDATE and DELETE on every table, USAGE and SELECT on every
  sequence; never TRUNCATE, REFERENCES or TRIGGER, never CREATE in the schema;
- on the evidence tables (`evidence_tables`) only SELECT and INSERT: every
  pghistory event table, the hash-chained logs (clinics/audit_chain.py) and
  every table a `pgtrigger.Protect` refuses UPDATE or DELETE outright (the
  `never_changed` and `append_only` triggers), read off the models, so a new
  history or log table is covered without anyone remembering. What such a
  trigger allows stays allowed: pghistory's context rows are updated while a
  request runs (clinics/history.py), so that table keeps UPDATE, not DELETE;
- UPDATE of the few columns of evidence tables that an app registers with
  `allow_update` (a patient merge moves signed rows to the kept record: the
  patient column, nothing else; patients/apps.py).

Privileges are checked before any trigger runs, so `SET pgtrigger.ignore`
(which makes pgtrigger's triggers skip themselves, and which any role may set)
cannot open an evidence table to UPDATE, DELETE or TRUNCATE: the role lacks
the privilege. And the triggers that write history and guard the logs are
never skipped, whoever asks (`never_skipped`): `migrate` also replaces
pgtrigger's "should this trigger skip itself?" function with one that answers
no for them, so a protection skipped on purpose (the merge's) or by abuse of
the app role still leaves its history row. Only the owner, who may turn any
trigger off, does without them: `manage.py seed_bench` loads empty tables so
and writes their history itself (clinics/bulk.py).

Default privileges give a table made by a later migration the ordinary grants
at once; the `migrate` that made it then takes UPDATE and DELETE back if it is
an evidence table.
"""

import contextlib
from collections.abc import Callable, Collection, Iterable, Iterator

import pghistory.models
import pghistory.trigger
import pgtrigger
from django.apps import apps
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, models

from clinics.audit_chain import chained_models

OWNER = "owner"  # DATABASE_OWNER_URL, in settings.DATABASES

_updatable: list[Callable[[], Iterable[tuple[type[models.Model], str]]]] = []


def allow_update(columns: Callable[[], Iterable[tuple[type[models.Model], str]]]) -> None:
    """Let the app role UPDATE these (model, field name) pairs of evidence tables.

    `columns` is called when the grants are made (the app registry is complete then).
    The table's triggers still refuse the UPDATE unless the writer asks pgtrigger
    to ignore them, as the patient merge does."""
    _updatable.append(columns)


@contextlib.contextmanager
def as_owner(alias: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """`alias`'s connection logs in as the owner of the tables inside the block: for the
    owner's work (migrate, flush, restore), which sees every organisation's rows. The login
    stays when no owner is configured (one role does both) or when `alias` already logs in
    as it (the tests' template)."""
    connection = connections[alias]
    owner = settings.DATABASES.get(OWNER)
    ours = connection.settings_dict
    if alias != DEFAULT_DB_ALIAS or owner is None or ours["USER"] == owner["USER"]:
        # Already the owner's login (one role for both, or the tests' template): its work
        # sees every organisation's rows all the same, and then the login is as it was.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT coalesce(current_setting('fascia.every_organization', true), ''), "
                "set_config('fascia.every_organization', 'on', false)"
            )
            (before, _) = cursor.fetchone()
        try:
            yield
        finally:
            if not connection.needs_rollback:  # else the error is the news, not this
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT set_config('fascia.every_organization', %s, false)", [before]
                    )
        return
    if connection.in_atomic_block:
        raise RuntimeError("the database owner's work cannot run inside a transaction")
    login = ours["USER"], ours["PASSWORD"]
    log_in_as(connection, owner["USER"], owner["PASSWORD"])
    with connection.cursor() as cursor:
        # The owner's maintenance sees every organisation's rows (clinics/row_security.py):
        # set for this login only, which ends with the block.
        cursor.execute("SET fascia.every_organization = 'on'")
    try:
        yield
    finally:
        log_in_as(connection, *login)


def log_in_as(connection, user: str, password: str) -> None:
    """Close the connection (and its pool), and log in as `user` from the next query on."""
    connection.close()
    if connection.alias in connection._connection_pools:  # `.pool` would make one
        connection.close_pool()
    connection.settings_dict["USER"], connection.settings_dict["PASSWORD"] = user, password


def _refusals(model: type[models.Model]) -> set[str]:
    """The statements a model's table refuses outright: UPDATE and/or DELETE."""
    if issubclass(model, pghistory.models.Event) or model in chained_models():
        return {"UPDATE", "DELETE"}
    refused = set()
    for trigger in getattr(model._meta, "triggers", []):
        if isinstance(trigger, pgtrigger.Protect) and trigger.condition is None:
            operations = list(trigger.operation)
            if pgtrigger.Update in operations:
                refused.add("UPDATE")
            if pgtrigger.Delete in operations:
                refused.add("DELETE")
    return refused


def evidence_tables() -> dict[str, set[str]]:
    """{table: the statements the app role may not run on it}, for every evidence table."""
    tables: dict[str, set[str]] = {}
    for model in apps.get_models(include_auto_created=True):
        refused = _refusals(model)
        if refused:
            tables.setdefault(model._meta.db_table, set()).update(refused)
    return dict(sorted(tables.items()))


def updatable_columns() -> dict[str, set[str]]:
    """{evidence table: the columns the app role may UPDATE there}."""
    refused = evidence_tables()
    columns: dict[str, set[str]] = {}
    for provider in _updatable:
        for model, name in provider():
            table = model._meta.db_table
            if "UPDATE" in refused.get(table, ()):
                columns.setdefault(table, set()).add(model._meta.get_field(name).column)
    return dict(sorted(columns.items()))


def grant_statements(
    *, role: str, quote: Callable[[str], str], tables: Collection[str] | None = None
) -> list[str]:
    """The SQL that gives `role` exactly its privileges, run as the owner of the tables;
    `tables`, those there are (the migrations of one app may have run, not all)."""
    role = quote(role)
    every = "ALL TABLES IN SCHEMA public"
    statements = [
        # PostgreSQL before 15 let every role create tables in the public schema.
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        f"GRANT USAGE ON SCHEMA public TO {role}",
        # From scratch: this also takes back column privileges granted before.
        f"REVOKE ALL ON {every} FROM {role}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON {every} TO {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
        # Tables and sequences the owner makes later (the next migrations).
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {role}",
    ]
    for table, refused in evidence_tables().items():
        if tables is not None and table not in tables:
            continue
        statements.append(f"REVOKE {', '.join(sorted(refused))} ON {quote(table)} FROM {role}")
    for table, columns in updatable_columns().items():
        if tables is not None and table not in tables:
            continue
        listed = ", ".join(quote(column) for column in sorted(columns))
        statements.append(f"GRANT UPDATE ({listed}) ON {quote(table)} TO {role}")
    return statements


def never_skipped() -> list[str]:
    """The triggers `pgtrigger.ignore` never skips (their ids in the database): every
    trigger that writes a history row, and the protections of history and the logs."""
    kept = {"append_only", "hash_chain", "context_never_deleted", "context_updated_by_its_request"}
    return sorted(
        trigger.get_pgid(model)
        for model in apps.get_models(include_auto_created=True)
        for trigger in getattr(model._meta, "triggers", [])
        if isinstance(trigger, pghistory.trigger.Event) or trigger.name in kept
    )


SHOULD_IGNORE = """
CREATE OR REPLACE FUNCTION public._pgtrigger_should_ignore(trigger_name NAME)
RETURNS BOOLEAN AS $$
    DECLARE
        _pgtrigger_ignore TEXT[];
    BEGIN
        -- Fascia (clinics/database_roles.py): history and the logs are written whoever asks.
        IF trigger_name = ANY(%s::name[]) THEN
            RETURN FALSE;
        END IF;
        BEGIN
            SELECT INTO _pgtrigger_ignore CURRENT_SETTING('pgtrigger.ignore');
            EXCEPTION WHEN OTHERS THEN
        END;
        RETURN COALESCE(trigger_name = ANY(_pgtrigger_ignore), FALSE);
    END;
$$ LANGUAGE plpgsql
"""
"""pgtrigger's own function, as every pgtrigger trigger calls it, with the kept triggers
first; every migration that installs a trigger writes pgtrigger's back, so `migrate`
writes this one again after it (`keep_history_unskippable`)."""


def keep_history_unskippable(*, using: str) -> None:
    """Make pgtrigger's skip function answer no for `never_skipped` (as the owner)."""
    with connections[using].cursor() as cursor:
        cursor.execute(SHOULD_IGNORE, [never_skipped()])


def grant_app_role(*, using: str) -> list[str]:
    """Grant settings.DATABASE_APP_ROLE its privileges on `using`'s database (connected as
    the owner); the statements run, or none when one role does both jobs."""
    role = settings.DATABASE_APP_ROLE
    connection = connections[using]
    if role is None or connection.settings_dict["USER"] == role:
        return []
    statements = grant_statements(
        role=role,
        quote=connection.ops.quote_name,
        tables=set(connection.introspection.table_names()),
    )
    with connection.cursor() as cursor:
        cursor.execute("; ".join(statements))
    return statements
