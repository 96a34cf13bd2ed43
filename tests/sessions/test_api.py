"""The sessions API: book, list by clinic, therapist, patient, day and status, cancel, no-show."""

import datetime
import zoneinfo

import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from clinics.models import Role
from sessions import services
from sessions.models import TreatmentSession
from tests.clinics.factories import ClinicFactory, MembershipFactory
from tests.patients.factories import PatientFactory, day_at, tomorrow_at
from tests.sessions.factories import ready_to_needle, this_minute


def send(client, url, body, **headers):
    return client.post(url, body, content_type="application/json", headers=headers)


def booking(world, patient, hour=10, **changes):
    return {
        "clinic": str(world.kelowna.pk),
        "therapist": str(world.therapist.pk),
        "patient": str(patient.pk),
        "starts_at": tomorrow_at(hour, clinic=world.kelowna).isoformat(),
        **changes,
    }


def test_the_front_desk_books_and_a_clash_is_a_409_naming_it(world, client_of, patient):
    client = client_of(world.front_desk)
    first = send(client, reverse("session-list"), booking(world, patient))
    assert first.status_code == 201
    assert first.json()["status"] == "booked"
    other = PatientFactory(home_clinic=world.kelowna, first_name="Bo", last_name="Kim")
    clash = send(client, reverse("session-list"), booking(world, other))
    assert clash.status_code == 409
    assert clash.json()["code"] == "double_booked"
    assert "with Pat Morgan at Kelowna" in clash.json()["fields"]["starts_at"][0]
    assert TreatmentSession.objects.count() == 1


def test_bad_bookings_are_refused_naming_the_field(world, client_of, patient):
    client = client_of(world.front_desk)
    past = (timezone.now() - datetime.timedelta(hours=2)).isoformat()
    cases = {
        "starts_at": booking(world, patient, starts_at=past),
        "length": booking(world, patient, length_minutes=300),
        "therapist": booking(world, patient, therapist=str(world.front_desk.pk)),
        "clinic": booking(world, patient, clinic=str(world.halifax.pk)),
    }
    for field, body in cases.items():
        response = send(client, reverse("session-list"), body)
        assert response.status_code == 400, field
        assert field in response.json()["fields"], (field, response.json())
    assert not TreatmentSession.objects.exists()


def test_the_list_filters_by_day_at_the_clinic_and_by_therapist(world, client_of, patient):
    services.book_session(
        clinic=world.kelowna,
        therapist=world.therapist,
        patient=patient,
        # 23:30 in Kelowna is already the next day in UTC: the clinic's day counts.
        starts_at=tomorrow_at(23, 30, clinic=world.kelowna),
        by=world.front_desk,
    )
    client = client_of(world.front_desk)
    day = tomorrow_at(0, clinic=world.kelowna).date()
    listed = client.get(reverse("session-list"), {"date": day.isoformat()}).json()
    assert listed["count"] == 1
    next_day = (day + datetime.timedelta(days=1)).isoformat()
    assert client.get(reverse("session-list"), {"date": next_day}).json()["count"] == 0

    # A calendar's range: both days included, on the clinic's clock.
    def in_range(first, last) -> int:
        week = {"from_date": first.isoformat(), "to_date": last.isoformat()}
        return client.get(reverse("session-list"), week).json()["count"]

    assert in_range(day, day) == in_range(day - datetime.timedelta(days=6), day) == 1
    assert in_range(day + datetime.timedelta(days=1), day + datetime.timedelta(days=7)) == 0
    assert in_range(day - datetime.timedelta(days=7), day - datetime.timedelta(days=1)) == 0
    mine = {"therapist": str(world.therapist.pk)}
    assert client.get(reverse("session-list"), mine).json()["count"] == 1
    refused = client.get(reverse("session-list"), {"therapist": str(world.other_therapist.pk)})
    assert refused.status_code == 400


