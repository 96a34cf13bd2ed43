"""Row-level security: the database's own wall between organisations, behind clinics.access.

clinics.access scopes every query Fascia makes; this is the second wall, for the
day a query forgets. Every tenant table (each table with an `organization_id`
column, history tables included, and the organisations table by its `id`) has
forced row-level security and one policy, `fascia_tenant`: a row is read,
written, changed or deleted only when its organisation is one of those set for
the current transaction, or when the transaction is set to every organisation.
With nothing set, a query sees nothing and writes nothing.

What is set, and by whom:

- `fascia.organizations`: the organisations of the person a request is for
  (the SQL function `fascia_organizations_of`: their staff roles and their
  patient records, `access.organizations_of`), set by `RowSecurityMiddleware`
  for whoever `request.user` is when each transaction begins (so a login, a
  logout or an API token read in the view counts from the next one; the
  database reads a login's organisations once a request, `RequestScope.learned`), and
  widened by `admit` for the one organisation of a secret link (a patient's
  invitation) before its holder has a login;
- `fascia.every_organization`: `every_organization()`, for work done for the
  clinics rather than for one person: the task worker's jobs, the management
  commands, the security log (written to the organisations of the person it
  is about, logged in or not), a platform operator.

Both are set per transaction with `set_config(..., true)`, never per
connection, so a pooled connection never carries one request's organisations
into the next. `scope` arranges it: while a scope is active on a connection,
every transaction it opens begins by setting the scope (an execute wrapper);
a statement outside a transaction (autocommit) becomes a transaction of its own
that sets it first. Scopes nest; the innermost wins, and leaving it puts back
the one outside.

The role Fascia runs as may set these itself (any role may set a setting), so
this wall stands against a query that forgets its scoping, not against
someone who can run SQL of their choosing as Fascia: docs/security.md.
"""

import contextlib
import dataclasses
from collections.abc import Iterable, Iterator

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from psycopg.pq import TransactionStatus

from clinics import access
from clinics.models import Membership, Organization

POLICY = "fascia_tenant"
EVERY = "fascia.every_organization"
ORGANIZATIONS = "fascia.organizations"

FUNCTIONS = """
CREATE OR REPLACE FUNCTION fascia_every_organization() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT coalesce(current_setting('fascia.every_organization', true), '') = 'on'
$$;
CREATE OR REPLACE FUNCTION fascia_visible_organizations() RETURNS uuid[]
LANGUAGE sql STABLE AS $$
    SELECT string_to_array(
        coalesce(current_setting('fascia.organizations', true), ''), ','
    )::uuid[]
$$;
"""

# Reads the staff roles and person records of every organisation for the moment it runs,
# then puts the setting back. Set inside the body, not in a SET clause: PostgreSQL lets
# only a superuser put a custom setting in a function's SET clause, and the owner of a
# managed database is none. A failure aborts the (sub)transaction, which undoes it too.
ORGANIZATIONS_OF = """
CREATE OR REPLACE FUNCTION fascia_organizations_of(person uuid) RETURNS uuid[]
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
DECLARE
    before text := coalesce(current_setting('fascia.every_organization', true), '');
    reached uuid[];
BEGIN
    PERFORM set_config('fascia.every_organization', 'on', true);
    SELECT coalesce(array_agg(DISTINCT organization_id), '{{}}') INTO reached
        FROM ({people}) AS of_person;
    PERFORM set_config('fascia.every_organization', before, true);
    RETURN reached;
END
$$;
REVOKE ALL ON FUNCTION fascia_organizations_of(uuid) FROM PUBLIC;
"""


@dataclasses.dataclass(frozen=True)
class Scope:
    """What a transaction may reach: every organisation, or some, or (the default) none."""

    every: bool = False
    organizations: frozenset = frozenset()
    person: object = None
    """A login whose organisations the database reads (`fascia_organizations_of`)."""

    def widened_by(self, organizations: frozenset) -> "Scope":
        if not organizations:
            return self
        return dataclasses.replace(self, organizations=self.organizations | organizations)

    def statement(self) -> tuple[str, list]:
        listed = ",".join(sorted(str(pk) for pk in self.organizations))
        if self.person is None:
            return "SELECT set_config(%s, %s, true), set_config(%s, %s, true)", [
                EVERY,
                "on" if self.every else "",
                ORGANIZATIONS,
                listed,
            ]
        # Theirs, with any the request was admitted to: one statement, one round trip.
        return (
            "SELECT set_config(%s, %s, true), set_config(%s, array_to_string(ARRAY("
            "SELECT DISTINCT unnest("
            "fascia_organizations_of(%s) || string_to_array(%s, ',')::uuid[]"
            ")), ','), true)",
            [EVERY, "on" if self.every else "", ORGANIZATIONS, self.person, listed],
        )


NOBODY = Scope()
EVERYONE = Scope(every=True)


