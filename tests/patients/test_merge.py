"""Merging two records of one person: everything moves, nothing is lost, signed stays signed."""

import datetime
import re
import threading
from html import unescape

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from aftercare.models import AftercarePlan, CheckIn, CheckInAnswer
from clinics.models import Role
from patients import selectors
from patients.exceptions import MergeRefused, NotPermitted
from patients.merging import merged_patient_refusal, movers
from patients.models import (
    ConsentSignature,
    Intake,
    Patient,
    PatientEvent,
    PatientMerge,
    ReadVia,
    RecordPart,
    RecordRead,
    Surgery,
)
from patients.services import record_reads, save_intake
from patients.services.merge import disconnect_portal_login, merge_patients
from sessions.exceptions import BookingRefused
from sessions.models import Chart, NeedleSite, NoticeStatus, RecallNotice, TreatmentSession
from sessions.services import book_session
from tests.clinics.factories import staff
from tests.patients.factories import PatientFactory, tomorrow_at, with_portal_login
from tests.processes import race

REASON = "Registered twice: same person, same phone, name misspelt at the Vernon desk"


def ada_twice(world):
    """Ada Quinn's full record (a signed session, consent, aftercare, a login...), and a
    second, nearly empty record of her registered as "Ada Quin"."""
    record = world.kelowna_record()
    second = PatientFactory(
        home_clinic=world.vernon,
        first_name="Ada",
        last_name="Quin",
        date_of_birth=record.patient.date_of_birth,
        email="",
        phone="",
    )
    return record, second


def rows_of(patient_id) -> dict[str, int]:
    """How many rows of each kind name this patient, in every model that names one."""
    counts = {}
    for mover in movers():
        count = mover.rows(patient_id).count()
        if count:
            counts[mover.label] = counts.get(mover.label, 0) + count
    return counts


def as_stored(model, pk, *, without=("patient_id",)) -> dict:
    row = model._base_manager.filter(pk=pk).values().get()
    return {name: value for name, value in row.items() if name not in without}


def test_everything_of_the_merged_record_moves_to_the_kept_one(world):
    record, kept = ada_twice(world)
    away = record.patient
    before = rows_of(away.pk)
    assert {"treatment sessions", "consent signatures", "aftercare plans", "check-ins"} <= set(
        before
    )

    merge = merge_patients(keep=kept, merge_away=away, by=world.org_admin, reason=REASON)

    assert rows_of(away.pk) == {}
    assert rows_of(kept.pk) == before
    assert merge.moved == before
    assert (merge.kept, merge.merged, merge.merged_by) == (kept, away, world.org_admin)
    assert merge.reason == REASON
    # The kept record had no e-mail, phone or login: it takes the other record's.
    kept.refresh_from_db()
    assert kept.email == "ada@example.test"
    assert kept.user == record.aftercare.answer.answered_by
    assert merge.login_moved
    assert set(merge.filled) >= {"email", "phone"}


def test_signed_and_issued_records_stay_byte_for_byte_as_they_were(world):
    record, kept = ada_twice(world)
    session, plan = record.session, record.aftercare.plan
    chart, site = record.charted.chart, record.charted.needle_site
    kept_as_is = {
        (TreatmentSession, session.pk): as_stored(TreatmentSession, session.pk),
        (AftercarePlan, plan.pk): as_stored(AftercarePlan, plan.pk),
        (ConsentSignature, record.consent.pk): as_stored(ConsentSignature, record.consent.pk),
        (CheckInAnswer, record.aftercare.answer.pk): as_stored(
            CheckInAnswer, record.aftercare.answer.pk
        ),
        (RecordRead, record.read.pk): as_stored(RecordRead, record.read.pk),
        (Chart, chart.pk): as_stored(Chart, chart.pk, without=()),
        (NeedleSite, site.pk): as_stored(NeedleSite, site.pk, without=()),
    }

    merge_patients(keep=kept, merge_away=record.patient, by=world.org_admin, reason=REASON)

    for (model, pk), stored in kept_as_is.items():
        without = ("patient_id",) if "patient_id" not in stored else ()
        assert as_stored(model, pk, without=without) == stored, model.__name__
    assert TreatmentSession.objects.get(pk=session.pk).patient_id == kept.pk
    # The triggers still refuse any change to what is signed, after the merge as before.
    with pytest.raises(DatabaseError, match="Cannot update"), transaction.atomic():
        TreatmentSession.objects.filter(pk=session.pk).update(patient=record.patient)
    with pytest.raises(DatabaseError), transaction.atomic():
        ConsentSignature.objects.filter(pk=record.consent.pk).update(signer_name="Someone")


