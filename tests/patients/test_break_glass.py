"""Break-glass: Dan, a therapist at Vernon, must see Ada Quinn, a Kelowna patient, in an
emergency. He states a reason and reads her record for a few hours, never writes to it; the
organisation's admins see that he did, and every read is in Ada's access log."""

import datetime
import threading

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import IntegrityError, ProgrammingError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from clinics import access
from clinics.models import Membership, Role, SecurityEvent, SecurityEventKind
from patients import services
from patients.exceptions import Conflict, NotPermitted
from patients.models import EmergencyAccess, Patient, RecordPart, RecordRead
from sessions.services import book_session
from tests.clinics.factories import staff
from tests.patients.factories import PatientFactory, tomorrow_at

REASON = "Came to Vernon with chest pain after needling at Kelowna"


@pytest.fixture
def ada(world):
    """Ada Quinn of Kelowna, with one of everything (intake, a signed chart, aftercare)."""
    return world.kelowna_record()


def break_the_glass(client, patient, reason=REASON):
    return client.post(reverse("patients:open_in_emergency", args=[patient.pk]), {"reason": reason})


def test_a_therapist_of_another_site_breaks_the_glass_and_reads_the_record(world, ada, client_of):
    dan = client_of(world.vernon_therapist)
    detail = reverse("patients:detail", args=[ada.patient.pk])
    chart = reverse("sessions:detail", args=[ada.session.pk])
    api = reverse("patient-detail", args=[ada.patient.pk])
    assert dan.get(detail).status_code == 404
    assert dan.get(chart).status_code == 404
    assert dan.get(api).status_code == 404

    response = break_the_glass(dan, ada.patient)

    assert response.status_code == 302
    assert response["Location"] == detail
    page = dan.get(detail)
    assert page.status_code == 200
    text = page.content.decode()
    assert "Emergency access until" in text
    assert REASON in text
    assert ada.intake.presenting_complaint in text  # the intake, on the patient page
    chart_page = dan.get(chart)
    assert chart_page.status_code == 200
    assert ada.charted.chart.complaint in chart_page.content.decode()
    assert "Emergency access until" in chart_page.content.decode()
    assert dan.get(api).status_code == 200
    assert EmergencyAccess.objects.filter(patient=ada.patient).count() == 1


def test_the_banner_gives_the_end_on_the_clinics_clock(world, ada, client_of):
    dan = client_of(world.vernon_therapist)
    with time_machine.travel(datetime.datetime(2026, 3, 2, 17, 30, tzinfo=datetime.UTC)):
        break_the_glass(dan, ada.patient)
        page = dan.get(reverse("patients:detail", args=[ada.patient.pk])).content.decode()
    until = timezone.localtime(
        datetime.datetime(2026, 3, 2, 21, 30, tzinfo=datetime.UTC), world.kelowna.zone
    )
    assert f"Emergency access until {until:%H:%M}" in page


def test_emergency_access_reads_but_never_writes(world, ada, client_of):
    dan = client_of(world.vernon_therapist)
    break_the_glass(dan, ada.patient)
    api = reverse("patient-detail", args=[ada.patient.pk])

    changed = dan.patch(api, {"first_name": "Taken"}, content_type="application/json")
    edit = dan.post(reverse("patients:edit", args=[ada.patient.pk]), {"first_name": "Taken"})
    intake = dan.post(
        reverse("patients:intake", args=[ada.patient.pk]), {"presenting_complaint": "Changed"}
    )

    assert changed.status_code == 403
    assert edit.status_code == 403
    assert intake.status_code == 403
    ada.patient.refresh_from_db()
    ada.intake.refresh_from_db()
    assert ada.patient.first_name == "Ada"
    assert ada.intake.presenting_complaint != "Changed"
    with pytest.raises(NotPermitted, match="No such patient that you can book"):
        book_session(
            clinic=world.vernon,
            therapist=world.vernon_therapist,
            patient=ada.patient,
            starts_at=tomorrow_at(10, clinic=world.vernon),
            by=world.vernon_therapist,
        )


def test_emergency_access_ends_after_its_hours(world, ada, client_of, settings):
    settings.FASCIA_BREAK_GLASS_HOURS = 4
    detail = reverse("patients:detail", args=[ada.patient.pk])
    api = reverse("patient-detail", args=[ada.patient.pk])
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        break_the_glass(client_of(world.vernon_therapist), ada.patient)
    # A fresh login each time: an idle one would end after 15 minutes.
    with time_machine.travel(start + datetime.timedelta(hours=3, minutes=59), tick=False):
        assert client_of(world.vernon_therapist).get(detail).status_code == 200
    with time_machine.travel(start + datetime.timedelta(hours=4), tick=False):
        dan = client_of(world.vernon_therapist)
        assert dan.get(detail).status_code == 404
        assert dan.get(api).status_code == 404
        assert dan.get(reverse("sessions:detail", args=[ada.session.pk])).status_code == 404


