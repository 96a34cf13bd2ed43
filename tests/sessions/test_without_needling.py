"""Sessions without needling: manual therapy, exercise or education. A 9-year-old can have
physiotherapy; she cannot be needled. Such a session asks no needling consent, screening or
contraindication at the start, and holds no needle site: in the service, the API and the
database."""

import datetime
import re
from html import unescape

import pytest
import time_machine
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from sessions import services
from sessions.exceptions import ChartInvalid, StartRefused
from sessions.models import NeedleSite, Status, TreatmentSession
from tests.patients.factories import PatientFactory, born_years_ago
from tests.sessions.factories import ready_to_needle, site_fields, started_session, this_minute

JSON = "application/json"
HOUR = datetime.timedelta(hours=1)


def text(response) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


@pytest.fixture
def child(world):
    """Nina, 9, registered yesterday: no screening, no consent."""
    return PatientFactory(
        home_clinic=world.kelowna,
        first_name="Nina",
        last_name="Thompson",
        date_of_birth=born_years_ago(9, zone="America/Vancouver"),
    )


def book(world, patient, **kwargs):
    return services.book_session(
        clinic=world.kelowna,
        therapist=world.therapist,
        patient=patient,
        starts_at=this_minute(),
        by=world.front_desk,
        **kwargs,
    )


def test_a_child_booked_without_needling_starts_and_charts_no_needle(world, child):
    session = book(world, child, needling=False)
    started = services.start_session(session=session, by=world.therapist)
    assert (started.status, started.needling) == (Status.IN_PROGRESS, False)
    with pytest.raises(ChartInvalid, match="muscle: this session is without needling") as no:
        services.add_needle_site(session=started, by=world.therapist, **site_fields())
    assert no.value.field == "muscle"
    with pytest.raises(ChartInvalid, match="needles_inserted: this session is without"):
        services.save_chart(
            session=started, by=world.therapist, expected_version=1, needles_inserted=2
        )
    with pytest.raises(ChartInvalid, match="needling_ended_at: this session is without"):
        services.save_chart(
            session=started,
            by=world.therapist,
            expected_version=1,
            needling_ended_at=timezone.now(),
        )
    services.save_chart(
        session=started, by=world.therapist, expected_version=1, complaint="Sore knee"
    )
    signed = services.sign_session(session=started, by=world.therapist)
    assert signed.status == Status.SIGNED
    assert not NeedleSite.objects.exists()


def test_the_database_keeps_needle_sites_out_of_sessions_without_needling(world, child, patient):
    ready_to_needle(patient, by=world.therapist)
    needled = started_session(patient=patient, therapist=world.therapist)
    site = services.add_needle_site(session=needled, by=world.therapist, **site_fields())
    with time_machine.travel(timezone.now() + HOUR):  # Nina's turn, an hour later
        without = services.start_session(
            session=book(world, child, needling=False), by=world.therapist
        )
    with pytest.raises(IntegrityError, match="without needling"), transaction.atomic():
        NeedleSite.objects.filter(pk=site.pk).update(session=without)
    with pytest.raises(IntegrityError), transaction.atomic():
        TreatmentSession.objects.filter(pk=needled.pk).update(needling=False)


def test_the_start_gate_offers_a_session_without_needling_for_an_absolute_contraindication(
    world, child, client_of
):
    session = book(world, child)
    client = client_of(world.therapist)
    gate = text(client.get(reverse("sessions:detail", args=[session.pk])))
    assert "Younger than 12 is an absolute contraindication." in gate
    assert "Your reason to proceed" not in gate
    assert "Start the session" not in gate
    assert "What can be done instead: treat without needling" in gate
    with pytest.raises(StartRefused, match="Younger than 12"):
        services.start_session(session=session, by=world.therapist)
    started = client.post(reverse("sessions:start", args=[session.pk]), {"without_needling": "yes"})
    assert started.status_code == 302
    session.refresh_from_db()
    assert (session.status, session.needling) == (Status.IN_PROGRESS, False)
    chart = text(client.get(reverse("sessions:detail", args=[session.pk])))
    assert "This session is without needling" in chart
    assert "Add needle site" not in chart


def test_the_day_list_and_the_api_say_without_needling(world, child, client_of):
    client = client_of(world.front_desk)
    booked = client.post(
        reverse("session-list"),
        {
            "clinic": str(world.kelowna.pk),
            "therapist": str(world.therapist.pk),
            "patient": str(child.pk),
            "starts_at": this_minute().isoformat(),
            "needling": False,
        },
        content_type=JSON,
    )
    assert booked.status_code == 201, booked.json()
    assert booked.json()["needling"] is False
    assert booked.json()["readiness"] == ["Without needling"]
    row = re.search(
        r"<tr>.*?Nina Thompson.*?</tr>", client.get(reverse("sessions:day")).content.decode(), re.S
    )
    assert "Without needling" in row.group(0)
    session_id = booked.json()["id"]
    therapist = client_of(world.therapist)
    assert (
        therapist.post(reverse("session-start", args=[session_id]), {}, content_type=JSON).json()[
            "status"
        ]
        == "in_progress"
    )
    site = therapist.post(
        reverse("session-needle-sites", args=[session_id]),
        {key: str(value) for key, value in site_fields().items()},
        content_type=JSON,
    )
    assert site.status_code == 400
    assert (
        site.json()["fields"] == {"muscle": [site.json()["detail"]]}
        or "muscle" in site.json()["fields"]
    )


def test_the_api_starts_a_needling_booking_without_needling(world, child, client_of):
    session = book(world, child)
    client = client_of(world.therapist)
    refused = client.post(reverse("session-start", args=[session.pk]), {}, content_type=JSON)
    assert refused.json()["code"] == "start_refused"
    started = client.post(
        reverse("session-start", args=[session.pk]), {"without_needling": True}, content_type=JSON
    )
    assert started.status_code == 200
    assert (started.json()["status"], started.json()["needling"]) == ("in_progress", False)
