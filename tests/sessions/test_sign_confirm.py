"""Signing asks once, on a page that shows what will be signed and what the patient will get."""

import re

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.urls import reverse

from aftercare import services as aftercare_services
from aftercare.models import AftercarePlan, PlanStatus
from patients.models import RecordPart, RecordRead
from sessions import services
from sessions.models import Chart, Status
from tests.patients.factories import PatientFactory, tomorrow_at
from tests.patients.test_pages import html
from tests.sessions.factories import ready_to_needle, site_fields, started_session


@pytest.fixture
def session(world):
    """Ann Lee's session with the therapist at Kelowna, started now and not yet charted."""
    ann = PatientFactory(home_clinic=world.kelowna, first_name="Ann", last_name="Lee")
    return started_session(
        patient=ready_to_needle(ann, by=world.therapist), therapist=world.therapist
    )


def page(session, name="sign_confirm"):
    return reverse(f"sessions:{name}", kwargs={"session_id": session.pk})


def chart(session, by, **fields) -> Chart:
    current = Chart.objects.get(session=session)
    return services.save_chart(session=session, by=by, expected_version=current.version, **fields)


def charted(session, by, *, removed=3) -> Chart:
    """Two sites of 2 and 1 needles, a measurement of each kind, a bruise and the notes."""
    services.add_needle_site(session=session, by=by, **site_fields(needles=2, depth_mm=35))
    services.add_needle_site(
        session=session,
        by=by,
        **site_fields(muscle="piriformis", side="right", needles=1, lot_number="LOT-77"),
    )
    services.add_range_of_motion(
        session=session, by=by, joint="cervical_spine", movement="rotation", side="left", degrees=60
    )
    services.add_pressure_pain_threshold(
        session=session, by=by, site="Upper trapezius", side="right", kg_per_cm2="2.5"
    )
    services.add_adverse_event(
        session=session, by=by, kind="bruising", severity="mild", action_taken="Pressure held"
    )
    return chart(
        session,
        by,
        complaint="Ache in the right hip",
        pain_before=6,
        findings="Taut band, gluteus medius",
        assessment="Active trigger points",
        plan="Review in a week",
        pain_after=3,
        needles_inserted=3,
        needles_removed=removed,
    )


def sign_version(response) -> str:
    """The version the confirmation's Sign and lock sends."""
    found = re.search(r'name="sign-version" value="(\d+)"', html(response))
    assert found, "no Sign and lock form"
    return found.group(1)


def test_the_charts_sign_button_opens_the_confirmation_and_signs_nothing(world, client_of, session):
    editor = html(client_of(world.therapist).get(page(session, "detail")))

    form = re.search(r'<form method="get" action="([^"]+)" id="sign-form"', editor)
    assert form and form.group(1) == page(session)
    assert "Review and sign</button>" in editor
    assert f'action="{page(session, "sign")}"' not in editor  # no signing straight from the chart
    session.refresh_from_db()
    assert session.status == Status.IN_PROGRESS


def test_the_confirmation_shows_everything_signing_locks(world, client_of, session):
    saved = charted(session, world.therapist)

    response = client_of(world.therapist).get(page(session))

    assert response.status_code == 200
    shown = html(response)
    for expected in (
        "Ache in the right hip",
        "6/10",
        "Taut band, gluteus medius",
        "Active trigger points",
        "Review in a week",
        "3/10",
        "Gluteus medius",
        "Piriformis",
        "35",
        "LOT-77",
        "60°",
        "2.5 kg/cm²",
        "Bruising",
        "Pressure held",
        "At the signature (not charted)",
    ):
        assert expected in shown, expected
    counts = re.search(r'<dl class="facts">\s*<dt>Inserted</dt>.*?</dl>', shown, re.S).group(0)
    words = " ".join(re.sub(r"<[^>]+>", " ", counts).split())
    assert words == "Inserted 3 Removed 3 Charted at the sites 3 at 2 sites"
    assert f'action="{page(session, "sign")}"' in shown
    assert sign_version(response) == str(saved.version)
    assert ">Sign and lock</button>" in shown
    assert f'href="{page(session, "detail")}">Back to the chart</a>' in shown
    session.refresh_from_db()
    assert session.status == Status.IN_PROGRESS


