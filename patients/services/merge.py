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

Rows both records have where a patient has one (an intake, a recall notice for
one needle lot) are settled, not refused (patients.merging.settlements): the
kept record keeps one, the other stays as it is with the merged-away record,
and the merge record says which and what the one no longer current said.

A row written for the merged-away record after the merge (a booking that read
the patient a moment before) is refused by the database (migration 0007): the
merge holds both patient rows FOR UPDATE, which that refusal's lock waits for.
"""

import contextlib
import uuid

import pghistory
import pgtrigger
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from clinics import access
from patients import selectors
from patients.exceptions import MergeRefused, NotPermitted
from patients.merging import (
    DISCONNECT_LOGIN,
    KEPT_FIRST,
    Mover,
    Settlement,
    clashes,
    filled_details,
    movers,
    settlements,
)
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
    # then read them afresh: the second finds what the first did. FOR UPDATE, not
    # FOR NO KEY UPDATE: a row being written for either patient (which takes FOR KEY
    # SHARE, see migration 0007) waits for the merge, or the merge waits for it.
    list(Patient.all_records.select_for_update().filter(pk__in=ids).order_by("pk").values("pk"))
    locked = Patient.all_records.select_related("user", "home_clinic", "organization")
    keep, away = locked.get(pk=keep.pk), locked.get(pk=merge_away.pk)
    _check_allowed(keep, away, by)
    found = clashes(keep=keep, merge_away=away)
    if found:
        raise MergeRefused(
            f"{away.full_name} cannot be merged into {keep.full_name} yet: "
            f"{'; '.join(found)}. Nothing was changed. Settle this first, then merge.",
            field="merge_away",
        )
    to_settle = settlements(keep=keep, merge_away=away)
    merge_id = uuid.uuid4()
    now = timezone.now()
    with pghistory.context(patient_merge=str(merge_id), user=str(by.pk), reason=reason):
        login_moved = _move_login(keep, away)
        filled = _fill_details(keep, away)
        settled, staying = _settle(to_settle, keep=keep, away=away)
        moved = {}
        for mover in movers():
            count = _move_rows(mover, keep=keep, away=away, staying=staying.get(mover, ()))
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
            settled=settled,
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


def _move_rows(mover: Mover, *, keep: Patient, away: Patient, staying=()) -> int:
    ids = list(mover.rows(away.pk).exclude(pk__in=list(staying)).values_list("pk", flat=True))
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


def _settle(found: list[Settlement], *, keep: Patient, away: Patient) -> tuple[list, dict]:
    """Keep one row of each clash for `keep`; (what the merge record says, rows left with `away`).

    The row `keep` does not keep stays with `away`, as it is: an intake's
    newer answers are copied into `keep`'s intake instead (one per patient, so
    the two rows cannot trade places); two rows of another rule trade patients.
    """
    said, staying = [], {}
    for clash in found:
        mover, rule = clash.rule.mover, clash.rule
        no_longer_current = _as_stored(mover, clash.ours if clash.theirs_win else clash.theirs)
        if not clash.theirs_win:
            kept, stays = clash.ours, clash.theirs
        elif rule.only_one:
            _take_content(mover, into=clash.ours, source=clash.theirs)
            kept, stays = clash.ours, clash.theirs
        else:
            _swap(clash, keep=keep, away=away)
            kept, stays = clash.theirs, clash.ours
        staying.setdefault(mover, set()).add(stays)
        label = mover.model._meta.label
        why = KEPT_FIRST[label][1] if label in KEPT_FIRST else "the kept record's own stays"
        said.append(
            {
                "kind": str(mover.model._meta.verbose_name),
                "kept": str(kept),
                "from": "merged record" if clash.theirs_win else "kept record",
                "why": why,
                "stays_with_merged_record": str(stays),
                "no_longer_current": no_longer_current,
            }
        )
    return said, staying


def _as_stored(mover: Mover, pk) -> dict:
    return mover.model._base_manager.filter(pk=pk).values().get()


def _take_content(mover: Mover, *, into, source) -> None:
    """Row `into` says what row `source` says (its own id, patient and version aside)."""
    meta = mover.model._meta
    skipped = {meta.pk.attname, mover.field.attname, "organization_id", "version"}
    names = [field.attname for field in meta.concrete_fields if field.attname not in skipped]
    content = mover.model._base_manager.filter(pk=source).values(*names).get()
    if any(field.attname == "version" for field in meta.concrete_fields):
        content["version"] = F("version") + 1
    mover.model._base_manager.filter(pk=into).update(**content)


def _swap(clash: Settlement, *, keep: Patient, away: Patient) -> None:
    """`away`'s row becomes `keep`'s and `keep`'s becomes `away`'s, nothing else changing.

    A unique rule is checked row by row, so the two cannot trade places in one
    statement: `keep`'s row first takes a key no row has, past its protection (it
    takes its own key back below, in this transaction), and its history records that
    step as every other: history triggers are never skipped (clinics/database_roles.py);
    then each moves, as any moved row, in the history.
    """
    mover, key = clash.rule.mover, clash.rule.swap_key
    manager, patient = mover.model._base_manager, mover.field.attname
    rows = [clash.ours, clash.theirs]
    before = _fingerprint(mover, rows)
    own_key = manager.filter(pk=clash.ours).values_list(key, flat=True).get()
    every_trigger = [
        f"{mover.model._meta.label}:{trigger.name}"
        for trigger in getattr(mover.model._meta, "triggers", [])
    ]
    with pgtrigger.ignore(*every_trigger):
        manager.filter(pk=clash.ours).update(**{key: f"~merging {uuid.uuid4().hex[:12]}"})
    protected = mover.protected_by
    with pgtrigger.ignore(*protected) if protected else contextlib.nullcontext():
        manager.filter(pk=clash.theirs).update(**{patient: keep.pk})
        manager.filter(pk=clash.ours).update(**{patient: away.pk, key: own_key})
    if _fingerprint(mover, rows) != before:
        raise RuntimeError(
            f"Merging changed more than the patient of {mover.label}: rolled back, nothing merged."
        )


@transaction.atomic
def disconnect_portal_login(*, patient: Patient, by) -> Patient:
    """Take the portal login off `patient`'s record: how two logins of one person are settled.

    Only an organisation admin does it (as only they merge). The login itself
    stays (the person can still log in; they open no record of this
    organisation until invited again); the record's history keeps who did it.
    """
    patient = (
        Patient.objects.select_for_update(of=("self",)).select_related("user").get(pk=patient.pk)
    )
    seen = access.visible_to(by, Patient.objects.filter(pk=patient.pk)).exists()
    if not seen or not selectors.may_merge(by, patient):
        raise NotPermitted(
            "Only an organisation admin may disconnect a patient's portal login: ask one."
        )
    if patient.user_id is None:
        raise MergeRefused(f"{patient.full_name}'s record has no portal login.", field="user")
    with pghistory.context(user=str(by.pk), reason=DISCONNECT_LOGIN):
        patient.user, patient.version = None, patient.version + 1
        patient.save(update_fields=["user", "version"])
    return patient