def test_a_merge_that_would_change_signed_content_is_rolled_back_whole(as_database_owner, world):
    # Someone who holds the database (its owner) added the trigger: Fascia's role cannot.
    record, kept = ada_twice(world)
    # Something at the database rewrites a signature whenever its row is updated.
    with connection.cursor() as cursor:
        cursor.execute(
            """
            CREATE FUNCTION rewrite_signer() RETURNS trigger AS $$
            BEGIN NEW.signer_name := 'Rewritten'; RETURN NEW; END $$ LANGUAGE plpgsql;
            CREATE TRIGGER aa_rewrite_signer BEFORE UPDATE ON patients_consentsignature
            FOR EACH ROW EXECUTE FUNCTION rewrite_signer();
            """
        )
    with pytest.raises(RuntimeError, match="more than the patient of consent signatures"):
        merge_patients(keep=kept, merge_away=record.patient, by=world.org_admin, reason=REASON)
    signature = ConsentSignature.objects.get(pk=record.consent.pk)
    assert (signature.patient_id, signature.signer_name) == (record.patient.pk, "Ada Quinn")
    assert not PatientMerge.objects.exists()
    assert Patient.objects.filter(pk=record.patient.pk).exists()


def test_the_merged_record_is_a_tombstone_hidden_from_lists_search_and_duplicates(world):
    record, kept = ada_twice(world)
    away = record.patient
    merge = merge_patients(keep=kept, merge_away=away, by=world.org_admin, reason=REASON)

    tombstone = Patient.all_records.get(pk=away.pk)
    assert (tombstone.merged_into, tombstone.merged_at) == (kept, merge.merged_at)
    assert tombstone.user is None
    assert (tombstone.first_name, tombstone.last_name) == ("Ada", "Quinn")  # kept as it was
    assert not Patient.objects.filter(pk=away.pk).exists()
    assert [p.pk for p in selectors.search_patients(world.org_admin, "Ada Quinn")] == [kept.pk]
    assert [
        p.pk
        for p in selectors.likely_duplicates(
            organization=world.organization,
            first_name="Ada",
            last_name="Quinn",
            date_of_birth=kept.date_of_birth,
        )
    ] == [kept.pk]
    assert selectors.moved_to(world.therapist, away.pk) is None  # Vernon's record
    assert selectors.moved_to(world.org_admin, away.pk) == kept


def test_the_merge_is_in_the_history_of_every_row_it_moved(world):
    record, kept = ada_twice(world)
    merge = merge_patients(keep=kept, merge_away=record.patient, by=world.org_admin, reason=REASON)

    tombstone = PatientEvent.objects.filter(pgh_obj_id=record.patient.pk).order_by("pgh_id").last()
    assert tombstone.merged_into_id == kept.pk
    assert tombstone.pgh_context.metadata["patient_merge"] == str(merge.pk)
    moved = record.session.events.order_by("pgh_id").last()
    assert (moved.pgh_label, moved.patient_id) == ("update", kept.pk)
    assert moved.pgh_context.metadata["reason"] == REASON
    assert moved.pgh_context.metadata["user"] == str(world.org_admin.pk)
    assert merge.events.get().pgh_label == "insert"