def test_the_confirmation_leaves_out_measurements_when_there_are_none(world, client_of, session):
    chart(session, world.therapist, complaint="Stiff neck")

    shown = html(client_of(world.therapist).get(page(session)))

    assert "Stiff neck" in shown
    assert "Range of motion" not in shown and "Pressure-pain thresholds" not in shown
    assert "No needle sites." in shown


def test_a_count_that_would_refuse_signing_is_said_first_with_only_the_way_back(
    world, client_of, session
):
    charted(session, world.therapist, removed=2)

    response = client_of(world.therapist).get(page(session))

    shown = html(response)
    refusal = shown.index("This chart cannot be signed yet.")
    assert "Needles removed: 3 needles inserted, 2 removed." in shown
    assert refusal < shown.index("Needle count") < shown.index("Ache in the right hip")
    assert "Sign and lock</button>" not in shown
    assert f'action="{page(session, "sign")}"' not in shown
    assert "Back to the chart</a>" in shown


def test_a_needle_site_left_out_of_the_count_is_said_first(world, client_of, session):
    services.add_needle_site(session=session, by=world.therapist, **site_fields(needles=2))
    chart(session, world.therapist, needles_inserted=3, needles_removed=3)

    shown = html(client_of(world.therapist).get(page(session)))

    assert "Needles inserted: the needle sites chart 2 needles, the count says 3" in shown
    assert "Sign and lock</button>" not in shown


def test_sign_and_lock_signs_the_chart_shown_and_issues_the_aftercare(world, client_of, session):
    charted(session, world.therapist)
    client = client_of(world.therapist)
    version = sign_version(client.get(page(session)))

    signed = client.post(page(session, "sign"), {"sign-version": version})

    assert signed.status_code == 302 and signed.url == page(session, "detail")
    session.refresh_from_db()
    assert session.status == Status.SIGNED and session.signed_by == world.therapist
    assert AftercarePlan.objects.get(session=session).status == PlanStatus.ISSUED


def test_a_chart_changed_after_the_confirmation_was_shown_is_refused_not_signed(
    world, client_of, session
):
    charted(session, world.therapist)
    client = client_of(world.therapist)
    version = sign_version(client.get(page(session)))
    chart(session, world.manager, plan="Review in two weeks")  # a colleague, in between

    refused = client.post(page(session, "sign"), {"sign-version": version})

    assert refused.status_code == 409
    assert "Review in two weeks" in html(refused)  # the chart as it is now, to read again
    session.refresh_from_db()
    assert session.status == Status.IN_PROGRESS
    again = client.get(page(session))
    assert "Review in two weeks" in html(again)
    assert int(sign_version(again)) == int(version) + 1


def test_a_row_added_after_the_confirmation_was_shown_is_refused_too(world, client_of, session):
    charted(session, world.therapist)
    client = client_of(world.therapist)
    version = sign_version(client.get(page(session)))
    services.add_adverse_event(
        session=session,
        by=world.manager,
        kind="vasovagal",
        severity="mild",
        action_taken="Lay down",
    )

    refused = client.post(page(session, "sign"), {"sign-version": version})

    assert refused.status_code == 409
    session.refresh_from_db()
    assert session.status == Status.IN_PROGRESS


def test_a_chart_saved_by_someone_else_since_the_chart_page_was_opened_is_pointed_out(
    world, client_of, session
):
    opened = charted(session, world.therapist)
    chart(session, world.manager, assessment="Latent trigger points")
    client = client_of(world.therapist)

    changed = html(client.get(page(session), {"sign-version": opened.version}))
    same = html(client.get(page(session), {"sign-version": opened.version + 1}))

    assert "The chart was changed after your chart page was opened" in changed
    assert "Latent trigger points" in changed
    assert "changed after your chart page was opened" not in same


