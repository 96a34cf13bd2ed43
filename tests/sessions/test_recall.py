"""The needle-lot recall: one row per patient, a spreadsheet, and a notice e-mailed once."""

import csv
import datetime
import io
import threading

import pytest
import time_machine
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.core.management import call_command
from django.db import connection, transaction
from django.db.utils import IntegrityError, ProgrammingError
from django.urls import reverse
from django.utils import timezone

from clinics import access
from patients.models import RecordPart, RecordRead
from sessions import recall_export, selectors, services
from sessions.exceptions import NotPermitted, RecallInvalid
from sessions.models import NoticeStatus, RecallNotice
from sessions.models.recall import QUEUED_TOO_LONG
from sessions.selectors import NotifyStep
from sessions.services.recall import catch_up_recall_notices
from sessions.views import reviews
from tests.patients.factories import PatientFactory, tomorrow_at
from tests.processes import race
from tests.sessions.factories import ready_to_needle, site_fields, started_session, this_minute

LOT = "LOT-9"


class RefusingBackend(BaseEmailBackend):
    """A mail server that is down."""

    def send_messages(self, email_messages):
        raise ConnectionRefusedError("mail server down")


def needled(world, patient, *, hour: int, sites=(("gluteus-medius", "left", 2),), lot=LOT):
    """A session of `patient` tomorrow at `hour` (Kelowna's clock) with `sites` of `lot`."""
    session = started_session(
        patient=patient,
        therapist=world.therapist,
        starts_at=tomorrow_at(hour, clinic=world.kelowna),
    )
    for muscle, side, needles in sites:
        services.add_needle_site(
            session=session,
            by=world.therapist,
            **site_fields(muscle=muscle, side=side, needles=needles, lot_number=lot),
        )
    return session


def kelowna_patient(world, **fields):
    return ready_to_needle(PatientFactory(home_clinic=world.kelowna, **fields), by=world.therapist)


@pytest.fixture
def recall(world):
    """Ann Lee, twice needled with the lot (two sites each time); Ben Ng once; Cy Ode, with no
    e-mail address, once; Dee Fox with another lot only."""
    ann = kelowna_patient(world, first_name="Ann", last_name="Lee", email="ann@example.test")
    ben = kelowna_patient(world, first_name="Ben", last_name="Ng", email="ben@example.test")
    cy = kelowna_patient(world, first_name="Cy", last_name="Ode", email="")
    dee = kelowna_patient(world, first_name="Dee", last_name="Fox")
    two_sites = (("gluteus-medius", "left", 2), ("piriformis", "right", 1))
    sessions = {
        "ann 9": needled(world, ann, hour=9, sites=two_sites),
        "ann 11": needled(world, ann, hour=11, sites=two_sites),
        "ben": needled(world, ben, hour=13),
        "cy": needled(world, cy, hour=14),
        "dee": needled(world, dee, hour=15, lot="LOT-10"),
    }
    return {"ann": ann, "ben": ben, "cy": cy, "dee": dee, "sessions": sessions}


def notify(client, lot=LOT, **extra):
    return client.post(reverse("sessions:recall_notify"), {"lot": lot, **extra})


def recall_page(client, lot=LOT):
    return client.get(reverse("sessions:recall"), {"lot": lot})


# --- The page: one row per patient -----------------------------------------------------------


def test_the_page_lists_each_patient_once_with_their_sessions_and_sites_beneath(
    world, client_of, recall
):
    response = recall_page(client_of(world.manager), " lot-9 ")
    text = response.content.decode()
    assert response.status_code == 200
    assert "3 patients</strong>, 6 needle sites with lot LOT-9" in text
    body = text.split("<tbody>")[1].split("</tbody>")[0]
    assert body.count('<th scope="row">') == 3
    # By name: Lee, Ng, Ode; each once, with contact details and date of birth.
    assert body.index("Ann Lee") < body.index("Ben Ng") < body.index("Cy Ode")
    assert body.count("Ann Lee") == 1
    assert "Dee Fox" not in text
    assert 'href="mailto:ann@example.test"' in body
    assert f'href="tel:{recall["ann"].phone}"' in body
    assert recall["ann"].date_of_birth.strftime("%-d %b %Y") in body
    assert reverse("patients:detail", args=[recall["ann"].pk]) in body
    # Each session on the clinic's clock, with its sites beneath.
    for name in ("ann 9", "ann 11"):
        session = recall["sessions"][name]
        when = timezone.localtime(session.starts_at, world.kelowna.zone)
        assert when.strftime("%H:%M") in body
        assert reverse("sessions:detail", args=[session.pk]) in body
    assert body.count("Piriformis (right), 1 needle<") == 2
    # Cy has no e-mail address: the page says to call.
    assert "Call instead" in body
    assert "E-mail the recall notice to 2 patients" in text


