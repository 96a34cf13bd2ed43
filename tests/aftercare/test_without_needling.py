"""Aftercare of a session without needling (manual therapy, exercise or education): a
9-year-old can have physiotherapy; she cannot be needled. Her plan says nothing about needle
sites or a collapsed lung, her check-ins ask nothing about where needles went in, and chest
pain is an emergency all the same."""

import datetime
import re
import uuid
from html import unescape

import pytest
import time_machine
from django.urls import reverse

from aftercare import questions, services
from aftercare.exceptions import CheckInIncomplete
from aftercare.models import Alert, CheckIn, CheckInAnswer
from aftercare.next_steps import next_steps
from aftercare.services.check_ins import submit_check_in
from sessions import services as session_services
from tests.aftercare.factories import (
    CALM,
    answer_when_due,
    draft_plan,
    first_check_in,
    plan_of,
    signed_session,
)
from tests.patients.factories import PatientFactory, born_years_ago, with_portal_login
from tests.sessions.factories import this_minute

JSON = "application/json"
HOUR = datetime.timedelta(hours=1)

NEEDLING_WORDS = re.compile(r"needl|bruis|collapsed lung|pneumothorax", re.IGNORECASE)
"""Words of the needling advice that a plan without needling never says."""


def text(response) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def without_bruising(**changes) -> dict:
    """Calm answers to a check-in without needling: it asks no bruising."""
    return {**{k: v for k, v in CALM.items() if k != "bruising"}, **changes}


@pytest.fixture
def nina(world):
    """Nina, 9, with a portal login: no screening, no consent to needling."""
    return with_portal_login(
        PatientFactory(
            home_clinic=world.kelowna,
            first_name="Nina",
            last_name="Thompson",
            date_of_birth=born_years_ago(9, zone="America/Vancouver"),
        )
    )


def physio_session(world, patient):
    """Booked without needling by the front desk, started, charted and signed by the therapist,
    with the therapist's additions to the plan."""
    session = session_services.book_session(
        clinic=world.kelowna,
        therapist=world.therapist,
        patient=patient,
        starts_at=this_minute(),
        by=world.front_desk,
        needling=False,
    )
    session = session_services.start_session(session=session, by=world.therapist)
    draft_plan(session, therapist=world.therapist)
    session_services.save_chart(
        session=session, by=world.therapist, expected_version=1, complaint="Sore knee"
    )
    return session_services.sign_session(session=session, by=world.therapist)


@pytest.fixture
def session(world, nina):
    return physio_session(world, nina)


def check_in_url(check_in, name="detail"):
    return reverse(f"check-in-{name}", args=[check_in.pk])


# --- The plan ------------------------------------------------------------------------


def test_the_plan_gives_the_advice_without_needling_and_no_needle_site(session):
    plan = plan_of(session)
    assert plan.is_issued
    assert (plan.template.needling, plan.title) == (False, "After your session")
    assert plan.needled_muscles == []
    assert not NEEDLING_WORDS.search(plan.title + plan.advice)
    assert "Keep moving" in plan.advice
    assert "Chest pain, shortness of breath, or pain when you breathe in" in plan.advice
    # The same check-ins as after needling: the soreness follows the same days.
    assert list(CheckIn.objects.filter(session=session).values_list("hours_after", flat=True)) == [
        24,
        48,
        72,
    ]


def test_the_advice_without_needling_is_versioned_apart_from_the_needling_advice(
    world, patient, nina
):
    needling = services.current_template(world.organization)
    services.current_template(world.organization, needling=False)  # version 1, the defaults
    services.publish_template(
        organization=world.organization,
        by=world.org_admin,
        title="After your physiotherapy",
        body="Keep moving.\n\nCall the clinic if anything worries you.",
        needling=False,
    )
    physio = plan_of(physio_session(world, nina))
    assert (physio.title, physio.template_version) == ("After your physiotherapy", 2)
    needled = plan_of(
        signed_session(patient, therapist=world.therapist, starts_at=this_minute() + HOUR)
    )
    assert (needled.template, needled.title) == (needling, "After your dry needling session")
    assert "Upper trapezius (left)" in needled.needled_muscles


def test_an_org_admin_publishes_the_advice_without_needling_through_the_api(world, client_of):
    client = client_of(world.org_admin)
    published = client.post(
        reverse("aftercare-template-list"),
        {
            "organization": str(world.organization.pk),
            "needling": False,
            "title": "After your physiotherapy",
            "body": "Keep moving.",
        },
        content_type=JSON,
    )
    assert published.status_code == 201, published.json()
    assert (published.json()["needling"], published.json()["version"]) == (False, 1)
    listed = client.get(reverse("aftercare-template-list"), {"needling": "false"}).json()
    assert [row["title"] for row in listed["results"]] == ["After your physiotherapy"]
    assert services.current_template(world.organization).version == 1  # needling's own