def test_the_day_filter_takes_each_clinics_own_day(world, client_of, patient):
    # The zones come from the clinics, not the sessions: each clinic's day is its own.
    toronto = ClinicFactory(
        organization=world.organization, name="Toronto", timezone="America/Toronto"
    )
    MembershipFactory(user=world.therapist, clinic=toronto, role=Role.THERAPIST)
    MembershipFactory(user=world.front_desk, clinic=toronto, role=Role.FRONT_DESK)
    day = tomorrow_at(0, clinic=world.kelowna).date()
    kelowna_evening = services.book_session(
        clinic=world.kelowna,
        therapist=world.therapist,
        patient=patient,
        starts_at=datetime.datetime.combine(day, datetime.time(18), tzinfo=world.kelowna.zone),
        by=world.front_desk,
    )
    # 00:15 the next day in Toronto is 21:15 of `day` in Kelowna: Toronto's next day.
    toronto_night = services.book_session(
        clinic=toronto,
        therapist=world.therapist,
        patient=patient,
        starts_at=datetime.datetime.combine(
            day + datetime.timedelta(days=1), datetime.time(0, 15), tzinfo=toronto.zone
        ),
        by=world.front_desk,
    )
    client = client_of(world.front_desk)

    def on(day) -> set[str]:
        listed = client.get(reverse("session-list"), {"date": day.isoformat()}).json()
        return {session["id"] for session in listed["results"]}

    assert on(day) == {str(kelowna_evening.pk)}
    assert on(day + datetime.timedelta(days=1)) == {str(toronto_night.pk)}


def test_cancel_and_no_show_through_the_api(world, client_of, patient):
    session = services.book_session(
        clinic=world.kelowna,
        therapist=world.therapist,
        patient=patient,
        starts_at=timezone.now() - datetime.timedelta(minutes=5),
        by=world.front_desk,
    )
    client = client_of(world.front_desk)
    url = reverse("session-no-show", args=[session.pk])
    assert send(client, url, {"reason": "No answer"}).json()["status"] == "no_show"
    later = services.book_session(
        clinic=world.kelowna,
        therapist=world.therapist,
        patient=patient,
        starts_at=tomorrow_at(9, clinic=world.kelowna),
        by=world.front_desk,
    )
    empty = send(client, reverse("session-cancel", args=[later.pk]), {})
    assert empty.status_code == 400
    assert "reason" in empty.json()["fields"]
    done = send(client, reverse("session-cancel", args=[later.pk]), {"reason": "Flu"})
    assert done.json()["status"] == "cancelled"


def test_a_patient_lists_their_own_sessions_and_cannot_book(world, client_of, patient):
    services.book_session(
        clinic=world.kelowna,
        therapist=world.therapist,
        patient=patient,
        starts_at=tomorrow_at(9, clinic=world.kelowna),
        by=world.front_desk,
    )
    other = PatientFactory(home_clinic=world.kelowna)
    services.book_session(
        clinic=world.kelowna,
        therapist=world.therapist,
        patient=other,
        starts_at=tomorrow_at(11, clinic=world.kelowna),
        by=world.front_desk,
    )
    client = client_of(patient.user)
    assert client.get(reverse("session-list")).json()["count"] == 1
    refused = send(client, reverse("session-list"), booking(world, patient, hour=14))
    assert refused.status_code == 400
    assert TreatmentSession.objects.count() == 2


def test_the_list_costs_the_same_queries_for_one_session_or_many(world, client_of):
    client = client_of(world.front_desk)

    def book(count, start):
        for n in range(count):
            services.book_session(
                clinic=world.kelowna,
                therapist=world.therapist,
                patient=PatientFactory(home_clinic=world.kelowna),
                starts_at=tomorrow_at(start + n, clinic=world.kelowna),
                by=world.front_desk,
            )

    book(1, 7)
    with CaptureQueriesContext(connection) as one:
        client.get(reverse("session-list"))
    book(5, 8)
    with CaptureQueriesContext(connection) as many:
        assert client.get(reverse("session-list")).json()["count"] == 6
    assert len(many) == len(one)


def test_starting_through_the_api_says_why_it_is_refused(world, client_of, patient):
    session = services.book_session(
        clinic=world.kelowna,
        therapist=world.therapist,
        patient=patient,
        starts_at=this_minute(),
        by=world.front_desk,
    )
    response = send(client_of(world.therapist), reverse("session-start", args=[session.pk]), {})
    assert response.status_code == 400
    assert response.json()["code"] == "start_refused"
    assert "There is no signed consent." in response.json()["detail"]
    assert "There is no screening." in response.json()["detail"]
    desk = send(client_of(world.front_desk), reverse("session-start", args=[session.pk]), {})
    assert desk.status_code == 403


