"""Hash chains for the logs nobody may rewrite: the access log and the security log.

Each row of a chained table holds the hash of the row before it in its chain
and its own hash over its content, both set by the database (a BEFORE INSERT
trigger, `hash_chain()`, using the functions of clinics migration 0008), so every insert
path (`create`, `bulk_create`, SQL) is chained and Fascia cannot skip it.
There is one chain per table and organisation (a row without an organisation
is in that table's chain of none), numbered 1, 2, 3... by `chain_seq` in the
order the rows were committed.

A row's content, the text its hash is taken of, is exactly:

    jsonb_strip_nulls(to_jsonb(row) - 'chain_hash' - 'chain_seq')::text

with TimeZone UTC (the SQL function `audit_chain_content`), and
`chain_hash = hex(sha256(utf-8 of that text))` (`audit_chain_hash`). It includes
`chain_previous_hash`, which is what links the chain; the first row of a chain
has 64 zeros there. `chain_seq` is only the row's place, checked by the links.

To chain another table (the security log), in its model:

    class SecurityEvent(HashChained):           # the three chain columns
        organization = models.ForeignKey(..., null=True)
        class Meta:
            constraints = [chain_order("clinics_securityevent")]
            triggers = [hash_chain()]           # + never_changed-like Protect

then `makemigrations` (its migration must depend on clinics 0008, which makes
the functions) and add the model to CHAINED_MODELS below; `verify_audit` then
walks it. A table with rows already must chain them in the migration that adds
the columns (patients migration 0011 does it for the access log).
"""

import hashlib
from collections import deque
from dataclasses import dataclass, field

import pgtrigger
from django.apps import apps
from django.db import connections, models, transaction
from pgtrigger.core import INSTALLED

GENESIS = "0" * 64
HASH_CHAIN = "hash_chain"

# Every chained table, as "app_label.Model"; the test suite checks that no model with
# the chain columns is missing from it.
CHAINED_MODELS = ["patients.RecordRead", "clinics.SecurityEvent"]


class HashChained(models.Model):
    """The three columns of a chained table; the database fills them on insert."""

    chain_seq = models.BigIntegerField(
        db_default=0, editable=False, help_text="The row's place in its chain: 1, 2, 3..."
    )
    chain_previous_hash = models.CharField(
        max_length=64, db_default="", editable=False, help_text="The hash of the row before."
    )
    chain_hash = models.CharField(
        max_length=64, db_default="", editable=False, help_text="This row's hash."
    )

    class Meta:
        abstract = True


def hash_chain(*, organization: str = "organization") -> pgtrigger.Trigger:
    """The BEFORE INSERT trigger that chains each new row, one chain per `organization`.

    One chain per table and organisation. Whoever appends to it holds the chain's
    lock until they commit, so the next row is numbered and linked only after the
    row before it is committed (each statement of the trigger takes a fresh
    snapshot under READ COMMITTED): the chain's order is the commit order.
    """
    func = """
        PERFORM pg_advisory_xact_lock(
            TG_RELID::integer, hashtext(coalesce(NEW.{columns.ORG}::text, ''))
        );
        IF NEW.{columns.ORG} IS NULL THEN
            SELECT chain_seq, chain_hash INTO _last_seq, _last_hash FROM {meta.db_table}
            WHERE {columns.ORG} IS NULL ORDER BY chain_seq DESC LIMIT 1;
        ELSE
            SELECT chain_seq, chain_hash INTO _last_seq, _last_hash FROM {meta.db_table}
            WHERE {columns.ORG} = NEW.{columns.ORG} ORDER BY chain_seq DESC LIMIT 1;
        END IF;
        NEW.chain_seq := coalesce(_last_seq, 0) + 1;
        NEW.chain_previous_hash := coalesce(_last_hash, repeat('0', 64));
        NEW.chain_hash := audit_chain_hash(NEW);
        RETURN NEW;
    """.replace("ORG", organization)
    return pgtrigger.Trigger(
        name=HASH_CHAIN,
        when=pgtrigger.Before,
        operation=pgtrigger.Insert,
        declare=[("_last_seq", "bigint"), ("_last_hash", "text")],
        func=pgtrigger.Func(func),
    )


def chain_order(table: str) -> models.UniqueConstraint:
    """One row per place in a chain; also the index the trigger and verify_audit walk."""
    return models.UniqueConstraint(
        fields=["organization", "chain_seq"], nulls_distinct=False, name=f"{table}_chain_seq"
    )


def chained_models() -> list[type[models.Model]]:
    return [apps.get_model(label) for label in CHAINED_MODELS]