def test_the_confirmation_shows_what_the_patient_will_get(world, client_of, session):
    charted(session, world.therapist)
    aftercare_services.save_plan(
        session=session, by=world.therapist, heat_or_ice="heat", next_visit="In a week"
    )
    aftercare_services.add_exercise(
        session=session, by=world.therapist, name="Piriformis stretch", frequency="Twice a day"
    )

    shown = html(client_of(world.therapist).get(page(session)))

    summary = shown[shown.index("What the patient will get") :]
    for expected in (
        "Gluteus medius (left)",
        "Piriformis (right)",
        "Piriformis stretch",
        "Heat",
        "In a week",
        "24, 48 and 72 hours after the needling ended",
        reverse("aftercare:plan", args=[session.pk]),
    ):
        assert expected in summary, expected
    assert AftercarePlan.objects.get(session=session).status == PlanStatus.DRAFT


def test_without_additions_the_patient_gets_the_advice_and_the_muscles(world, client_of, session):
    charted(session, world.therapist)

    shown = html(client_of(world.therapist).get(page(session)))

    assert "None: the advice and the muscles only" in shown
    assert not AftercarePlan.objects.filter(session=session).exists()  # showing writes nothing


def test_the_needling_end_is_shown_as_charted_on_the_clinics_clock(world, client_of):
    patient = ready_to_needle(PatientFactory(home_clinic=world.kelowna), by=world.therapist)
    ten = tomorrow_at(10, clinic=world.kelowna)
    session = started_session(patient=patient, therapist=world.therapist, starts_at=ten)
    ended, later = (tomorrow_at(10, minute, clinic=world.kelowna) for minute in (25, 40))
    with time_machine.travel(later):
        chart(session, world.therapist, needling_ended_at=ended)
        shown = html(client_of(world.therapist).get(page(session)))

    assert re.search(r"<dt>Needling ended</dt><dd>[^<]*10:25</dd>", shown)
    assert "At the signature" not in shown


def test_reading_the_confirmation_is_written_to_the_access_log(world, client_of, session):
    aftercare_services.save_plan(session=session, by=world.therapist, next_visit="Friday")

    client_of(world.therapist).get(page(session))

    read = RecordRead.objects.get(reader=world.therapist, part=RecordPart.CHART)
    assert (read.patient_id, read.item_id) == (session.patient_id, session.pk)
    plan = AftercarePlan.objects.get(session=session)
    assert RecordRead.objects.filter(
        reader=world.therapist, part=RecordPart.AFTERCARE, item_id=plan.pk
    ).exists()


def test_only_the_sessions_therapist_is_asked_to_sign(world, client_of, session):
    chart(session, world.therapist, complaint="Ache in the right hip")

    manager = client_of(world.manager).get(page(session))
    desk = client_of(world.front_desk).get(page(session))

    assert manager.status_code == 302 and manager.url == page(session, "detail")
    assert [str(m) for m in get_messages(manager.wsgi_request)] == [
        "Only the session's therapist signs it, while it is in progress."
    ]
    assert desk.status_code == 403
    assert "Ache in the right hip" not in html(desk)
    assert not RecordRead.objects.filter(part=RecordPart.CHART).exists()


def test_a_signed_session_is_not_asked_again(world, client_of, session):
    charted(session, world.therapist)
    services.sign_session(session=session, by=world.therapist)

    response = client_of(world.therapist).get(page(session))

    assert response.status_code == 302 and response.url == page(session, "detail")


def test_the_confirmation_itself_changes_nothing(world, client_of, session):
    response = client_of(world.therapist).post(page(session), {"sign-version": "1"})

    assert response.status_code == 405
    session.refresh_from_db()
    assert session.status == Status.IN_PROGRESS


def test_the_confirmation_costs_the_same_queries_for_one_site_or_many(
    world, client_of, session, django_assert_max_num_queries
):
    client = client_of(world.therapist)
    services.add_needle_site(session=session, by=world.therapist, **site_fields())
    client.get(page(session))  # the organisation's aftercare advice is made on first use
    with django_assert_max_num_queries(30) as one:
        client.get(page(session))
    for muscle in ("piriformis", "quadratus-lumborum", "gluteus-maximus", "gluteus-minimus"):
        services.add_needle_site(session=session, by=world.therapist, **site_fields(muscle=muscle))
    with django_assert_max_num_queries(len(one)):
        client.get(page(session))