def of_user(user) -> Scope:
    """The scope of a request made by `user` (anonymous: none)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return NOBODY
    if access.is_platform_operator(user):
        return EVERYONE
    return Scope(person=user.pk)


@dataclasses.dataclass
class RequestScope:
    """A request's scope: whoever `request.user` is at each transaction. A login or logout
    in the request, or an API token DRF reads in the view, changes it from there on."""

    request: object
    admitted: frozenset = frozenset()
    learned: dict = dataclasses.field(default_factory=dict)
    """The organisations the database found for a login at its first transaction, by its
    id: the request's later transactions set them as they are, without asking again (a
    page runs dozens; clinics.access reads the roles once a request too)."""

    def statement(self) -> tuple[str, list]:
        user = of_user(getattr(self.request, "user", None))
        if user.person is not None and user.person in self.learned:
            user = Scope(organizations=self.learned[user.person])
        return user.widened_by(self.admitted).statement()

    def learn(self, applied: tuple) -> None:
        """Keep what the statement just applied set (`set_config`'s answer) for its login."""
        user = of_user(getattr(self.request, "user", None))
        if user.person is not None and user.person not in self.learned:
            self.learned[user.person] = frozenset(filter(None, applied[1].split(",")))


def _stack(connection) -> list:
    return connection.__dict__.setdefault("fascia_scopes", [])


def _apply(connection, statement: tuple[str, list]) -> tuple:
    """Run `statement` (a scope's): what its settings were set to."""
    # psycopg's own cursor, past the execute wrappers; its errors as Django's (a lost
    # connection is an OperationalError the worker and the outage page know).
    with connection.wrap_database_errors, connection.connection.cursor() as cursor:
        cursor.execute(*statement)
        applied = cursor.fetchone()
    connection.fascia_applied = statement
    return applied


def _apply_scope(connection, within: "Scope | RequestScope", statement=None) -> None:
    statement = statement or within.statement()
    applied = _apply(connection, statement)
    if isinstance(within, RequestScope):
        within.learn(applied)


def _in_transaction(connection) -> bool:
    """Whether a transaction is open (asked without connecting: a request may need none)."""
    return connection.in_atomic_block or (
        connection.connection is not None and not connection.autocommit
    )


def _transaction_began(connection) -> bool:
    """Whether the open transaction has run a statement yet (psycopg begins it with one)."""
    return connection.connection.info.transaction_status != TransactionStatus.IDLE


def _set_first(execute, sql, params, many, context):
    """The execute wrapper: the transaction a statement runs in starts with the scope (and
    takes it again if the scope changed since: a login inside a test's transaction)."""
    connection = context["connection"]
    within = _stack(connection)[-1]
    statement = within.statement()
    if _in_transaction(connection):
        began = _transaction_began(connection)
        if not began or getattr(connection, "fascia_applied", None) != statement:
            _apply_scope(connection, within, statement)
        return execute(sql, params, many, context)
    with transaction.atomic(using=connection.alias):
        _apply_scope(connection, within, statement)
        return execute(sql, params, many, context)


def _still_usable(connection) -> bool:
    """The block's transaction is open and sound (not failed, nor its connection lost)."""
    raw = connection.connection
    return raw is not None and raw.info.transaction_status == TransactionStatus.INTRANS


def _settings_now(connection) -> tuple[str, str]:
    with connection.connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(current_setting(%s, true), ''), "
            "coalesce(current_setting(%s, true), '')",
            [EVERY, ORGANIZATIONS],
        )
        return cursor.fetchone()