def test_a_record_merged_before_follows_into_the_new_kept_record(world):
    record, kept = ada_twice(world)
    first = PatientFactory(home_clinic=world.kelowna, first_name="A.", last_name="Quinn")
    merge_patients(keep=record.patient, merge_away=first, by=world.org_admin, reason=REASON)
    merge = merge_patients(keep=kept, merge_away=record.patient, by=world.org_admin, reason=REASON)

    assert Patient.all_records.get(pk=first.pk).merged_into == kept
    assert merge.moved["records merged into it before"] == 1
    with pytest.raises(MergeRefused, match="was merged into Ada Quin's"):
        merge_patients(keep=kept, merge_away=first, by=world.org_admin, reason=REASON)


@pytest.mark.parametrize("who", ["therapist", "manager", "front_desk", "other_admin"])
def test_only_an_organisation_admin_merges(world, who):
    record, kept = ada_twice(world)
    with pytest.raises(NotPermitted, match="Only an organisation admin"):
        merge_patients(keep=kept, merge_away=record.patient, by=getattr(world, who), reason=REASON)
    assert not PatientMerge.objects.exists()
    assert rows_of(kept.pk) == {}


def test_a_reason_is_required_naming_the_field(world):
    record, kept = ada_twice(world)
    with pytest.raises(ValidationError) as refused:
        merge_patients(keep=kept, merge_away=record.patient, by=world.org_admin, reason="  ")
    assert "reason" in refused.value.message_dict


def test_a_record_is_not_merged_into_itself_nor_across_organisations(world):
    record, _ = ada_twice(world)
    with pytest.raises(MergeRefused, match="into itself"):
        merge_patients(
            keep=record.patient, merge_away=record.patient, by=world.org_admin, reason=REASON
        )
    elsewhere = PatientFactory(home_clinic=world.halifax)
    with pytest.raises(NotPermitted):
        merge_patients(keep=record.patient, merge_away=elsewhere, by=world.org_admin, reason=REASON)


