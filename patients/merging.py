"""What a patient merge moves and what stops it, read off the app registry.

Every model with a foreign key to Patient (in patients, sessions, aftercare
and whatever app comes next) has rows that a merge moves, except the history
pghistory keeps (an event says what a row was when it happened, and stays so),
the hash-chained logs (the access log: a row says whose record was read, as
it was then, and its hash covers the patient; the merged-away record points
at the kept one) and the merges themselves. Finding them here, generically, lets patients stay
below sessions and aftercare (it imports neither), and a new model that names
a patient is moved without anyone remembering to register it.

What two records cannot both bring is read off the same models: a unique
field or constraint, or an exclusion constraint, that includes the patient.
Some of these the merge settles itself (`settlements`), keeping one row for
the kept record and leaving the other, unchanged, with the merged-away one:
- one intake per patient: the newer intake is the kept record's current one
  (the older one's answers stay readable in the merge record);
- one recall notice per needle lot: the notice sent first is the kept
  record's (the patient was told then), the other stays as it was sent;
- any other unique rule: the kept record's own row stays.
What only a person can settle stops the merge (`clashes`): sessions at
overlapping times (cancel one), and two portal logins (disconnect the one the
person no longer uses). The merge service and the comparison page both ask.

The database refuses any row written for a record after it was merged away
(migration 0007, `refuse_merged_patient_sql`): services turn that refusal,
`PATIENT_MERGED`, into an error naming the patient (`merged_patient_refusal`).
"""

import functools
from dataclasses import dataclass

import pghistory.models
import pgtrigger
from django.apps import apps
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.lookups import PostgresOperatorLookup
from django.db import models
from django.db.models import Count, Exists, F, OuterRef, Q, Subquery
from django.db.models.lookups import Exact

from clinics.audit_chain import HashChained
from patients.models import Patient, PatientMerge


@dataclass(frozen=True)
class Mover:
    """One foreign key to Patient whose rows a merge moves to the kept record."""

    model: type[models.Model]
    field: models.ForeignKey

    @property
    def label(self) -> str:
        return str(self.model._meta.verbose_name_plural)

    @property
    def protected_by(self) -> list[str]:
        """The pgtrigger URIs of the triggers that refuse an UPDATE of these rows."""
        return [
            f"{self.model._meta.label}:{trigger.name}"
            for trigger in getattr(self.model._meta, "triggers", [])
            if isinstance(trigger, pgtrigger.Protect)
        ]

    def rows(self, patient_id) -> models.QuerySet:
        return self.model._base_manager.filter(**{self.field.attname: patient_id})


@functools.cache
def movers() -> tuple[Mover, ...]:
    """Every foreign key to Patient that a merge moves (see the module's docstring).

    Read once: the app registry does not change while the process runs.
    """
    found = []
    for model in apps.get_models(include_auto_created=True):
        if model in (Patient, PatientMerge) or issubclass(
            model, pghistory.models.Event | HashChained
        ):
            continue
        found += [
            Mover(model, field)
            for field in model._meta.concrete_fields
            if field.is_relation and field.related_model is Patient
        ]
    return tuple(sorted(found, key=lambda mover: (mover.model._meta.label, mover.field.name)))


