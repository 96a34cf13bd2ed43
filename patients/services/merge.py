"""Merging two records of one person: everything of one moves to the other, nothing is lost.

Which rows move, and what stops a merge, is read off the app registry by
patients.merging (so patients imports neither sessions nor aftercare).

Signed and issued rows (a signed session, an issued aftercare plan, a consent
signature, check-in answers, the access log...) have triggers that refuse any
UPDATE (pgtrigger's Protect). The merge asks pgtrigger to ignore exactly those
triggers (`pgtrigger.ignore`, a setting local to the transaction) around its
own UPDATE statements, which set the patient and nothing else; and it checks
that: a fingerprint of the moved rows without their patient column
(PostgreSQL's to_jsonb) is taken before and after, and any difference rolls
the whole merge back. A chart's rows point at their session, not at the
patient, so a signed chart is not touched at all.
"""

import contextlib
import uuid

import pghistory
import pgtrigger
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from clinics import access
from patients import selectors
from patients.exceptions import MergeRefused, NotPermitted
from patients.merging import Mover, clashes, filled_details, movers
from patients.models import Patient, PatientMerge


@transaction.atomic
def merge_patients(*, keep: Patient, merge_away: Patient, by, reason: str) -> PatientMerge:
    """Make two records of one person one: `merge_away`'s rows all move to `keep`.

    Only an organisation admin merges (they see every site). Refused, before
    anything changes, when either record was merged already, when they belong
    to two organisations, or when something of both cannot be one patient's
    (see `clashes`). Details `keep` lacks (e-mail, phone, address, emergency
    contact) and a portal login it lacks are taken from `merge_away`, which
    stays as a tombstone: hidden from lists and search, its page leading to
    `keep`. The PatientMerge row says who, when, why and how much moved; every
    moved row's history event carries the merge in its context.
    """
    reason = reason.strip()
    if not reason:
        raise ValidationError(
            {"reason": "Say why the two records are the same person: it is kept with the merge."}
        )
    if keep.pk == merge_away.pk:
        raise MergeRefused("A record cannot be merged into itself.", field="merge_away")
    ids = [keep.pk, merge_away.pk]
    # Lock both, in one order (two admins merging the pair each way queue up here),
    # then read them afresh: the second finds what the first did.
    list(Patient.all_records.select_for_update().filter(pk__in=ids).order_by("pk").values("pk"))
    locked = Patient.all_records.select_related("user", "home_clinic", "organization")
    keep, away = locked.get(pk=keep.pk), locked.get(pk=merge_away.pk)
    _check_allowed(keep, away, by)
    found = clashes(keep=keep, merge_away=away)
    if found:
        raise MergeRefused(
            f"{away.full_name} cannot be merged into {keep.full_name} yet: "
            f"{'; '.join(found)}. Nothing was changed. Settle this first (cancel one of two "
            "overlapping bookings, for example), then merge.",
            field="merge_away",
        )
    merge_id = uuid.uuid4()
    now = timezone.now()
    with pghistory.context(patient_merge=str(merge_id), user=str(by.pk), reason=reason):
        login_moved = _move_login(keep, away)
        filled = _fill_details(keep, away)
        moved = {}
        for mover in movers():
            count = _move_rows(mover, keep=keep, away=away)
            if count:
                moved[mover.label] = moved.get(mover.label, 0) + count
        earlier = Patient.all_records.filter(merged_into=away).update(merged_into=keep)
        if earlier:
            moved["records merged into it before"] = earlier
        away.merged_into, away.merged_at, away.version = keep, now, away.version + 1
        away.save(update_fields=["merged_into", "merged_at", "version"])
        if filled or login_moved:
            keep.version += 1
            keep.save(update_fields=[*filled, *(["user"] if login_moved else []), "version"])
        return PatientMerge.objects.create(
            id=merge_id,
            organization=keep.organization,
            kept=keep,
            merged=away,
            merged_by=by,
            merged_at=now,
            reason=reason,
            moved=moved,
            filled=filled,
            login_moved=login_moved,
        )


def _check_allowed(keep: Patient, away: Patient, by) -> None:
    # Both records must be ones the user sees (a merged one too: it is refused below,
    # saying where it went); a record of another organisation is simply not found.
    seen = access.visible_to(by, Patient.all_records.filter(pk__in=[keep.pk, away.pk]))
    if not selectors.may_merge(by, keep) or seen.count() != 2:
        raise NotPermitted(
            "Only an organisation admin may merge patient records: ask one to merge them."
        )
    for patient in (keep, away):
        if patient.is_merged:
            raise MergeRefused(
                f"{patient.full_name}'s record was merged into "
                f"{patient.merged_into.full_name}'s on {patient.merged_at:%Y-%m-%d}: merge "
                f"with that record instead.",
                field="keep" if patient is keep else "merge_away",
            )
    if keep.organization_id != away.organization_id:
        raise MergeRefused(
            "The two records belong to different organisations: each organisation keeps its "
            "own record of a patient.",
            field="merge_away",
        )


def _move_login(keep: Patient, away: Patient) -> bool:
    """`away`'s portal login goes to `keep`, which has none (both having one is a clash)."""
    if away.user_id is None:
        return False
    login, away.user = away.user, None
    away.save(update_fields=["user"])  # first: a login is one record's per organisation
    keep.user = login
    return True


def _fill_details(keep: Patient, away: Patient) -> list[str]:
    """The details `keep` lacks that `away` has, copied over; their names."""
    filled = filled_details(keep=keep, merge_away=away)
    for name in filled:
        setattr(keep, name, getattr(away, name))
    return filled


def _move_rows(mover: Mover, *, keep: Patient, away: Patient) -> int:
    ids = list(mover.rows(away.pk).values_list("pk", flat=True))
    if not ids:
        return 0
    protected = mover.protected_by
    before = _fingerprint(mover, ids) if protected else None
    ignoring = pgtrigger.ignore(*protected) if protected else contextlib.nullcontext()
    with ignoring:
        moved = mover.model._base_manager.filter(pk__in=ids).update(
            **{mover.field.attname: keep.pk}
        )
    if protected and _fingerprint(mover, ids) != before:
        raise RuntimeError(
            f"Merging changed more than the patient of {mover.label}: rolled back, nothing merged."
        )
    return moved


def _fingerprint(mover: Mover, ids: list) -> str:
    """A digest of the rows as they are, all but their patient column."""
    meta = mover.model._meta
    table, key = connection.ops.quote_name(meta.db_table), connection.ops.quote_name(meta.pk.column)
    # Table and column names come from the model; the values are parameters.
    query = (
        f"SELECT md5(string_agg((to_jsonb(row) - %s)::text, ',' ORDER BY row.{key}))"  # noqa: S608
        f" FROM {table} AS row WHERE row.{key} = ANY(%s)"
    )
    with connection.cursor() as cursor:
        cursor.execute(query, [mover.field.column, ids])
        return cursor.fetchone()[0]