def row_hash(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()


# --- verifying ---------------------------------------------------------------------------

WINDOW = 10_000  # rows of a chain remembered to tell a reordered row from a changed one


@dataclass
class Problem:
    table: str
    organization: str
    row: str
    seq: int
    what: str

    def __str__(self) -> str:
        return (
            f"{self.table}, organisation {self.organization}, row {self.row} "
            f"(seq {self.seq}): {self.what}"
        )


@dataclass
class TableReport:
    table: str
    rows: int = 0
    chains: int = 0
    problems: list[Problem] = field(default_factory=list)
    heads: list[str] = field(default_factory=list)  # each chain's newest row, for the record

    def summary(self) -> str:
        state = "every row intact and linked" if not self.problems else "PROBLEMS"
        return f"{self.table}: {self.rows} rows in {self.chains} chains, {state}"


class _Chain:
    """What the walk remembers of one chain."""

    def __init__(self, report: TableReport, organization: str):
        self.report = report
        self.organization = organization
        self.expected_previous = GENESIS
        self.last_seq = 0
        self.last_row = None
        self.recent: dict[str, tuple[int, str]] = {}
        self.order: deque[str] = deque()
        self.waiting: dict[str, tuple[int, str]] = {}  # linked to a hash not seen yet

    def problem(self, row, seq, what) -> None:
        self.report.problems.append(
            Problem(self.report.table, self.organization, str(row), seq, what)
        )

    def add(self, row, seq, previous, stored, content) -> None:
        if not stored or seq == 0:
            self.problem(
                row, seq, "not chained: inserted with the chain trigger off (no hash, no place)"
            )
            return
        if row_hash(content) != stored:
            self.problem(row, seq, "changed: its content no longer matches its hash")
        if stored in self.waiting:
            later_seq, later_row = self.waiting.pop(stored)
            self.problem(
                later_row,
                later_seq,
                f"out of order: it follows row {row} (seq {seq}), which comes after it",
            )
        if seq != self.last_seq + 1:
            first, last = self.last_seq + 1, seq - 1
            missing = f"seq {first}" if first == last else f"seq {first} to {last}"
            self.problem(row, seq, f"missing before it: {missing} (deleted)")
        elif previous != self.expected_previous:
            if previous in self.recent:
                earlier_seq, earlier_row = self.recent[previous]
                self.problem(
                    row,
                    seq,
                    f"out of order: it follows row {earlier_row} (seq {earlier_seq}), "
                    f"not row {self.last_row} (seq {self.last_seq})",
                )
            else:
                self.waiting[previous] = (seq, str(row))
        self.recent[stored] = (seq, str(row))
        self.order.append(stored)
        if len(self.order) > WINDOW:
            self.recent.pop(self.order.popleft(), None)
        self.expected_previous, self.last_seq, self.last_row = stored, seq, row

    def close(self) -> None:
        self.report.heads.append(
            f"{self.report.table}, organisation {self.organization}: newest row "
            f"{self.last_row} (seq {self.last_seq}) hash {self.expected_previous}"
        )
        for seq, row in self.waiting.values():
            self.problem(
                row,
                seq,
                f"its previous hash is no row's: row seq {seq - 1} was changed and its hash "
                "recomputed, or replaced",
            )


def verify_table(model: type[models.Model], *, using: str = "default") -> TableReport:
    """Walk every chain of `model`'s table in order, streaming (a server-side cursor)."""
    table = model._meta.db_table
    organization = model._meta.get_field("organization").column
    pk = model._meta.pk.column
    report = TableReport(table)
    connection = connections[using]
    query = (
        f'SELECT t."{pk}", t."{organization}", t.chain_seq, t.chain_previous_hash, '  # noqa: S608 (names from the model's meta)
        f'  t.chain_hash, audit_chain_content(t) FROM "{table}" t '
        f'ORDER BY t."{organization}" NULLS LAST, t.chain_seq'
    )
    chain = None
    with transaction.atomic(using=using), connection.chunked_cursor() as cursor:
        cursor.execute(query)
        while rows := cursor.fetchmany(2000):
            for row, org, seq, previous, stored, content in rows:
                org = str(org) if org is not None else "none"
                if chain is None or org != chain.organization:
                    if chain is not None:
                        chain.close()
                    chain = _Chain(report, org)
                    report.chains += 1
                chain.add(row, seq, previous, stored, content)
                report.rows += 1
    if chain is not None:
        chain.close()
    return report


def unchained(using: str = "default") -> list[str]:
    """Chained tables whose chain trigger is missing, outdated or disabled."""
    problems = (trigger_problem(model, HASH_CHAIN, using=using) for model in chained_models())
    return [problem for problem in problems if problem]


def trigger_problem(model: type[models.Model], name: str, *, using: str) -> str | None:
    """What is wrong with `model`'s trigger `name`: not declared, not installed as declared,
    or disabled in the database; None when it holds. (History and chains alike ask it.)"""
    table = model._meta.db_table
    trigger = next((t for t in getattr(model._meta, "triggers", []) if t.name == name), None)
    if trigger is None:
        return f"{table}: no {name} trigger declared on {model._meta.label}"
    status, enabled = trigger.get_installation_status(model, database=using)
    if status != INSTALLED:
        return f"{table}: trigger {name} is {status.lower()} in the database"
    if not enabled:
        return f"{table}: trigger {name} is disabled in the database"
    return None