@dataclass(frozen=True)
class OnePerPatient:
    """A rule that two rows of one patient cannot both hold: a unique or exclusion constraint.

    `expressions` are the constraint's other parts, each with the operator two
    clashing rows agree on ("=" for a unique constraint, "&&" for overlapping
    times); none at all for a unique patient field (one intake per patient).
    """

    mover: Mover
    expressions: tuple[tuple[object, str], ...] = ()
    condition: Q | None = None

    @property
    def only_one(self) -> bool:
        """One row per patient at all (an intake), not one per something else."""
        return all(
            _field_name(expression) in ("organization", "organization_id")
            for expression, _ in self.expressions
        )

    @property
    def settled_by_merge(self) -> bool:
        """The merge keeps one of two clashing rows: a unique rule, on rows it may change.

        An overlap (an exclusion constraint) is for a person to settle; so is
        one row per patient that nothing may change (there is none today).
        """
        if any(operator != "=" for _, operator in self.expressions):
            return False
        return not (self.only_one and self.mover.protected_by)

    @property
    def swap_key(self) -> str | None:
        """A text part of the rule, changed for a moment to swap two protected rows."""
        meta = self.mover.model._meta
        for expression, _ in self.expressions:
            name = _field_name(expression)
            if name and isinstance(meta.get_field(name), models.CharField):
                return meta.get_field(name).attname
        return None

    def first_clash(self, keep: Patient, away: Patient) -> tuple[object, object] | None:
        """A row of `away` and a row of `keep` that could not both be `keep`'s, if any."""
        return self._clashing(keep, away).first()

    def all_clashes(self, keep: Patient, away: Patient) -> list[tuple[object, object]]:
        """Every (row of `away`, row of `keep`) that could not both be `keep`'s."""
        return list(self._clashing(keep, away))

    def _clashing(self, keep: Patient, away: Patient) -> models.QuerySet:
        theirs, ours = self.mover.rows(away.pk), self.mover.rows(keep.pk)
        if self.condition is not None:
            theirs, ours = theirs.filter(self.condition), ours.filter(self.condition)
        names = [f"clash_{index}" for index in range(len(self.expressions))]
        for name, (expression, _) in zip(names, self.expressions, strict=True):
            theirs = theirs.alias(**{name: _expression(expression)})
            ours = ours.alias(**{name: _expression(expression)})
        agreeing = [
            _operator(operator)(F(name), OuterRef(name))
            for name, (_, operator) in zip(names, self.expressions, strict=True)
        ]
        ours = ours.filter(*agreeing)
        return (
            theirs.filter(Exists(ours))
            .annotate(clashes_with=Subquery(ours.values("pk")[:1]))
            .values_list("pk", "clashes_with")
            .order_by("pk")
        )

    def describe(self, clash: tuple[object, object]) -> str:
        manager = self.mover.model._base_manager
        theirs, ours = manager.get(pk=clash[0]), manager.get(pk=clash[1])
        rows = f"“{theirs}” and “{ours}”"
        meta = self.mover.model._meta
        if any(operator != "=" for _, operator in self.expressions):
            return f"both records have {meta.verbose_name_plural} that overlap ({rows})"
        same = [
            str(meta.get_field(name).verbose_name)
            for name in (_field_name(expression) for expression, _ in self.expressions)
            if name is not None and name not in ("organization", "organization_id")
        ]
        if same:
            kind = f"{_a(meta.verbose_name)} with the same {' and '.join(same)}"
            return f"both records have {kind} ({rows})"
        return f"both records have {_a(meta.verbose_name)}, and a patient has one ({rows})"


def one_per_patient_rules(mover: Mover) -> list[OnePerPatient]:
    """The rules on `mover`'s rows that a merge could break, read off its model."""
    field, meta = mover.field, mover.model._meta
    patient = {field.name, field.attname}
    rules = []
    if field.unique:
        rules.append(OnePerPatient(mover))
    unique_sets = [(tuple(fields), None) for fields in meta.unique_together]
    for constraint in meta.constraints:
        if isinstance(constraint, models.UniqueConstraint):
            parts = tuple(constraint.fields) or tuple(constraint.expressions)
            unique_sets.append((parts, constraint.condition))
        elif isinstance(constraint, ExclusionConstraint):
            parts = [(expression, operator) for expression, operator in constraint.expressions]
            if any(_field_name(expression) in patient for expression, _ in parts):
                others = tuple(
                    (expression, operator)
                    for expression, operator in parts
                    if _field_name(expression) not in patient
                )
                rules.append(OnePerPatient(mover, others, constraint.condition))
    for parts, condition in unique_sets:
        if any(_field_name(part) in patient for part in parts):
            others = tuple((part, "=") for part in parts if _field_name(part) not in patient)
            rules.append(OnePerPatient(mover, others, condition))
    return rules


def clashes(*, keep: Patient, merge_away: Patient) -> list[str]:
    """What stops these two records from being one, in words; empty when nothing does.

    Each says how to settle it. What the merge settles itself is not here
    (see `settlements`).
    """
    found = []
    if keep.user_id is not None and merge_away.user_id is not None:
        found.append(
            f"both records have a portal login ({merge_away.user.email} and "
            f"{keep.user.email}), and a patient has one: ask the person which login they "
            f"use, then disconnect the other one (in the admin, Patients, tick the record "
            f"whose login goes and run “{DISCONNECT_LOGIN}”); the login itself stays, "
            "with no record to open"
        )
    for mover in movers():
        for rule in one_per_patient_rules(mover):
            if rule.settled_by_merge:
                continue
            clash = rule.first_clash(keep, merge_away)
            if clash is not None:
                found.append(rule.describe(clash))
    return found


DISCONNECT_LOGIN = "Disconnect the portal login"
"""The admin action that settles a clash of two logins (patients.services.merge)."""


# Of two rows that cannot both be the kept record's, the one it keeps comes first
# in this order; the model's label keeps patients free of imports from above. A
# model not named here: the kept record's own row stays.
KEPT_FIRST = {
    "patients.Intake": (("-updated_at",), "the newer intake is the current one"),
    "treatment_sessions.RecallNotice": (
        (F("sent_at").asc(nulls_last=True), "requested_at"),
        "the notice sent first counts: the patient was told then",
    ),
}