def test_a_long_recall_shows_a_page_of_patients_and_counts_the_whole_lot(
    world, client_of, recall, monkeypatch
):
    monkeypatch.setattr(reviews, "RECALL_PAGE_SIZE", 2)
    client = client_of(world.manager)
    first, second = (
        recall_page(client),
        client.get(reverse("sessions:recall"), {"lot": LOT, "page": 2}),
    )
    rows = [
        page.content.decode().split("<tbody>")[1].split("</tbody>")[0] for page in (first, second)
    ]
    assert "Ann Lee" in rows[0] and "Ben Ng" in rows[0] and "Cy Ode" not in rows[0]
    assert "Cy Ode" in rows[1] and "Ann Lee" not in rows[1]
    for page in (first, second):
        text = page.content.decode()
        assert "3 patients</strong>, 6 needle sites with lot LOT-9" in text
        assert "E-mail the recall notice to 2 patients" in text
    assert "Page 1 of 2" in first.content.decode() and "Later names" in first.content.decode()
    # Each page is a read of the charts it showed, and only of those.
    reads = RecordRead.objects.filter(reader=world.manager, part=RecordPart.CHART, via="page")
    shown = [sorted(str(pk) for pk in read.patient_ids) for read in reads.order_by("read_at")]
    assert shown == [
        sorted([str(recall["ann"].pk), str(recall["ben"].pk)]),
        [str(recall["cy"].pk)],
    ]


def test_the_page_costs_the_same_queries_for_one_patient_or_many(
    world, client_of, django_assert_max_num_queries
):
    client = client_of(world.manager)
    needled(world, kelowna_patient(world), hour=8)
    recall_page(client)
    with django_assert_max_num_queries(50) as one:
        recall_page(client)
    for hour in (9, 10, 11, 12, 13):
        needled(world, kelowna_patient(world), hour=hour, sites=[("piriformis", "left", 1)] * 2)
    services.notify_recall(lot_number=LOT, by=world.manager)  # notices to show, too
    with django_assert_max_num_queries(len(one)):
        response = recall_page(client)
    assert "6 patients" in response.content.decode()


def test_each_patient_on_the_page_the_csv_and_the_api_is_one_read_of_their_chart(
    world, client_of, recall
):
    client = client_of(world.therapist)
    recall_page(client)
    client.get(reverse("sessions:recall_csv"), {"lot": LOT})
    client.get(reverse("recall-patient-list"), {"lot_number": LOT})
    reads = RecordRead.objects.filter(reader=world.therapist, part=RecordPart.CHART)
    expected = sorted(str(recall[name].pk) for name in ("ann", "ben", "cy"))
    for via in ("page", "api"):
        patients = sorted(str(pk) for read in reads.filter(via=via) for pk in read.patient_ids)
        assert patients == sorted(expected * 2 if via == "page" else expected), via


def test_the_front_desk_and_patients_run_no_recall(world, client_of, recall, patient):
    desk = client_of(world.front_desk)
    assert recall_page(desk).status_code == 403
    assert desk.get(reverse("sessions:recall_csv"), {"lot": LOT}).status_code == 403
    assert notify(desk).status_code == 403
    api = desk.get(reverse("recall-patient-list"), {"lot_number": LOT})
    assert (api.status_code, api.json()["code"]) == (403, "permission_denied")
    posted = desk.post(reverse("recall-notify"), {"lot_number": LOT}, "application/json")
    assert posted.status_code == 403
    assert recall_page(client_of(patient.user)).status_code == 404
    assert not RecallNotice.objects.exists()
    assert not RecordRead.objects.filter(reader=world.front_desk).exists()