def test_the_admin_add_page_starts_from_the_advice_asked_for_and_publishes_it(world, client_of):
    client = client_of(world.org_admin)
    add = reverse("admin:aftercare_aftercaretemplate_add")
    form = client.get(add, {"needling": "0"}).context["adminform"].form
    assert (form.initial["needling"], form.initial["title"]) == (False, "After your session")
    posted = {
        "organization": str(world.organization.pk),
        "needling": "False",
        "title": "After your session",
        "body": form.initial["body"] + "\n\nBring your exercise sheet next time.",
    }
    response = client.post(add, posted, follow=True)
    assert [str(message) for message in response.context["messages"]] == [
        "Version 2 of the aftercare advice for sessions without needling is published."
    ]
    assert services.current_template(world.organization, needling=False).version == 2
    assert services.current_template(world.organization).version == 1


def test_the_patient_reads_a_plan_without_needling_advice(session, nina, client_of):
    html = (
        client_of(nina.user)
        .get(reverse("aftercare_portal:plan", args=[plan_of(session).pk]))
        .content.decode()
    )
    page = " ".join(
        unescape(
            re.sub(r"<[^>]+>", " ", html[html.index("<article") : html.index("</article>")])
        ).split()
    )
    assert "After your session" in page
    assert "Upper trapezius stretch" in page  # the therapist's exercise
    assert "Where you were treated" not in page
    assert not NEEDLING_WORDS.search(page)
    assert "In an emergency" in page


def test_the_staff_pages_say_the_session_was_without_needling(world, session, client_of):
    client = client_of(world.therapist)
    plan_page = text(client.get(reverse("aftercare:plan", args=[session.pk])))
    assert "advice without needling version 1" in plan_page
    assert "A session without needling" in plan_page
    detail = text(client.get(reverse("sessions:detail", args=[session.pk])))
    assert "The plan as issued" in detail


def test_the_signing_confirmation_says_what_a_session_without_needling_issues(
    world, nina, client_of
):
    session = session_services.book_session(
        clinic=world.kelowna,
        therapist=world.therapist,
        patient=nina,
        starts_at=this_minute(),
        by=world.front_desk,
        needling=False,
    )
    session_services.start_session(session=session, by=world.therapist)
    page = text(client_of(world.therapist).get(reverse("sessions:sign_confirm", args=[session.pk])))
    assert "advice for sessions without needling “After your session”" in page
    assert "Without needling: no needle sites" in page
    assert "24, 48 and 72 hours after signing" in page


def test_the_chart_page_saves_a_session_without_needling_without_needle_counts(
    world, nina, client_of
):
    session = session_services.book_session(
        clinic=world.kelowna,
        therapist=world.therapist,
        patient=nina,
        starts_at=this_minute(),
        by=world.front_desk,
        needling=False,
    )
    session_services.start_session(session=session, by=world.therapist)
    saved = client_of(world.therapist).post(
        reverse("sessions:save_chart", args=[session.pk]),
        {"version": 1, "complaint": "Sore knee"},
        headers={"Accept": JSON},
    )
    assert saved.status_code == 200, saved.json()


# --- Check-ins -------------------------------------------------------------------------


def test_a_check_in_without_needling_asks_no_needle_site_question(session):
    check_in = CheckIn.objects.select_related("session").get(pk=first_check_in(session).pk)
    assert "bruising" not in questions.asked(check_in)
    asked = {question.name: question.text for question in questions.questions_of(check_in)}
    assert asked["chest_pain"] == "Do you have chest pain?"
    assert asked["infection_signs"] == (
        "Is the treated area red, warm or swollen, or do you have a fever?"
    )
    assert not any("needle" in wording for wording in asked.values())


def test_answers_without_bruising_are_filed_and_triaged_for_the_treated_area(session, nina):
    check_in = first_check_in(session)
    with time_machine.travel(check_in.due_at, tick=False):
        answer = services.answer_check_in(
            check_in=check_in, by=nina.user, **without_bruising(infection_signs=True)
        )
    assert (answer.bruising, answer.triage) == ("", "alert")
    assert answer.triage_reasons == ["Redness, warmth or swelling in the treated area, or a fever"]
    assert Alert.objects.get(check_in=check_in).level == "alert"