def test_losing_the_clinical_role_ends_the_access(world, ada, client_of):
    dan = client_of(world.vernon_therapist)
    break_the_glass(dan, ada.patient)
    Membership.objects.filter(user=world.vernon_therapist).update(role=Role.FRONT_DESK)

    assert dan.get(reverse("patients:detail", args=[ada.patient.pk])).status_code == 404


def test_a_reason_too_short_is_refused_naming_the_field(world, ada, client_of):
    dan = client_of(world.vernon_therapist)

    response = break_the_glass(dan, ada.patient, reason="  urgent   now ")

    assert response.status_code == 400
    assert "Say why you must see this record, in at least 15 characters" in (
        response.content.decode()
    )
    assert response.context["form"].errors["reason"]
    assert not EmergencyAccess.objects.exists()
    with pytest.raises(ValidationError) as refused:
        services.grant_emergency_access(patient=ada.patient, by=world.vernon_therapist, reason="")
    assert list(refused.value.message_dict) == ["reason"]


def test_the_front_desk_cannot_break_the_glass(world, ada, client_of):
    vernon_desk = staff(Role.FRONT_DESK, clinic=world.vernon)

    response = break_the_glass(client_of(vernon_desk), ada.patient)

    assert response.status_code == 404
    with pytest.raises(NotPermitted, match="Your role does not allow emergency access"):
        services.grant_emergency_access(patient=ada.patient, by=vernon_desk, reason=REASON)
    assert not EmergencyAccess.objects.exists()


def test_another_organisations_patient_answers_like_an_unknown_one(world, client_of):
    halifax_patient = world.other_record().patient
    dan = client_of(world.vernon_therapist)

    response = break_the_glass(dan, halifax_patient)

    assert response.status_code == 404
    assert dan.get(reverse("patients:detail", args=[halifax_patient.pk])).status_code == 404
    with pytest.raises(NotPermitted, match="No such patient"):
        services.grant_emergency_access(
            patient=halifax_patient, by=world.vernon_therapist, reason=REASON
        )
    assert not EmergencyAccess.objects.exists()


def test_a_patient_one_sees_already_needs_no_emergency_access(world, ada, client_of):
    with pytest.raises(Conflict, match="You already see Ada Quinn's record"):
        services.grant_emergency_access(patient=ada.patient, by=world.therapist, reason=REASON)
    # The page simply leads to the record.
    response = break_the_glass(client_of(world.therapist), ada.patient)
    assert response.status_code == 302
    assert not EmergencyAccess.objects.exists()


def test_a_double_click_makes_one_access_and_one_event(
    world, ada, client_of, django_capture_on_commit_callbacks
):
    dan = client_of(world.vernon_therapist)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        first = break_the_glass(dan, ada.patient)
        second = break_the_glass(dan, ada.patient)
        again = services.grant_emergency_access(
            patient=ada.patient, by=world.vernon_therapist, reason="Sent once more, by a retry"
        )

    assert first.status_code == second.status_code == 302
    granted = EmergencyAccess.objects.get()
    assert again == granted
    assert granted.reason == REASON
    assert SecurityEvent.objects.filter(kind=SecurityEventKind.BREAK_GLASS).count() == 1
    assert len(mail.outbox) == 1


@pytest.mark.django_db(transaction=True)
def test_two_requests_at_the_same_moment_make_one_access(world):
    patient = PatientFactory(home_clinic=world.kelowna, first_name="Bo", last_name="Nakai")
    granted = []
    barrier = threading.Barrier(2)

    def click():
        try:
            barrier.wait()
            granted.append(
                services.grant_emergency_access(
                    patient=patient, by=world.vernon_therapist, reason=REASON
                )
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=click) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(granted) == 2
    assert granted[0] == granted[1] == EmergencyAccess.objects.get()
    assert SecurityEvent.objects.filter(kind=SecurityEventKind.BREAK_GLASS).count() == 1


def test_breaking_the_glass_is_in_the_security_log_and_mailed_to_the_admins(
    world, ada, client_of, django_capture_on_commit_callbacks
):
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        break_the_glass(client_of(world.vernon_therapist), ada.patient)

    event = SecurityEvent.objects.get(kind=SecurityEventKind.BREAK_GLASS)
    assert event.organization == world.organization
    assert event.user == world.vernon_therapist
    assert event.detail.startswith(f"Emergency access {EmergencyAccess.objects.get().pk}")
    assert "of Kelowna, until" in event.detail
    # No patient's name, no reason: the security log's reads are in no access log.
    assert "Quinn" not in event.detail and REASON not in event.detail
    log = client_of(world.org_admin).get(reverse("clinics:security_log"), {"kind": "break_glass"})
    assert "Emergency access to a patient of another site" in log.content.decode()
    elsewhere = client_of(world.other_admin).get(
        reverse("clinics:security_log"), {"kind": "break_glass"}
    )
    assert not elsewhere.context["page"].object_list
    [message] = mail.outbox
    assert message.to == [world.org_admin.email]
    assert "Kelowna" in message.body
    assert "Quinn" not in message.body + message.subject  # mail leaves Fascia: no name
    assert reverse("patients:emergency_access_list") in message.body