def test_another_clinic_and_another_organisation_see_none_of_it(world, client_of, recall):
    for person in (world.vernon_therapist, world.other_admin):
        text = recall_page(client_of(person)).content.decode()
        assert "No needle site you can see used lot LOT-9" in text
        assert "Ann Lee" not in text
        with pytest.raises(RecallInvalid, match="not needled with lot LOT-9"):
            services.notify_recall(lot_number=LOT, by=person, patients=[recall["ann"].pk])
    assert not RecallNotice.objects.exists()


# --- The spreadsheet -------------------------------------------------------------------------


def rows_of(response) -> list[dict]:
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))


def test_the_csv_is_one_line_per_patient_for_a_mail_merge(world, client_of, recall):
    response = client_of(world.manager).get(reverse("sessions:recall_csv"), {"lot": "lot-9"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="recall-LOT-9.csv"'
    rows = rows_of(response)
    assert [(row["Last name"], row["First name"]) for row in rows] == [
        ("Lee", "Ann"),
        ("Ng", "Ben"),
        ("Ode", "Cy"),
    ]
    ann = rows[0]
    assert list(ann) == recall_export.COLUMNS
    assert ann["E-mail"] == "ann@example.test"
    assert ann["Date of birth"] == recall["ann"].date_of_birth.isoformat()
    assert ann["Home clinic"] == "Kelowna"
    assert (ann["Contact by"], ann["Notice"], ann["Sessions"], ann["Needles"]) == (
        "E-mail",
        "Not sent",
        "2",
        "6",
    )
    first = timezone.localtime(recall["sessions"]["ann 9"].starts_at, world.kelowna.zone)
    assert ann["Treated"].startswith(
        f"{first:%Y-%m-%d %H:%M} at Kelowna with {world.therapist.get_full_name()}: "
        "Gluteus medius (left) x2, Piriformis (right) x1; "
    )
    assert (rows[2]["Contact by"], rows[2]["Notice"]) == ("Phone", "Call instead")


def test_the_csv_keeps_formulas_as_text(world, client_of):
    needled(world, kelowna_patient(world, first_name="=HYPERLINK(1)", last_name="@Cmd"), hour=9)
    response = client_of(world.manager).get(reverse("sessions:recall_csv"), {"lot": LOT})
    row = rows_of(response)[0]
    assert (row["First name"], row["Last name"]) == ("'=HYPERLINK(1)", "'@Cmd")
    assert row["Phone"].startswith("'+")
    assert [recall_export.safe_cell(v) for v in ("-2", "+x", "\tA", "a=b", 3)] == [
        "'-2",
        "'+x",
        "'\tA",
        "a=b",
        "3",
    ]
    assert recall_export.filename('a/b "c"') == "recall-a-b-c.csv"


def test_the_csv_without_a_lot_goes_back_to_the_page(world, client_of):
    response = client_of(world.manager).get(reverse("sessions:recall_csv"))
    assert response.status_code == 302
    assert response["Location"] == reverse("sessions:recall")


# --- Notifying -------------------------------------------------------------------------------


def test_notify_emails_each_patient_once_however_often_it_is_pressed(
    world, client_of, recall, django_capture_on_commit_callbacks
):
    client = client_of(world.manager)
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        first = notify(client, " lot-9 ")
        again = notify(client)
    assert first.status_code == again.status_code == 302
    assert first["Location"] == reverse("sessions:recall") + "?lot=LOT-9"
    assert sorted(message.to[0] for message in mail.outbox) == [
        "ann@example.test",
        "ben@example.test",
    ]
    notices = RecallNotice.objects.order_by("email")
    assert [(n.patient, n.status, n.sent_by) for n in notices] == [
        (recall["ann"], NoticeStatus.SENT, world.manager),
        (recall["ben"], NoticeStatus.SENT, world.manager),
    ]
    assert all(before <= n.sent_at <= timezone.now() for n in notices)
    page = client.get(first["Location"])
    messages = [str(message) for message in page.context["messages"]]
    assert messages == [
        "Recall notice on its way to 2 patients. No e-mail address: call 1 patient.",
        "2 patients already have one: none is sent twice. No e-mail address: call 1 patient.",
    ]
    text = page.content.decode()
    for notice in notices:
        sent = timezone.localtime(notice.sent_at, world.kelowna.zone)
        assert f'<span class="badge">Sent</span> {sent:%-d %b %Y, %H:%M}' in text
    assert "E-mail the recall notice to" not in text  # nobody left to e-mail


def test_the_email_names_the_lot_and_the_days_and_nothing_clinical(
    world, recall, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.notify_recall(lot_number=LOT, by=world.therapist, patients=[recall["ann"].pk])
    (message,) = mail.outbox
    assert message.to == ["ann@example.test"]
    assert "needle recall" in message.subject.lower()
    assert "lot LOT-9" in message.body
    assert message.body.startswith("Hello Ann,")
    for name in ("ann 9", "ann 11"):
        day = timezone.localtime(recall["sessions"][name].starts_at, world.kelowna.zone)
        assert f"{day:%A %-d %B %Y} at Kelowna" in message.body
    assert "gluteus" not in message.body.lower()
    assert "piriformis" not in message.body.lower()


def test_a_failed_send_is_recorded_and_retried_and_a_sent_notice_never_again(
    world, client_of, recall, settings, django_capture_on_commit_callbacks
):
    working = settings.MAILERS
    settings.MAILERS = {"default": {"BACKEND": "tests.sessions.test_recall.RefusingBackend"}}
    ben = recall["ben"]
    with django_capture_on_commit_callbacks(execute=True):
        outcome = services.notify_recall(lot_number=LOT, by=world.therapist, patients=[ben.pk])
    assert outcome.queued == [ben]
    notice = RecallNotice.objects.get(patient=ben)
    assert (notice.status, notice.attempts, notice.sent_at) == (NoticeStatus.FAILED, 1, None)
    assert "mail server down" in notice.last_error
    client = client_of(world.manager)
    text = recall_page(client).content.decode()
    assert "the e-mail failed" in text and "Try again" in text
    # The address is corrected, the server is back: the retry goes to the new address.
    ben.email = "ben.ng@example.test"
    ben.save(update_fields=["email"])
    settings.MAILERS = working
    with django_capture_on_commit_callbacks(execute=True):
        notify(client, patient=str(ben.pk))
    notice.refresh_from_db()
    assert (notice.status, notice.attempts, notice.email) == (
        NoticeStatus.SENT,
        2,
        "ben.ng@example.test",
    )
    assert notice.sent_by == world.manager
    assert [message.to for message in mail.outbox] == [["ben.ng@example.test"]]
    # Sent is final: asked again, run again, or changed behind the services' back.
    with django_capture_on_commit_callbacks(execute=True):
        again = services.notify_recall(lot_number=LOT, by=world.org_admin, patients=[ben.pk])
    assert (again.queued, again.already_notified) == ([], [ben])
    assert services.send_recall_notice(notice_id=notice.pk) == "already sent"
    with pytest.raises(ProgrammingError, match="recallnotice"), transaction.atomic():
        RecallNotice.objects.filter(pk=notice.pk).update(status=NoticeStatus.QUEUED)
    assert len(mail.outbox) == 1


def test_a_patient_without_an_email_address_is_listed_to_call_and_not_emailed(
    world, recall, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        outcome = services.notify_recall(lot_number=LOT, by=world.manager)
    assert outcome.call_instead == [recall["cy"]]
    assert not RecallNotice.objects.filter(patient=recall["cy"]).exists()
    assert "cy" not in " ".join(message.to[0] for message in mail.outbox)


def needled_at_vernon(world, patient, *, lot=LOT, starts_at=None):
    session = services.start_session(
        session=services.book_session(
            clinic=world.vernon,
            therapist=world.vernon_therapist,
            patient=patient,
            starts_at=starts_at or this_minute(),
            by=world.org_admin,
        ),
        by=world.vernon_therapist,
    )
    services.add_needle_site(
        session=session, by=world.vernon_therapist, **site_fields(lot_number=lot)
    )
    return session


def test_the_clinic_that_needled_a_patient_away_from_home_sends_their_notice(
    world, client_of, django_capture_on_commit_callbacks
):
    """Eve's home clinic is Kelowna; she was needled with the lot at Vernon only. Kelowna's
    staff do not see her in the recall, so Vernon's therapist sends her notice and sees it."""
    eve = kelowna_patient(world, first_name="Eve", last_name="Ray", email="eve@example.test")
    needled_at_vernon(world, eve)
    assert selectors.recall_patients(world.therapist, LOT) == []
    with django_capture_on_commit_callbacks(execute=True):
        assert services.notify_recall(lot_number=LOT, by=world.therapist).patients == []
    assert RecallNotice.objects.count() == 0
    (item,) = selectors.recall_patients(world.vernon_therapist, LOT)
    assert (item.sending_clinic, item.may_notify, item.to_notify) == (world.vernon, True, True)
    client = client_of(world.vernon_therapist)
    assert "E-mail the recall notice to 1 patient<" in recall_page(client).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        notify(client)
    notice = RecallNotice.objects.get()
    assert (notice.clinic, notice.status, notice.sent_by) == (
        world.vernon,
        NoticeStatus.SENT,
        world.vernon_therapist,
    )
    (message,) = mail.outbox
    assert "call Vernon" in message.body
    assert '<span class="badge">Sent</span>' in recall_page(client).content.decode()
    # Kelowna's staff, who do not see her in the recall, do not see her notice either.
    assert not access.visible_to(world.therapist, RecallNotice.objects.all()).exists()
    assert not access.visible_to(world.manager, RecallNotice.objects.all()).exists()
    assert access.visible_to(world.org_admin, RecallNotice.objects.all()).get() == notice


def test_a_patient_needled_at_two_clinics_is_sent_one_notice_by_the_first(
    world, client_of, django_capture_on_commit_callbacks
):
    """Fay was needled with the lot at Vernon, then at Kelowna: both see her in the recall;
    Vernon (first) sends her notice, Kelowna's page says so and cannot send a second."""
    fay = kelowna_patient(world, first_name="Fay", last_name="Orr", email="fay@example.test")
    needled_at_vernon(world, fay)
    needled(world, fay, hour=9)  # tomorrow, at Kelowna
    (item,) = selectors.recall_patients(world.manager, LOT)
    assert (item.sending_clinic, item.may_notify, item.to_notify) == (world.vernon, False, False)
    with django_capture_on_commit_callbacks(execute=True):
        outcome = services.notify_recall(lot_number=LOT, by=world.manager)
    assert (outcome.queued, outcome.another_clinic_sends) == ([], [fay])
    assert "first needled with the lot sends it" in outcome.message
    text = recall_page(client_of(world.manager)).content.decode()
    assert "Vernon, where they were first needled with this lot, sends it." in text
    assert "E-mail the recall notice to" not in text
    with django_capture_on_commit_callbacks(execute=True):
        assert services.notify_recall(lot_number=LOT, by=world.vernon_therapist).queued == [fay]
    assert [message.to for message in mail.outbox] == [["fay@example.test"]]


# --- A notice whose e-mail job was lost ------------------------------------------------------


def a_lost_job(world, patient) -> RecallNotice:
    """`patient`'s notice, queued by the manager, its job lost between the commit and the
    enqueue (the on-commit callback never runs)."""
    with transaction.atomic():
        services.notify_recall(lot_number=LOT, by=world.manager, patients=[patient.pk])
        transaction.get_connection().run_on_commit.clear()
    return RecallNotice.objects.get(patient=patient)


def test_the_catch_up_sends_a_notice_queued_too_long_once(world, client_of, recall):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        notice = a_lost_job(world, recall["ann"])
        out = io.StringIO()
        call_command("recall_catch_up", stdout=out)  # just queued: its job may be running
        assert out.getvalue().startswith("0 recall notice(s) sent")
        text = recall_page(client_of(world.manager)).content.decode()
        assert "On its way" in text and "Send again" not in text
        assert "E-mail the recall notice to 1 patient<" in text  # Ben only
    assert mail.outbox == []
    with time_machine.travel(start + QUEUED_TOO_LONG + datetime.timedelta(minutes=1), tick=False):
        text = recall_page(client_of(world.manager)).content.decode()
        assert "Not sent after 10 minutes" in text and "Send again" in text
        out = io.StringIO()
        call_command("recall_catch_up", stdout=out)
        assert out.getvalue().startswith("1 recall notice(s) sent")
        call_command("recall_catch_up", stdout=io.StringIO())
    notice.refresh_from_db()
    assert (notice.status, notice.attempts) == (NoticeStatus.SENT, 1)
    # The lost job turns up after all: sent is final.
    assert services.send_recall_notice(notice_id=notice.pk) == "already sent"
    assert [message.to for message in mail.outbox] == [["ann@example.test"]]


def test_staff_send_a_notice_queued_too_long_again_and_it_goes_once(
    world, client_of, recall, django_capture_on_commit_callbacks
):
    start = timezone.now()
    client = client_of(world.therapist)
    with time_machine.travel(start, tick=False):
        notice = a_lost_job(world, recall["ann"])
        with django_capture_on_commit_callbacks(execute=True):
            early = services.notify_recall(
                lot_number=LOT, by=world.therapist, patients=[recall["ann"].pk]
            )
        assert (early.queued, early.already_notified) == ([], [recall["ann"]])
    later = start + QUEUED_TOO_LONG + datetime.timedelta(seconds=1)
    with time_machine.travel(later, tick=False):
        (ann, *_) = selectors.recall_patients(world.therapist, LOT)
        assert (ann.step, ann.stuck, ann.to_notify) == (NotifyStep.SEND_AGAIN, True, True)
        with django_capture_on_commit_callbacks(execute=True):
            notify(client, patient=str(recall["ann"].pk))
    notice.refresh_from_db()
    assert (notice.status, notice.sent_by, notice.requested_at) == (
        NoticeStatus.SENT,
        world.therapist,
        later,
    )
    assert services.send_recall_notice(notice_id=notice.pk) == "already sent"
    assert catch_up_recall_notices() == {
        "recall_notices_sent": 0,
        "recall_notices_failed": 0,
    }
    assert [message.to for message in mail.outbox] == [["ann@example.test"]]


def test_notify_refuses_without_a_lot_or_a_role_naming_the_field(world, recall):
    with pytest.raises(RecallInvalid) as refused:
        services.notify_recall(lot_number="  ", by=world.manager)
    assert refused.value.field == "lot_number"
    with pytest.raises(RecallInvalid) as refused:
        services.notify_recall(lot_number="X" * 41, by=world.manager)
    assert refused.value.field == "lot_number"
    with pytest.raises(RecallInvalid) as refused:
        services.notify_recall(lot_number=LOT, by=world.manager, patients=[recall["dee"].pk])
    assert refused.value.field == "patients"
    with pytest.raises(NotPermitted):
        services.notify_recall(lot_number=LOT, by=world.front_desk)
    assert not RecallNotice.objects.exists()


def test_the_database_holds_one_notice_per_patient_and_lot(world, recall):
    services.notify_recall(lot_number=LOT, by=world.manager, patients=[recall["ann"].pk])
    with pytest.raises(IntegrityError), transaction.atomic():
        RecallNotice.objects.create(
            organization=world.organization,
            patient=recall["ann"],
            clinic=world.kelowna,
            lot_number=LOT,
            email="ann@example.test",
            sent_by=world.org_admin,
        )
    # Another lot is another notice.
    needled(world, recall["ann"], hour=16, lot="LOT-10")
    services.notify_recall(lot_number="LOT-10", by=world.manager, patients=[recall["ann"].pk])
    assert RecallNotice.objects.filter(patient=recall["ann"]).count() == 2


@pytest.mark.django_db(transaction=True)
def test_two_managers_notifying_at_once_send_one_email(world):
    """The first request has inserted the notice but not committed when the second looks:
    the second finds no notice, its insert waits for the first, then does nothing."""
    ann = kelowna_patient(world, first_name="Ann", last_name="Lee", email="ann@example.test")
    needled(world, ann, hour=9)
    inserted, release = threading.Event(), threading.Event()
    outcomes = {}

    def first():
        try:
            with transaction.atomic():
                outcomes["first"] = services.notify_recall(lot_number=LOT, by=world.manager)
                inserted.set()
                release.wait(10)
        finally:
            connection.close()

    def second():
        try:
            outcomes["second"] = services.notify_recall(lot_number=LOT, by=world.org_admin)
        finally:
            connection.close()

    race(first, second, holding=inserted, release=release)  # the second's insert waits
    assert outcomes["first"].queued == [ann]
    assert (outcomes["second"].queued, outcomes["second"].already_notified) == ([], [ann])
    notice = RecallNotice.objects.get()
    assert (notice.status, notice.sent_by) == (NoticeStatus.SENT, world.manager)
    assert [message.to for message in mail.outbox] == [["ann@example.test"]]


# --- The API ---------------------------------------------------------------------------------


def test_the_api_lists_patients_with_sessions_sites_and_notices(
    world, client_of, recall, django_capture_on_commit_callbacks
):
    client = client_of(world.manager)
    with django_capture_on_commit_callbacks(execute=True):
        posted = client.post(
            reverse("recall-notify"),
            {"lot_number": "lot-9", "patients": [str(recall["ben"].pk)]},
            "application/json",
        )
    assert posted.status_code == 202
    assert posted.json()["queued"] == [
        {"id": str(recall["ben"].pk), "full_name": recall["ben"].full_name}
    ]
    assert posted.json()["detail"] == "Recall notice on its way to 1 patient."
    response = client.get(reverse("recall-patient-list"), {"lot_number": " lot-9 "})
    assert response.status_code == 200
    listed = response.json()
    assert listed["count"] == 3
    ann, ben, cy = listed["results"]
    assert ann["patient"]["email"] == "ann@example.test"
    assert ann["patient"]["home_clinic"]["name"] == "Kelowna"
    assert (ann["needles"], ann["notice"], ann["may_notify"]) == (6, None, True)
    assert [len(entry["sites"]) for entry in ann["sessions"]] == [2, 2]
    assert ann["sessions"][0]["session"]["id"] == str(recall["sessions"]["ann 9"].pk)
    assert ann["sessions"][0]["sites"][1]["muscle"]["code"] == "piriformis"
    assert ben["notice"]["status"] == "sent"
    assert ben["notice"]["sent_by"]["id"] == str(world.manager.pk)
    assert cy["call_instead"] is True
    only_sent = client.get(reverse("recall-patient-list"), {"lot_number": LOT, "notice": "sent"})
    assert [row["patient"]["id"] for row in only_sent.json()["results"]] == [str(recall["ben"].pk)]
    bad = client.get(reverse("recall-patient-list"), {"lot_number": LOT, "notice": "maybe"})
    assert (bad.status_code, list(bad.json()["fields"])) == (400, ["notice"])
    missing = client.get(reverse("recall-patient-list"))
    assert (missing.status_code, list(missing.json()["fields"])) == (400, ["lot_number"])
    # The list by needle site still answers as before.
    sites = client.get(reverse("needle-site-list"), {"lot_number": LOT})
    assert sites.json()["count"] == 6


def test_the_api_notify_sends_nothing_twice_and_names_whom_to_call(
    world, client_of, recall, django_capture_on_commit_callbacks
):
    client = client_of(world.org_admin)
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(reverse("recall-notify"), {"lot_number": LOT}, "application/json")
        second = client.post(reverse("recall-notify"), {"lot_number": LOT}, "application/json")
    assert len(first.json()["queued"]) == 2
    assert [p["full_name"] for p in first.json()["call_instead"]] == [recall["cy"].full_name]
    assert second.json()["queued"] == []
    assert len(second.json()["already_notified"]) == 2
    assert len(mail.outbox) == 2
    other = client_of(world.other_admin).post(
        reverse("recall-notify"),
        {"lot_number": LOT, "patients": [str(recall["ann"].pk)]},
        "application/json",
    )
    assert (other.status_code, list(other.json()["fields"])) == (400, ["patients"])


def test_the_api_list_costs_the_same_queries_for_one_patient_or_many(
    world, client_of, django_assert_max_num_queries
):
    client = client_of(world.manager)
    url = reverse("recall-patient-list")
    needled(world, kelowna_patient(world), hour=8)
    client.get(url, {"lot_number": LOT})
    with django_assert_max_num_queries(50) as one:
        client.get(url, {"lot_number": LOT})
    for hour in (9, 10, 11, 12):
        needled(world, kelowna_patient(world), hour=hour, sites=[("piriformis", "left", 1)] * 2)
    services.notify_recall(lot_number=LOT, by=world.manager)
    with django_assert_max_num_queries(len(one)):
        assert client.get(url, {"lot_number": LOT}).json()["count"] == 5


def test_the_selector_groups_by_patient_in_fixed_queries(world, recall):
    grouped = selectors.recall_patients(world.org_admin, "lot-9")
    assert [item.patient for item in grouped] == [recall["ann"], recall["ben"], recall["cy"]]
    assert [len(item.sessions) for item in grouped] == [2, 1, 1]
    assert [item.needles for item in grouped] == [6, 2, 2]
    assert selectors.recall_patients(world.org_admin, "") == []