@pytest.mark.django_db(transaction=True)
def test_two_admins_merging_the_two_records_each_way_at_once_make_one_merge(world):
    first = PatientFactory(home_clinic=world.kelowna, first_name="Emma", last_name="Clark")
    second = PatientFactory(home_clinic=world.kelowna, first_name="Emma", last_name="Clarke")
    admin = staff(Role.ORG_ADMIN, organization=world.organization)
    outcomes, barrier = [], threading.Barrier(2)

    def merge(keep, away, by):
        try:
            barrier.wait()
            outcomes.append(merge_patients(keep=keep, merge_away=away, by=by, reason=REASON))
        except MergeRefused as refused:
            outcomes.append(refused)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=merge, args=(first, second, world.org_admin)),
        threading.Thread(target=merge, args=(second, first, admin)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(type(outcome).__name__ for outcome in outcomes) == [
        "MergeRefused",
        "PatientMerge",
    ]
    assert "merge with that record instead" in next(
        outcome.message for outcome in outcomes if isinstance(outcome, MergeRefused)
    )
    assert Patient.objects.count() == 1


def test_two_portal_logins_are_a_clash_named_with_how_to_settle_it(world):
    record, kept = ada_twice(world)
    kept.email = "ada.quin@example.test"
    kept.save()
    with_portal_login(kept)
    before = rows_of(record.patient.pk)
    with pytest.raises(MergeRefused) as refused:
        merge_patients(keep=kept, merge_away=record.patient, by=world.org_admin, reason=REASON)
    message = refused.value.message
    assert "both records have a portal login (ada@example.test and ada.quin@example.test)" in (
        message
    )
    assert "disconnect the other one" in message and "Disconnect the portal login" in message
    assert "Nothing was changed" in message
    assert rows_of(record.patient.pk) == before
    assert Patient.objects.filter(pk=record.patient.pk).exists()


def test_disconnecting_the_login_the_person_no_longer_uses_lets_the_merge_go_through(
    world, client_of
):
    record, kept = ada_twice(world)
    kept.email = "ada.quin@example.test"
    kept.save()
    unused = with_portal_login(kept).user
    with pytest.raises(NotPermitted):
        disconnect_portal_login(patient=kept, by=world.manager)

    client_of(world.org_admin).post(
        reverse("admin:patients_patient_changelist"),
        {"action": "disconnect_portal_login", "_selected_action": [str(kept.pk)]},
    )

    kept.refresh_from_db()
    assert kept.user is None
    assert User.objects.filter(pk=unused.pk, is_active=True).exists()  # the login stays
    event = PatientEvent.objects.filter(pgh_obj_id=kept.pk).order_by("pgh_id").last()
    assert event.pgh_context.metadata["reason"] == "Disconnect the portal login"
    merge = merge_patients(keep=kept, merge_away=record.patient, by=world.org_admin, reason=REASON)
    assert merge.login_moved
    assert Patient.objects.get(pk=kept.pk).user == record.aftercare.answer.answered_by
    with pytest.raises(MergeRefused, match="has no portal login"):
        disconnect_portal_login(
            patient=PatientFactory(home_clinic=world.kelowna), by=world.org_admin
        )


def years_ago(years: int) -> datetime.date:
    """A day about `years` before today, on whatever day the test runs."""
    return timezone.localdate() - datetime.timedelta(days=365 * years)


def intake_for(patient, *, by, complaint: str, surgery: tuple[str, datetime.date], days: int):
    """An intake of `patient` saved `days` from now (negative: before)."""
    with time_machine.travel(timezone.now() + datetime.timedelta(days=days), tick=False):
        return save_intake(
            patient=patient,
            by=by,
            presenting_complaint=complaint,
            activity_level="light",
            surgeries=[surgery],
        )


@pytest.mark.parametrize("newer", ["kept", "merged"])
def test_two_intakes_the_newer_is_current_and_the_older_answers_stay_readable(world, newer):
    record, kept = ada_twice(world)
    away = record.patient
    intake_for(
        kept,
        by=world.org_admin,
        complaint="Sore right shoulder",
        surgery=("Knee arthroscopy", years_ago(7)),
        days=30 if newer == "kept" else -30,
    )
    theirs = "Stiff neck after long days at the desk"  # the merged record's (saved today)
    current, older = (
        ("Sore right shoulder", theirs) if newer == "kept" else (theirs, "Sore right shoulder")
    )
    kept_intake = Intake.objects.get(patient=kept)

    merge = merge_patients(keep=kept, merge_away=away, by=world.org_admin, reason=REASON)

    intake = Intake.objects.get(patient=kept)
    assert intake.pk == kept_intake.pk  # the kept record keeps its intake row
    assert intake.presenting_complaint == current
    # The merged record's intake stays, as it was, with the merged record.
    assert Intake.objects.get(patient=away).presenting_complaint == theirs
    [settled] = merge.settled
    assert (settled["kind"], settled["kept"]) == ("intake", str(kept_intake.pk))
    assert settled["from"] == ("kept record" if newer == "kept" else "merged record")
    assert settled["no_longer_current"]["presenting_complaint"] == older
    assert settled["why"] == "the newer intake is the current one"
    # Past surgeries are the patient's, not the intake's: both records' are kept.
    assert set(kept.surgeries.values_list("description", flat=True)) == {
        "Appendectomy",
        "Knee arthroscopy",
    }
    if newer == "merged":
        assert intake.version == kept_intake.version + 1
        replaced = intake.events.order_by("pgh_id").last()
        assert replaced.pgh_context.metadata["patient_merge"] == str(merge.pk)


@pytest.mark.parametrize("first", ["kept", "merged"])
def test_two_sent_recall_notices_for_one_lot_the_first_sent_is_kept(world, first):
    away = PatientFactory(home_clinic=world.kelowna, first_name="Emma", last_name="Clarke")
    kept = PatientFactory(home_clinic=world.kelowna, first_name="Emma", last_name="Clark")
    earlier = timezone.now() - datetime.timedelta(days=2)
    notices = {}
    for who, patient in (("merged", away), ("kept", kept)):
        hours = 0 if who == first else 5
        notices[who] = RecallNotice.objects.create(
            organization=world.organization,
            patient=patient,
            lot_number="LOT 77",
            email=f"{who}@example.test",
            status=NoticeStatus.SENT,
            sent_by=world.org_admin,
            requested_at=earlier,
            sent_at=earlier + datetime.timedelta(hours=hours),
            attempts=1,
            clinic=world.kelowna,
        )
    as_sent = {who: as_stored(RecallNotice, notice.pk) for who, notice in notices.items()}
    kept_first, other = notices[first], notices["kept" if first == "merged" else "merged"]

    merge = merge_patients(keep=kept, merge_away=away, by=world.org_admin, reason=REASON)

    assert RecallNotice.objects.get(patient=kept, lot_number="LOT 77").pk == kept_first.pk
    assert RecallNotice.objects.get(pk=other.pk).patient_id == away.pk
    for who, notice in notices.items():  # as sent, byte for byte, their patient aside
        assert as_stored(RecallNotice, notice.pk) == as_sent[who]
    [settled] = merge.settled
    assert settled["kept"] == str(kept_first.pk)
    assert settled["stays_with_merged_record"] == str(other.pk)
    assert settled["why"].startswith("the notice sent first counts")
    # The history shows every step, the key they traded places by too: nothing skips it.
    lots = set(
        RecallNotice.pgh_event_model.objects.filter(
            pgh_obj_id__in=[kept_first.pk, other.pk]
        ).values_list("lot_number", flat=True)
    )
    assert {lot for lot in lots if not lot.startswith("~merging ")} == {"LOT 77"}
    assert len(lots) <= 2  # one key traded by, where the two traded places
    with pytest.raises(DatabaseError), transaction.atomic():
        RecallNotice.objects.filter(pk=other.pk).update(email="changed@example.test")


def test_two_bookings_at_one_time_are_a_clash_naming_both(world):
    away = PatientFactory(home_clinic=world.kelowna, first_name="Emma", last_name="Clarke")
    kept = PatientFactory(home_clinic=world.kelowna, first_name="Emma", last_name="Clark")
    at = tomorrow_at(10, clinic=world.kelowna)
    for patient, therapist, starts_at in (
        (away, world.therapist, at),
        (kept, staff(Role.THERAPIST, clinic=world.kelowna), at + datetime.timedelta(minutes=15)),
    ):
        book_session(
            clinic=world.kelowna,
            therapist=therapist,
            patient=patient,
            starts_at=starts_at,
            by=world.org_admin,
        )
    with pytest.raises(MergeRefused) as refused:
        merge_patients(keep=kept, merge_away=away, by=world.org_admin, reason=REASON)
    message = refused.value.message
    assert "both records have treatment sessions that overlap" in message
    assert "Emma Clarke with" in message and "Emma Clark with" in message
    assert TreatmentSession.objects.filter(patient=away).count() == 1


def test_the_database_refuses_a_row_for_a_merged_record(world):
    record, kept = ada_twice(world)
    away = record.patient
    merge_patients(keep=kept, merge_away=away, by=world.org_admin, reason=REASON)
    refusal = pytest.raises(IntegrityError, match="was merged into Ada Quin's record")
    with refusal as refused, transaction.atomic():
        Surgery.objects.create(
            organization=world.organization,
            patient=away,
            description="Tonsillectomy",
            performed_on=years_ago(25),
        )
    assert merged_patient_refusal(refused.value).endswith(": use that one.")
    surgery = Surgery.objects.filter(patient=kept).first()
    with pytest.raises(IntegrityError, match="use that one"), transaction.atomic():
        Surgery.objects.filter(pk=surgery.pk).update(patient=away)
    # Rows that stay with the merged record may still change otherwise.
    Intake.objects.filter(patient=away).update(goals="Back to climbing")


@pytest.mark.django_db
def test_every_table_that_names_a_patient_refuses_rows_for_a_merged_record():
    """A new model with a foreign key to Patient needs the trigger of migration 0007 too."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgrelid::regclass::text, pg_get_triggerdef(oid) FROM pg_trigger "
            "WHERE tgname LIKE 'refuse_merged_%%'"
        )
        guarded = {
            (table, definition.rsplit("refuse_merged_patient('", 1)[1].split("'")[0])
            for table, definition in cursor.fetchall()
        }
    missing = [
        (mover.model._meta.db_table, mover.field.column)
        for mover in movers()
        if (mover.model._meta.db_table, mover.field.column) not in guarded
    ]
    assert not missing, (
        "Add a migration with RunSQL(patients.merging.refuse_merged_patient_sql(table, "
        f"column)) for each of {missing}"
    )


@pytest.mark.django_db(transaction=True)
def test_a_booking_on_its_way_while_a_merge_commits_is_refused_naming_the_patient(world):
    away = PatientFactory(home_clinic=world.kelowna, first_name="Emma", last_name="Clarke")
    kept = PatientFactory(home_clinic=world.kelowna, first_name="Emma", last_name="Clark")
    merged, release, outcome = threading.Event(), threading.Event(), {}

    def merge():
        try:
            with transaction.atomic():  # merged, not yet committed, until released
                merge_patients(keep=kept, merge_away=away, by=world.org_admin, reason=REASON)
                merged.set()
                release.wait(10)
        finally:
            connection.close()

    def book():
        try:
            outcome["booked"] = book_session(
                clinic=world.kelowna,
                therapist=world.therapist,
                patient=away,  # as the desk read it, before the merge committed
                starts_at=tomorrow_at(10, clinic=world.kelowna),
                by=world.front_desk,
            )
        except BookingRefused as refused:
            outcome["refused"] = refused
        finally:
            connection.close()

    race(merge, book, holding=merged, release=release)  # the booking waits on the patient

    assert "booked" not in outcome
    refused = outcome["refused"]
    assert refused.field == "patient"
    assert "Emma Clarke's record was merged into Emma Clark's record" in refused.message
    assert not TreatmentSession.objects.filter(patient_id=away.pk).exists()


def test_every_row_that_names_a_patient_is_moved_by_the_merge():
    """A new model with a foreign key to Patient is found without being listed anywhere."""
    found = {(mover.model._meta.label, mover.field.name) for mover in movers()}
    assert found >= {
        ("patients.Intake", "patient"),
        ("treatment_sessions.TreatmentSession", "patient"),
        ("aftercare.CheckIn", "patient"),
        ("aftercare.CheckInAnswer", "patient"),
        ("aftercare.Alert", "patient"),
        ("aftercare.AftercarePlan", "patient"),
    }
    assert not {label for label, _ in found if label.endswith("Event")}
    # The access log stays as written: its rows are hash-chained (clinics/audit_chain.py).
    assert ("patients.RecordRead", "patient") not in found
    assert ("patients.PatientMerge", "kept") not in found
    assert CheckIn in {mover.model for mover in movers()}


def test_merge_integrity_holds_in_the_database(world):
    record, kept = ada_twice(world)
    merge = merge_patients(keep=kept, merge_away=record.patient, by=world.org_admin, reason=REASON)
    with pytest.raises(IntegrityError), transaction.atomic():
        Patient.all_records.filter(pk=record.patient.pk).update(merged_at=None)
    with pytest.raises(DatabaseError), transaction.atomic():
        PatientMerge.objects.filter(pk=merge.pk).update(reason="Changed my mind")


def test_a_read_of_the_record_a_moment_before_its_merge_is_still_logged(world):
    """A list that showed the record just before the merge committed logs its read after:
    the access log takes it (it is never moved), where other tables refuse the tombstone."""
    record, kept = ada_twice(world)
    merge_patients(keep=kept, merge_away=record.patient, by=world.org_admin, reason=REASON)
    tombstone = Patient.all_records.get(pk=record.patient.pk)
    record_reads(
        reader=world.front_desk, patients=[tombstone], part=RecordPart.LIST, via=ReadVia.PAGE
    )
    assert RecordRead.objects.filter(reader=world.front_desk, patient=tombstone).count() == 1


def test_the_tombstones_page_leads_to_the_kept_record(world, client_of):
    record, kept = ada_twice(world)
    merge_patients(keep=kept, merge_away=record.patient, by=world.org_admin, reason=REASON)
    client = client_of(world.org_admin)
    response = client.get(reverse("patients:detail", args=[record.patient.pk]), follow=True)
    assert response.redirect_chain[0][0] == reverse("patients:detail", args=[kept.pk])
    assert "was merged into" in response.content.decode()
    consent = reverse("patients:consent_detail", args=[record.patient.pk, record.consent.pk])
    followed = client.get(consent)
    assert followed.headers["Location"] == consent.replace(str(record.patient.pk), str(kept.pk))
    assert (
        client_of(world.therapist)
        .get(reverse("patients:detail", args=[record.patient.pk]))
        .status_code
        == 404
    )


# --- The pages and the API -------------------------------------------------------------


def text(response) -> str:
    """What a reader sees: the page without tags and with single spaces."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def test_an_organisation_admin_finds_the_duplicate_compares_and_merges(world, client_of):
    record, kept = ada_twice(world)
    away = record.patient
    client = client_of(world.org_admin)
    page = client.get(reverse("patients:detail", args=[kept.pk]))
    choose = reverse("patients:merge_choose", args=[kept.pk])
    assert choose in page.content.decode()

    chosen = client.get(choose)
    compare = reverse("patients:merge", args=[kept.pk, away.pk])
    assert compare in chosen.content.decode()
    assert "Quinn, Ada" in text(chosen)
    assert "a name like this one and this date of birth" in text(chosen)

    compared = client.get(compare)
    shown = text(compared)
    # Both records' details are shown: two reads in the access log.
    assert {
        pk
        for read in RecordRead.objects.filter(reader=world.org_admin).of_patients([away.pk])
        for pk in read.patient_ids
    } == {away.pk, kept.pk}
    assert "Merged away: Ada Quinn Kept: Ada Quin Kept, after merging" in shown
    assert "E-mail ada@example.test — ada@example.test" in shown  # taken from the other
    assert "Treatment sessions 1 0 1" in shown
    assert "cannot be merged" not in shown

    done = client.post(compare, {"reason": REASON}, follow=True)
    assert done.redirect_chain[-1][0] == reverse("patients:detail", args=[kept.pk])
    assert "Ada Quinn's record is merged into this one" in text(done)
    merge = PatientMerge.objects.get()
    assert (merge.kept, merge.merged, merge.reason) == (kept, away, REASON)


def test_the_comparison_names_a_clash_and_offers_no_merge(world, client_of):
    record, kept = ada_twice(world)
    kept.email = "ada.quin@example.test"
    kept.save()
    with_portal_login(kept)
    compared = client_of(world.org_admin).get(
        reverse("patients:merge", args=[kept.pk, record.patient.pk])
    )
    assert "These records cannot be merged yet: Both records have a portal login" in (
        text(compared)
    )
    assert "<button" not in compared.content.decode().split("These records cannot be merged")[1]


def test_a_merge_without_a_reason_asks_for_one(world, client_of):
    record, kept = ada_twice(world)
    refused = client_of(world.org_admin).post(
        reverse("patients:merge", args=[kept.pk, record.patient.pk]), {"reason": " "}
    )
    assert refused.status_code == 200
    assert refused.context["form"].errors["reason"]
    assert not PatientMerge.objects.exists()


@pytest.mark.parametrize("who", ["manager", "therapist", "front_desk"])
def test_only_organisation_admins_open_the_merge_pages(world, client_of, who):
    record, kept = ada_twice(world)
    kept.home_clinic = world.kelowna
    kept.save()
    client = client_of(getattr(world, who))
    assert (
        reverse("patients:merge_choose", args=[kept.pk])
        not in client.get(reverse("patients:detail", args=[kept.pk])).content.decode()
    )
    for url in (
        reverse("patients:merge_choose", args=[kept.pk]),
        reverse("patients:merge", args=[kept.pk, record.patient.pk]),
    ):
        for method in ("get", "post"):
            refused = getattr(client, method)(url, {"reason": REASON})
            assert refused.status_code == 403, (url, method)
            assert "Only an organisation admin may merge patient records" in text(refused)
    assert not PatientMerge.objects.exists()


def test_the_edit_pages_duplicate_warning_offers_the_admin_a_merge(world, client_of):
    first = PatientFactory(home_clinic=world.kelowna, first_name="Emma", last_name="Clarke")
    second = PatientFactory(
        home_clinic=world.kelowna, first_name="Emma", last_name="Smith", phone="+1 250 555 0100"
    )
    form = {
        "home_clinic": str(second.home_clinic_id),
        "first_name": "Emma",
        "last_name": "Clark",
        "date_of_birth": second.date_of_birth.isoformat(),
        "email": second.email,
        "phone": second.phone,
        "preferred_language": "en",
        "version": second.version,
    }
    url = reverse("patients:edit", args=[second.pk])
    merge = reverse("patients:merge", args=[first.pk, second.pk])
    warned = client_of(world.org_admin).post(url, form)
    assert "has a name like this one and this date of birth" in text(warned)
    assert merge in warned.content.decode()
    assert merge not in client_of(world.front_desk).post(url, form).content.decode()


def test_the_list_of_likely_duplicates_costs_a_fixed_number_of_queries(
    world, client_of, django_assert_max_num_queries
):
    ada = PatientFactory(home_clinic=world.kelowna, first_name="Ada", last_name="Quinn")
    client = client_of(world.org_admin)
    url = reverse("patients:merge_choose", args=[ada.pk])
    client.get(url)
    for clinic in (world.kelowna, world.vernon) * 3:
        PatientFactory(
            home_clinic=clinic, first_name="Ada", last_name="Quin", date_of_birth=ada.date_of_birth
        )
    with django_assert_max_num_queries(12):
        page = client.get(url)
    assert text(page).count("Compare and merge into Ada Quinn") == 6


def test_the_api_merges_for_an_admin_and_refuses_everyone_else(world, client_of):
    record, kept = ada_twice(world)
    url = reverse("patient-merge", args=[kept.pk])
    body = {"merge_away": str(record.patient.pk), "reason": REASON}
    refused = client_of(world.manager).post(url, body, content_type="application/json")
    assert refused.status_code == 404  # a Vernon record: the Kelowna manager does not see it
    kept.home_clinic = world.kelowna
    kept.save()
    refused = client_of(world.therapist).post(url, body, content_type="application/json")
    assert refused.status_code == 403
    assert refused.json()["detail"].startswith("Only an organisation admin")

    admin = client_of(world.org_admin)
    done = admin.post(url, body, content_type="application/json")
    assert done.status_code == 201, done.content
    assert done.json()["merged"] == str(record.patient.pk)
    assert done.json()["moved"]["treatment sessions"] == 1
    gone = admin.get(reverse("patient-detail", args=[record.patient.pk]))
    assert gone.status_code == 404
    assert str(kept.pk) in gone.json()["detail"]
    again = admin.post(url, body, content_type="application/json")
    assert again.status_code == 400  # the merged record is no longer one to merge
    assert "merge_away" in again.json()["fields"]


def test_the_api_names_a_clash_with_409(world, client_of):
    away = PatientFactory(home_clinic=world.kelowna, first_name="Emma", last_name="Clarke")
    kept = PatientFactory(home_clinic=world.kelowna, first_name="Emma", last_name="Clark")
    with_portal_login(away)
    with_portal_login(kept)
    refused = client_of(world.org_admin).post(
        reverse("patient-merge", args=[kept.pk]),
        {"merge_away": str(away.pk), "reason": REASON},
        content_type="application/json",
    )
    assert refused.status_code == 409
    assert refused.json()["code"] == "merge_refused"
    assert "both records have a portal login" in refused.json()["detail"]