@contextlib.contextmanager
def scope(within: "Scope | RequestScope", *, using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Every transaction `using` opens inside the block is limited to `within`."""
    connection = connections[using]
    stack = _stack(connection)
    outermost = not stack
    opened = _in_transaction(connection)  # a transaction already open (a test's): set it now
    if opened:
        connection.ensure_connection()
        before = _settings_now(connection) if outermost else None
        _apply_scope(connection, within)
    stack.append(within)
    try:
        if outermost:
            with connection.execute_wrapper(_set_first):
                yield
        else:
            yield
    finally:
        stack.pop()
        if opened and _still_usable(connection):
            if stack:
                _apply(connection, stack[-1].statement())
            else:
                every, organizations = before
                _apply(
                    connection,
                    (
                        "SELECT set_config(%s, %s, true), set_config(%s, %s, true)",
                        [EVERY, every, ORGANIZATIONS, organizations],
                    ),
                )
                connection.fascia_applied = None


def every_organization(*, using: str = DEFAULT_DB_ALIAS):
    """For work done for the clinics, not for one person: jobs, commands, the security log."""
    return scope(EVERYONE, using=using)


def admit(organization_id, *, using: str = DEFAULT_DB_ALIAS) -> None:
    """The rest of the request may also reach `organization_id`: its holder showed a secret
    link of that organisation (found with `every_organization`)."""
    for within in reversed(_stack(connections[using])):
        if isinstance(within, RequestScope):
            within.admitted |= {organization_id}
            return


def streamed(content: Iterable, within: RequestScope) -> Iterator:
    """A streaming response's body, read in its request's scope after the middleware ended."""
    with scope(within):
        yield from content


class RowSecurityMiddleware:
    """Each request's transactions are limited to the organisations of its user."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        of_user(request.user)  # the session's login, read before any scope needs it
        within = RequestScope(request)
        with scope(within):
            response = self.get_response(request)
        if response.streaming:
            response.streaming_content = streamed(response.streaming_content, within)
        return response


# --- The policies, made by `migrate` as the owner ------------------------------------------


def tenant_tables(connection) -> dict[str, str]:
    """Every table of the database with an organisation, and the column that names it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND column_name = 'organization_id' "
            "AND table_name IN (SELECT tablename FROM pg_tables "
            "WHERE schemaname = current_schema())"
        )
        tables = {name: "organization_id" for (name,) in cursor.fetchall()}
    if Organization._meta.db_table in connection.introspection.table_names():
        tables[Organization._meta.db_table] = "id"
    return tables


def _people_sql(quote, existing: set[str]) -> str:
    """The organisations of a login, as SQL over the tables that say so: staff roles and
    person records (`access.register_person_record`), those that exist yet (a `migrate`
    to an earlier state may run before they do)."""
    sources = [(Membership, "user", "organization"), *access.person_records()]
    parts = [
        f"SELECT {quote(model._meta.get_field(organization).column)} AS organization_id "  # noqa: S608 (names from models)
        f"FROM {quote(model._meta.db_table)} "
        f"WHERE {quote(model._meta.get_field(user).column)} = person"
        for model, user, organization in sources
        if model._meta.db_table in existing
    ]
    return " UNION ALL ".join(parts) or "SELECT NULL::uuid AS organization_id WHERE false"


def policy_statements(
    *, tables: dict[str, str], existing: set[str], quote, role: str | None
) -> list[str]:
    people = _people_sql(quote, existing)
    statements = [FUNCTIONS, ORGANIZATIONS_OF.format(schema="public", people=people)]
    if role is not None:  # else the owner runs Fascia, and may run its own function
        statements.append(
            f"GRANT EXECUTE ON FUNCTION fascia_organizations_of(uuid) TO {quote(role)}"
        )
    for table, column in sorted(tables.items()):
        name = quote(table)
        statements += [
            f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY",
            f"ALTER TABLE {name} FORCE ROW LEVEL SECURITY",
            f"DROP POLICY IF EXISTS {POLICY} ON {name}",
            f"CREATE POLICY {POLICY} ON {name} USING ((SELECT fascia_every_organization()) "
            f"OR {quote(column)} = ANY ((SELECT fascia_visible_organizations())::uuid[]))",
        ]
    return statements


def protect_tenant_tables(*, using: str) -> list[str]:
    """Force row-level security on every tenant table of `using` (connected as the owner)."""
    connection = connections[using]
    role = settings.DATABASE_APP_ROLE
    statements = policy_statements(
        tables=tenant_tables(connection),
        existing=set(connection.introspection.table_names()),
        quote=connection.ops.quote_name,
        role=None if role == connection.settings_dict["USER"] else role,
    )
    with connection.cursor() as cursor:
        cursor.execute("; ".join(statements))
    return statements


SEARCH_FUNCTIONS = (
    "word_similarity_commutator_op(text, text)",  # %>: a name like the words typed
    "dmetaphone(text)",  # a name alike in sound
    "upper(text)",  # an e-mail address, in any case
    "textlike(text, text)",  # LIKE: part of an e-mail address or phone number
)
"""The functions patient search filters with. Under row-level security PostgreSQL checks a
row's policy before any condition whose functions are not marked LEAKPROOF, so it cannot use
an index for them: a search then reads every row of the organisation. None of these
reveals anything of a row by failing on it, and only a superuser may mark them."""


def leakproof_search(*, using: str) -> list[str]:
    """Mark SEARCH_FUNCTIONS LEAKPROOF when the owner may (a superuser: the embedded
    database, most servers of one's own); else return the statements for whoever may."""
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT signature FROM unnest(%s::text[]) AS signature "
            "WHERE to_regprocedure(signature) IS NULL OR NOT (SELECT proleakproof FROM pg_proc "
            "WHERE oid = to_regprocedure(signature))",
            [list(SEARCH_FUNCTIONS)],
        )
        statements = [f"ALTER FUNCTION {function} LEAKPROOF" for (function,) in cursor.fetchall()]
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        superuser = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*) FROM unnest(%s::text[]) AS signature "
            "WHERE to_regprocedure(signature) IS NULL",
            [list(SEARCH_FUNCTIONS)],
        )
        missing = cursor.fetchone()[0]  # an extension not made yet (migrating backwards)
        if not statements or not superuser or missing:
            return statements
        cursor.execute("; ".join(statements))
    return []