@dataclass(frozen=True)
class Settlement:
    """Two clashing rows, and which the kept record keeps: the other stays with `away`."""

    rule: OnePerPatient
    theirs: object
    ours: object
    winner: object

    @property
    def theirs_win(self) -> bool:
        return self.winner == self.theirs


def settlements(*, keep: Patient, merge_away: Patient) -> list[Settlement]:
    """The clashes a merge settles itself (see the module's docstring), with their winners."""
    found, seen = [], set()
    for mover in movers():
        for rule in one_per_patient_rules(mover):
            if not rule.settled_by_merge:
                continue
            for theirs, ours in rule.all_clashes(keep, merge_away):
                if (mover.model, theirs) in seen:  # one clash, two rules (an intake's)
                    continue
                seen.add((mover.model, theirs))
                # Two rows of one rule trade places by a text part of their key: without
                # one, the kept record's own row stays.
                swappable = rule.only_one or rule.swap_key is not None
                winner = _winner(mover, theirs, ours) if swappable else ours
                found.append(Settlement(rule, theirs, ours, winner))
    return found


def _winner(mover: Mover, theirs, ours):
    label = mover.model._meta.label
    if label not in KEPT_FIRST:
        return ours
    order = KEPT_FIRST[label][0]
    return (
        mover.model._base_manager.filter(pk__in=[theirs, ours])
        .order_by(*order, "pk")
        .values_list("pk", flat=True)
        .first()
    )


def columns_a_merge_updates() -> list[tuple[type[models.Model], str]]:
    """(model, field) a merge UPDATEs on rows whose triggers refuse UPDATE: the patient, and
    a key two such rows trade for a moment when they swap (merge._swap). The role Fascia
    runs as may update these columns of such tables and no other (clinics/database_roles)."""
    found = []
    for mover in movers():
        if not mover.protected_by:
            continue
        found.append((mover.model, mover.field.name))
        for rule in one_per_patient_rules(mover):
            if rule.settled_by_merge and not rule.only_one and rule.swap_key is not None:
                found.append((mover.model, rule.swap_key))
    return found


# --- No row for a merged record -------------------------------------------------------

PATIENT_MERGED = "patient_not_merged"
"""The constraint name of the database's refusal of a row for a merged-away record."""


def refuse_merged_patient_sql(table: str, column: str) -> str:
    """The trigger (migration 0007) for a new table with a foreign key to Patient."""
    return (
        f"CREATE TRIGGER refuse_merged_{column} BEFORE INSERT OR UPDATE OF {column} "
        f"ON {table} FOR EACH ROW EXECUTE FUNCTION refuse_merged_patient('{column}');"
    )


def merged_patient_refusal(error: Exception) -> str | None:
    """The database's words when `error` is its refusal of a row for a merged record."""
    diag = getattr(error.__cause__, "diag", None)
    if diag is None or diag.constraint_name != PATIENT_MERGED:
        return None
    return diag.message_primary


EMERGENCY_CONTACT = (
    "emergency_contact_name",
    "emergency_contact_relationship",
    "emergency_contact_phone",
)
FILLED_ONE_BY_ONE = ("email", "phone", "address")


def filled_details(*, keep: Patient, merge_away: Patient) -> list[str]:
    """The details `keep` lacks and `merge_away` has, which a merge copies to `keep`.

    E-mail, phone and address one by one; the emergency contact as a whole, and
    only when `keep` has none (one person's name with another's phone is wrong).
    """
    filled = [
        name for name in FILLED_ONE_BY_ONE if not getattr(keep, name) and getattr(merge_away, name)
    ]
    if not any(getattr(keep, name) for name in EMERGENCY_CONTACT):
        filled += [name for name in EMERGENCY_CONTACT if getattr(merge_away, name)]
    return filled


def row_counts(patients: list[Patient]) -> list[tuple[str, dict]]:
    """(kind of row, {patient id: how many}) for each kind the patients have: one query a kind."""
    ids = [patient.pk for patient in patients]
    counts: dict[str, dict] = {}
    for mover in movers():
        found = (
            mover.model._base_manager.filter(**{f"{mover.field.attname}__in": ids})
            .values(mover.field.attname)
            .annotate(rows=Count("pk"))
            .values_list(mover.field.attname, "rows")
            .order_by()
        )
        for patient_id, rows in found:
            kind = counts.setdefault(mover.label, {})
            kind[patient_id] = kind.get(patient_id, 0) + rows
    return sorted(counts.items())


def _expression(part):
    return F(part) if isinstance(part, str) else part


def _field_name(part) -> str | None:
    if isinstance(part, str):
        return part
    return part.name if isinstance(part, F) else None


def _operator(operator: str):
    if operator == "=":
        return Exact
    return type(
        "ClashOperator",
        (PostgresOperatorLookup,),
        {"lookup_name": "clash_operator", "postgres_operator": operator},
    )


def _a(noun) -> str:
    noun = str(noun)
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"