def test_a_start_time_without_its_offset_is_refused(world, client_of, patient):
    naive = tomorrow_at(10, clinic=world.kelowna).replace(tzinfo=None).isoformat()
    response = send(
        client_of(world.front_desk),
        reverse("session-list"),
        booking(world, patient, starts_at=naive),
    )
    assert response.status_code == 400
    assert "UTC offset" in response.json()["fields"]["starts_at"][0]
    assert not TreatmentSession.objects.exists()


def test_an_idempotency_key_reused_elsewhere_shows_nothing_and_books_nothing(
    world, client_of, patient
):
    key = {"Idempotency-Key": "6f1d2c1e-3d8a-4a8e-9d55-6b7f0a4c2b11"}
    first = send(
        client_of(world.front_desk), reverse("session-list"), booking(world, patient), **key
    )
    assert first.status_code == 201
    again = send(
        client_of(world.front_desk), reverse("session-list"), booking(world, patient), **key
    )
    assert again.json()["id"] == first.json()["id"]
    vernon_patient = PatientFactory(home_clinic=world.vernon)
    elsewhere = send(
        client_of(world.vernon_therapist),
        reverse("session-list"),
        {
            **booking(world, vernon_patient),
            "clinic": str(world.vernon.pk),
            "therapist": str(world.vernon_therapist.pk),
        },
        **key,
    )
    assert elsewhere.status_code == 409
    assert list(elsewhere.json()["fields"]) == ["Idempotency-Key"]
    assert "Pat" not in elsewhere.content.decode()
    assert TreatmentSession.objects.count() == 1


def vancouver(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=zoneinfo.ZoneInfo("America/Vancouver"))


def test_a_session_says_whether_it_can_be_started_today_and_the_start_of_another_day_is_refused(
    world, client_of, patient
):
    with time_machine.travel(vancouver(2026, 12, 7, 10, 0)):
        ready_to_needle(patient, by=world.therapist)
        booked = send(
            client_of(world.front_desk),
            reverse("session-list"),
            booking(world, patient, starts_at=vancouver(2026, 12, 8, 10, 0).isoformat()),
        )
        assert booked.status_code == 201
        session = booked.json()
        sentence = (
            "This session is booked for Tuesday 8 December: it can be started on that day only."
        )
        assert (session["can_start_today"], session["start_refusal"]) == (False, sentence)
        therapist = client_of(world.therapist)
        listed = therapist.get(reverse("session-list")).json()["results"]
        assert [(s["id"], s["start_refusal"]) for s in listed] == [(session["id"], sentence)]
        refused = send(therapist, reverse("session-start", args=[session["id"]]), {})
        assert refused.status_code == 400
        assert refused.json() == {
            "detail": sentence,
            "code": "start_refused",
            "fields": {"starts_at": [sentence]},
        }
    with time_machine.travel(vancouver(2026, 12, 8, 9, 50)):  # its day, before its time
        therapist = client_of(world.therapist)
        today = therapist.get(reverse("session-detail", args=[session["id"]])).json()
        assert (today["can_start_today"], today["start_refusal"]) == (True, None)
        started = send(therapist, reverse("session-start", args=[session["id"]]), {})
        assert started.status_code == 200
        assert started.json()["status"] == "in_progress"
        assert (started.json()["can_start_today"], started.json()["start_refusal"]) == (
            False,
            None,
        )


def test_a_session_of_today_on_the_clinics_clock_can_be_started_whatever_the_date_in_utc(
    world, client_of, patient
):
    # 16:30 in Vancouver is 23:30 UTC, 17:30 the next day: the clinic's day counts.
    evening, late = day_at(1, 16, 0, clinic=world.kelowna), day_at(1, 17, 30, clinic=world.kelowna)
    with time_machine.travel(evening):
        session = services.book_session(
            clinic=world.kelowna,
            therapist=world.therapist,
            patient=patient,
            starts_at=late,
            by=world.front_desk,
        )
        shown = client_of(world.therapist).get(reverse("session-detail", args=[session.pk]))
    assert shown.json()["can_start_today"] is True