def test_missing_answers_name_only_the_questions_asked(session, nina):
    check_in = first_check_in(session)
    with time_machine.travel(check_in.due_at, tick=False):
        with pytest.raises(CheckInIncomplete) as incomplete:
            submit_check_in(check_in=check_in, by=nina.user, soreness=2)
        assert "bruising" not in incomplete.value.problems
        assert "fatigue" in incomplete.value.problems
        # Chest pain with the rest missing: filed at once; still to answer, what is asked.
        submitted = submit_check_in(check_in=check_in, by=nina.user, chest_pain=True)
    assert submitted.answer is None
    assert set(submitted.still_to_answer) == set(questions.names(needling=False)) - {
        "chest_pain",
        "comments",
    }


def test_chest_pain_after_a_session_without_needling_is_urgent_and_claims_no_needling(
    session, nina
):
    answer = answer_when_due(first_check_in(session), by=nina.user, chest_pain=True)
    assert (answer.triage, answer.triage_reasons) == ("urgent", ["Chest pain"])
    steps = next_steps(answer, answer.check_in)
    assert steps.emergency_number == "911"
    assert "without needling" in steps.text
    assert "Chest pain, shortness of breath or pain when breathing in needs a doctor" in steps.text
    assert not re.search(r"after dry needling|collapsed lung|pneumothorax", steps.text)


def test_a_bruising_answer_sent_anyway_is_not_kept(session, nina):
    answer = answer_when_due(first_check_in(session), by=nina.user, bruising="a_lot")
    assert (answer.bruising, answer.triage) == ("", "filed")


# --- The API ----------------------------------------------------------------------------


def test_the_api_lists_the_questions_each_check_in_asks(world, patient, session, client_of):
    needled = first_check_in(
        signed_session(patient, therapist=world.therapist, starts_at=this_minute() + HOUR)
    )
    client = client_of(world.therapist)
    physio = client.get(check_in_url(first_check_in(session))).json()
    names = [question["name"] for question in physio["questions"]]
    assert names == list(questions.names(needling=False))
    assert "bruising" not in names
    assert "treated area" in next(
        q["text"] for q in physio["questions"] if q["name"] == "infection_signs"
    )
    # A check-in after needling asks everything, as before.
    after_needling = client.get(check_in_url(needled)).json()
    assert [q["name"] for q in after_needling["questions"]] == list(CheckInAnswer.ANSWERS)


def test_the_api_takes_answers_without_bruising_and_shows_it_as_not_asked(session, nina, client_of):
    check_in = first_check_in(session)
    with time_machine.travel(check_in.due_at, tick=False):
        client = client_of(nina.user)
        filed = client.post(
            check_in_url(check_in, "answer"),
            without_bruising(soreness=4),
            content_type=JSON,
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        shown = client.get(check_in_url(check_in)).json()
    assert filed.status_code == 201, filed.json()
    assert (filed.json()["bruising"], filed.json()["triage"]) == (None, "filed")
    assert shown["answer"]["bruising"] is None
    assert shown["answer"]["soreness"] == 4


def test_a_list_of_check_ins_with_and_without_needling_costs_the_same_queries(
    world, patient, nina, client_of, django_assert_max_num_queries
):
    physio_session(world, nina)
    client = client_of(world.therapist)
    url = reverse("check-in-list")
    with django_assert_max_num_queries(50) as counted:
        assert client.get(url).json()["count"] == 3
    signed_session(patient, therapist=world.therapist, starts_at=this_minute() + HOUR)
    with django_assert_max_num_queries(len(counted.captured_queries)):
        assert client.get(url).json()["count"] == 6


# --- The portal's check-in form ----------------------------------------------------------


def test_the_portal_asks_no_needle_site_question_and_files_the_answers(session, nina, client_of):
    check_in = first_check_in(session)
    url = reverse("aftercare_portal:check_in", args=[check_in.pk])
    with time_machine.travel(check_in.due_at, tick=False):
        client = client_of(nina.user)  # logged in when the e-mail came
        form = text(client.get(url))
        assert "Any bruising" not in form
        assert "needle" not in form
        assert "Is the treated area red, warm or swollen, or do you have a fever?" in form
        assert "If you have chest pain, shortness of breath" in form
        sent = client.post(
            url,
            {
                "chest_pain": "no",
                "short_of_breath": "no",
                "infection_signs": "no",
                "nerve_symptoms": "no",
                "soreness": "3",
                "pain": "2",
                "trend": "better",
                "fatigue": "none",
                "comments": "",
                "submission_key": str(uuid.uuid4()),
            },
        )
    assert sent.status_code == 302
    assert CheckInAnswer.objects.get(check_in=check_in).bruising == ""