def test_the_organisation_admins_page_lists_every_access(world, ada, client_of):
    break_the_glass(client_of(world.vernon_therapist), ada.patient)
    admin = client_of(world.org_admin)

    sites = admin.get(reverse("clinics:list")).content.decode()
    page = admin.get(reverse("patients:emergency_access_list"))

    assert reverse("patients:emergency_access_list") in sites
    text = page.content.decode()
    assert world.vernon_therapist.get_full_name() in text
    assert "Ada Quinn" in text
    assert REASON in text
    assert "Active" in text
    with time_machine.travel(timezone.now() + datetime.timedelta(hours=5)):
        later = client_of(world.org_admin).get(reverse("patients:emergency_access_list"))
        assert "Expired" in later.content.decode()
    # Another organisation's admin sees none of it; the clinician sees their own.
    assert "Ada Quinn" not in listed_for(world.other_admin, client_of)
    assert REASON in listed_for(world.vernon_therapist, client_of)
    assert REASON not in listed_for(world.therapist, client_of)
    assert (
        client_of(world.front_desk).get(reverse("patients:emergency_access_list")).status_code
        == 404
    )


def listed_for(user, client_of) -> str:
    return client_of(user).get(reverse("patients:emergency_access_list")).content.decode()


def test_reads_through_emergency_access_are_in_the_access_log(world, ada, client_of):
    dan = client_of(world.vernon_therapist)
    break_the_glass(dan, ada.patient)
    dan.get(reverse("patients:detail", args=[ada.patient.pk]))
    dan.get(reverse("sessions:detail", args=[ada.session.pk]))

    parts = set(
        RecordRead.objects.filter(reader=world.vernon_therapist, patient=ada.patient).values_list(
            "part", flat=True
        )
    )
    assert {RecordPart.DETAILS, RecordPart.INTAKE, RecordPart.CHART} <= parts


def test_clinicians_search_the_other_sites_by_name_and_see_no_more_than_who(world, ada, client_of):
    dan = client_of(world.vernon_therapist)

    own = dan.get(reverse("patients:list"), {"q": "Quinn"})
    others = dan.get(reverse("patients:other_sites"), {"q": "Quinn"})

    assert not own.context["rows"]
    assert "Search all sites of Kelowna Physio" in own.content.decode()
    text = others.content.decode()
    assert "Quinn, Ada" in text
    assert ada.patient.date_of_birth.isoformat() in text
    assert "Kelowna" in text
    assert reverse("patients:open_in_emergency", args=[ada.patient.pk]) in text
    assert ada.patient.email not in text
    assert RecordRead.objects.filter(
        reader=world.vernon_therapist, patient=ada.patient, part=RecordPart.LIST
    ).exists()
    # Contact details find nobody here; the front desk and the other organisation find no page.
    by_email = dan.get(reverse("patients:other_sites"), {"q": ada.patient.email})
    assert not by_email.context["patients"]
    assert client_of(world.front_desk).get(reverse("patients:other_sites")).status_code == 404
    halifax = client_of(world.other_therapist).get(reverse("patients:other_sites"), {"q": "Quinn"})
    assert not halifax.context["patients"]


def test_patient_lists_cost_the_same_queries_with_emergency_accesses(world, ada, client_of):
    dan = client_of(world.vernon_therapist)
    for name in ("Ivy", "Joe"):
        PatientFactory(home_clinic=world.vernon, first_name=name)
    url = reverse("patients:list")
    dan.get(url)  # the session and the clinic switcher, once

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert dan.get(url).status_code == 200
        return len(captured)

    without = queries()
    break_the_glass(dan, ada.patient)
    for name in ("Kay", "Lou"):
        services.grant_emergency_access(
            patient=PatientFactory(home_clinic=world.kelowna, last_name=name),
            by=world.vernon_therapist,
            reason=REASON,
        )

    assert queries() == without
    everyone = access.visible_to(world.vernon_therapist, Patient.objects.all())
    assert everyone.count() == 5  # Ivy, Joe and the three opened in an emergency


def test_an_emergency_access_is_never_changed(as_database_owner, world, ada, client_of):
    break_the_glass(client_of(world.vernon_therapist), ada.patient)
    granted = EmergencyAccess.objects.get()

    with pytest.raises(ProgrammingError, match="Cannot update or delete"), transaction.atomic():
        EmergencyAccess.objects.filter(pk=granted.pk).update(
            expires_at=granted.expires_at + datetime.timedelta(days=1)
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        EmergencyAccess.objects.create(
            organization=world.organization,
            patient=ada.patient,
            user=world.vernon_therapist,
            reason="too short",
            granted_at=timezone.now(),
            expires_at=timezone.now() + datetime.timedelta(hours=1),
        )
