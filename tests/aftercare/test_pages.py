"""The aftercare pages: the patient's plan and check-in, the link in the e-mail, the alerts."""

import datetime
import re
from html import unescape

import pytest
import time_machine
from django.urls import reverse

from aftercare import services
from aftercare.models import Alert, AlertNote, CheckInAnswer, PlanRead
from patients.models import RecordRead
from tests.aftercare.factories import answer_when_due, first_check_in, plan_of, signed_session
from tests.patients.factories import PatientFactory, with_portal_login


def text(response) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


@pytest.fixture
def session(world, patient):
    return signed_session(patient, therapist=world.therapist)


def token_of(check_in) -> str:
    return services.link_to(check_in).rsplit("/check-in/", 1)[1].strip("/")


FORM = {
    "chest_pain": "no",
    "short_of_breath": "no",
    "infection_signs": "no",
    "nerve_symptoms": "no",
    "soreness": "3",
    "pain": "2",
    "trend": "better",
    "bruising": "none",
    "fatigue": "some",
    "comments": "",
    "submission_key": "4b8f6c7e-0d7a-4a55-9d0c-3f1c2a9e8b10",
}


# --- The plan ---------------------------------------------------------------------


def test_the_patient_reads_the_plan_and_marks_it_read(world, session, patient, client_of):
    plan = plan_of(session)
    client = client_of(patient.user)
    page = client.get(reverse("aftercare_portal:plan", args=[plan.pk]))
    shown = text(page)
    assert "After your dry needling session" in shown
    assert "Upper trapezius (left)" in shown
    assert "Upper trapezius stretch 3 sets, hold 30 seconds, twice a day" in shown
    assert "No overhead lifting until Friday." in shown
    assert "Drink plenty of water" in shown
    assert "call 911" in shown
    response = client.post(reverse("aftercare_portal:mark_read", args=[plan.pk]), follow=True)
    assert "your therapist can see that you have read it" in text(response)
    assert "You marked this as read on" in text(response)
    assert PlanRead.objects.get(plan=plan).read_by == patient.user


def test_the_advice_text_becomes_headings_paragraphs_and_lists(world, session, patient, client_of):
    page = client_of(patient.user).get(reverse("aftercare_portal:plan", args=[plan_of(session).pk]))
    html = page.content.decode()
    assert "<h2>What to expect</h2>" in html
    assert "<li>Drink plenty of water today and tomorrow.</li>" in html


# --- The check-in link and form -----------------------------------------------------


def test_an_altered_link_says_so_without_a_login(client, session):
    response = client.get(
        reverse("aftercare_portal:check_in_link", args=[token_of(first_check_in(session)) + "x"])
    )
    assert response.status_code == 404
    assert "This check-in link is not valid" in text(response)


def test_the_link_asks_for_a_login_before_anything_clinical(client, session):
    url = reverse("aftercare_portal:check_in_link", args=[token_of(first_check_in(session))])
    response = client.get(url)
    assert response.status_code == 302
    assert response.url.startswith(reverse("account_login"))
    assert "next=" in response.url


def test_the_link_opens_the_check_in_for_its_patient(client_of, session, patient):
    check_in = first_check_in(session)
    url = reverse("aftercare_portal:check_in_link", args=[token_of(check_in)])
    response = client_of(patient.user).get(url)
    assert response.url == reverse("aftercare_portal:check_in", args=[check_in.pk])


def test_the_link_tells_another_login_nothing(world, client_of, session):
    kit = with_portal_login(
        PatientFactory(home_clinic=world.kelowna, first_name="Kit", last_name="Lee")
    ).user  # named: a random "Patrick" on the page would read as Pat's name
    url = reverse("aftercare_portal:check_in_link", args=[token_of(first_check_in(session))])
    response = client_of(kit).get(url)
    assert response.status_code == 404
    assert "not for the login you are using" in text(response)
    assert "Pat" not in text(response)


def test_chest_pain_shows_the_emergency_advice_and_raises_an_urgent_alert(
    world, client_of, session, patient
):
    check_in = first_check_in(session)
    url = reverse("aftercare_portal:check_in", args=[check_in.pk])
    with time_machine.travel(check_in.due_at + datetime.timedelta(hours=2), tick=False):
        client = client_of(patient.user)  # logged in when the e-mail came
        form = client.get(url)
        assert "How are you feeling?" in text(form)
        key = form.context["form"]["submission_key"].value()
        answers = {**FORM, "chest_pain": "yes", "submission_key": key}
        response = client.post(url, answers, follow=True)
        shown = text(response)
        assert "Get emergency care now" in shown
        assert "Call 911" in shown
        assert "Your therapist and the clinic have been alerted." in shown
        # Sent again (a double click): still one answer, one alert.
        again = client.post(url, answers, follow=True)
        assert "Get emergency care now" in text(again)
        home = text(client.get(reverse("portal:home")))
        assert "You reported chest pain" in home
        assert "call 911 now" in home
    assert CheckInAnswer.objects.count() == 1
    assert Alert.objects.get().level == "urgent"


def test_a_warning_sign_thanks_the_patient_and_says_the_clinic_will_call(
    client_of, session, patient
):
    check_in = first_check_in(session)
    url = reverse("aftercare_portal:check_in", args=[check_in.pk])
    with time_machine.travel(check_in.due_at, tick=False):
        response = client_of(patient.user).post(
            url, {**FORM, "infection_signs": "yes"}, follow=True
        )
    shown = text(response)
    assert "Thank you: your therapist has been told" in shown
    assert "the clinic will contact you" in shown
    assert "Get emergency care now" not in shown
    assert Alert.objects.get().level == "alert"


def test_a_missing_or_out_of_range_answer_is_named_on_the_form(client_of, session, patient):
    check_in = first_check_in(session)
    url = reverse("aftercare_portal:check_in", args=[check_in.pk])
    with time_machine.travel(check_in.due_at, tick=False):
        response = client_of(patient.user).post(url, {**FORM, "soreness": "11", "chest_pain": ""})
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert errors["chest_pain"] == ["Answer yes or no."]
    assert "11 is not one of the available choices" in errors["soreness"][0]
    assert not CheckInAnswer.objects.exists()


def test_a_check_in_not_open_yet_or_closed_says_when(client_of, session, patient):
    check_in = first_check_in(session)
    url = reverse("aftercare_portal:check_in", args=[check_in.pk])
    assert "This check-in is not open yet" in text(client_of(patient.user).get(url))
    with time_machine.travel(check_in.closes_at, tick=False):
        client = client_of(patient.user)
        assert "This check-in has closed" in text(client.get(url))
        response = client.post(url, FORM)
    assert "This check-in has closed" in text(response)
    assert not CheckInAnswer.objects.exists()


# --- Alerts -------------------------------------------------------------------------


@pytest.fixture
def urgent(session, patient) -> Alert:
    answer_when_due(
        first_check_in(session), by=patient.user, chest_pain=True, comments="Sharp on the left"
    )
    return Alert.objects.get()


def test_the_alert_list_puts_open_urgent_alerts_first(world, client_of, urgent, patient):
    from tests.patients.factories import tomorrow_at

    # Pat's next session starts once the therapist has acknowledged the urgent alert.
    services.acknowledge_alert(alert=urgent, by=world.therapist, note="Called: feels fine")
    later = signed_session(
        patient, therapist=world.therapist, starts_at=tomorrow_at(11, clinic=world.kelowna)
    )
    answer_when_due(first_check_in(later), by=patient.user, infection_signs=True)  # newer
    page = client_of(world.therapist).get(reverse("aftercare:alerts"))
    shown = text(page)
    assert shown.index("Urgent Pat Morgan") < shown.index("Needs attention Pat Morgan")
    assert shown.count("Not acknowledged") == 1


def test_the_therapist_reads_the_answers_and_acknowledges(world, client_of, urgent):
    client = client_of(world.therapist)
    page = client.get(reverse("aftercare:alert", args=[urgent.pk]))
    assert "Chest pain" in text(page)
    assert "Sharp on the left" in text(page)
    read = RecordRead.objects.get(reader=world.therapist, part="check_in")
    assert read.item_id == CheckInAnswer.objects.get().pk
    response = client.post(
        reverse("aftercare:acknowledge", args=[urgent.pk]), {"note": "Calling"}, follow=True
    )
    assert "Acknowledged: the escalation clock has stopped." in text(response)
    urgent.refresh_from_db()
    assert urgent.acknowledged_by == world.therapist


def test_resolving_without_a_note_is_refused_on_the_form(world, client_of, urgent):
    response = client_of(world.therapist).post(
        reverse("aftercare:resolve", args=[urgent.pk]), {"note": ""}
    )
    assert response.status_code == 400
    assert "Say what was done before resolving the alert." in text(response)
    urgent.refresh_from_db()
    assert urgent.resolved_at is None


def test_the_front_desk_sees_that_an_alert_exists_not_why(world, client_of, urgent):
    client = client_of(world.front_desk)
    assert "Pat Morgan" in text(client.get(reverse("aftercare:alerts")))
    page = text(client.get(reverse("aftercare:alert", args=[urgent.pk])))
    assert "Pat Morgan" in page
    assert "for clinical staff" in page
    assert "Chest pain" not in page
    assert "Sharp on the left" not in page
    for action in ("acknowledge", "resolve"):
        response = client.post(reverse(f"aftercare:{action}", args=[urgent.pk]), {"note": "x"})
        assert response.status_code == 403
    urgent.refresh_from_db()
    assert urgent.acknowledged_at is None
    assert not AlertNote.objects.exists()


# --- The plan, on the clinic's side -----------------------------------------------


@pytest.fixture
def started(world, patient):
    from tests.patients.factories import tomorrow_at
    from tests.sessions.factories import ready_to_needle, started_session

    ready_to_needle(patient, by=world.therapist)
    return started_session(
        patient=patient, therapist=world.therapist, starts_at=tomorrow_at(9, clinic=world.kelowna)
    )


def test_the_therapist_writes_the_aftercare_and_previews_it_before_signing(
    world, client_of, started
):
    from sessions import services as session_services
    from tests.sessions.factories import RISK_MUSCLE, site_fields

    session_services.add_needle_site(
        session=started,
        by=world.therapist,
        risk_acknowledged=True,
        **site_fields(muscle=RISK_MUSCLE),
    )
    client = client_of(world.therapist)
    session_page = text(client.get(reverse("sessions:detail", args=[started.pk])))
    assert "Write and preview the aftercare" in session_page
    url = reverse("aftercare:plan", args=[started.pk])
    response = client.post(
        url,
        {
            "heat_or_ice": "ice",
            "activity_limits": "No running for two days.",
            "next_visit": "Friday",
        },
        follow=True,
    )
    assert "Aftercare saved" in text(response)
    form = client.get(url).context["exercise_form"]
    response = client.post(
        reverse("aftercare:add_exercise", args=[started.pk]),
        {
            "name": "Doorway stretch",
            "sets": "2",
            "hold_seconds": "30",
            "frequency": "Three times a day",
            "submission_key": form["submission_key"].value(),
        },
        follow=True,
    )
    preview = text(response)
    assert "Added: Doorway stretch." in preview
    assert "Preview: what the patient will get" in preview
    assert "Upper trapezius (left)" in preview
    assert "Doorway stretch 2 sets, hold 30 seconds, three times a day" in preview
    assert "Ice, for swelling or bruising" in preview
    assert "Drink plenty of water" in preview
    assert "Aftercare" in text(client.get(reverse("sessions:detail", args=[started.pk])))


def test_a_bad_exercise_is_shown_on_its_form_with_what_was_typed(world, client_of, started):
    response = client_of(world.therapist).post(
        reverse("aftercare:add_exercise", args=[started.pk]),
        {"name": "Chin tuck", "sets": "50", "frequency": "", "submission_key": ""},
    )
    assert response.status_code == 400
    form = response.context["exercise_form"]
    assert form.errors["sets"] == ["At most 20 sets."]
    assert form.errors["frequency"] == ["Say how often: for example, twice a day."]
    assert 'value="Chin tuck"' in response.content.decode()


def test_adding_an_exercise_keeps_what_was_typed_in_the_additions(world, client_of, started):
    response = client_of(world.therapist).post(
        reverse("aftercare:add_exercise", args=[started.pk]),
        {
            "heat_or_ice": "ice",
            "activity_limits": "No overhead lifting until Thursday.",
            "next_visit": "Thursday",
            "other_advice": "",
            "name": "Doorway pec stretch",
            "frequency": "Twice a day",
            "submission_key": "0c7f4d5e-8a1b-4c2d-9e3f-112233445566",
        },
        follow=True,
    )
    assert "Added: Doorway pec stretch." in text(response)
    plan = plan_of(started)
    assert (plan.heat_or_ice, plan.activity_limits, plan.next_visit) == (
        "ice",
        "No overhead lifting until Thursday.",
        "Thursday",
    )
    page = text(client_of(world.therapist).get(reverse("aftercare:plan", args=[started.pk])))
    assert "No overhead lifting until Thursday." in page


def test_a_refusal_under_a_field_reads_without_the_field_name(world, client_of, started):
    response = client_of(world.therapist).post(
        reverse("aftercare:plan", args=[started.pk]),
        {"heat_or_ice": "", "activity_limits": "", "next_visit": "", "other_advice": "x" * 10_001},
    )
    assert response.status_code == 400
    assert response.context["plan_form"].errors["other_advice"] == [
        "At most 10,000 characters; this is 10,001."
    ]


def test_an_exercise_is_removed_from_the_draft(world, client_of, started):
    from aftercare.models import PlanExercise
    from tests.aftercare.factories import draft_plan

    exercise = draft_plan(started, therapist=world.therapist)
    response = client_of(world.therapist).post(
        reverse("aftercare:remove_exercise", args=[started.pk, exercise.pk]), follow=True
    )
    assert "Removed: Upper trapezius stretch." in text(response)
    assert not PlanExercise.objects.exists()


def test_after_signing_the_page_shows_the_plan_as_issued_and_whether_it_was_read(
    world, client_of, session, patient
):
    services.mark_plan_read(plan=plan_of(session), by=patient.user)
    page = client_of(world.therapist).get(reverse("aftercare:plan", args=[session.pk]))
    shown = text(page)
    assert "The plan as issued" in shown
    assert "Not read yet" not in shown  # the badge says Read, with when
    read = RecordRead.objects.get(reader=world.therapist, part="aftercare")
    assert read.item_id == plan_of(session).pk
    assert "24 h due" in shown
    assert "plan_form" not in page.context
    section = text(client_of(world.therapist).get(reverse("sessions:detail", args=[session.pk])))
    assert "Read by the patient" in section


def test_the_front_desk_does_not_open_the_aftercare(world, client_of, session):
    response = client_of(world.front_desk).get(reverse("aftercare:plan", args=[session.pk]))
    assert response.status_code == 403
    page = text(client_of(world.front_desk).get(reverse("sessions:detail", args=[session.pk])))
    assert "Upper trapezius stretch" not in page


# --- The portal's home, and the patient page --------------------------------------------


def test_the_portal_shows_a_due_check_in_and_the_current_plan_first(
    world, client_of, session, patient
):
    check_in = first_check_in(session)
    with time_machine.travel(check_in.due_at + datetime.timedelta(hours=1), tick=False):
        home = client_of(patient.user).get(reverse("portal:home"))
    shown = text(home)
    assert shown.index("Your check-in after your session") < shown.index("Your aftercare")
    assert shown.index("Your aftercare") < shown.index("Before your visit")
    assert "Read your aftercare" in shown
    assert "Not read yet" in shown
    assert "Your sessions" in shown
    assert reverse("aftercare_portal:check_in", args=[check_in.pk]) in home.content.decode()


def test_the_portal_shows_the_newest_plan_and_links_the_earlier_ones_by_date(
    world, client_of, patient
):
    from tests.patients.factories import day_at

    sessions = [
        signed_session(
            patient, therapist=world.therapist, starts_at=day_at(days, 10, clinic=world.kelowna)
        )
        for days in (-9, -2)
    ]
    with time_machine.travel(day_at(0, 12, clinic=world.kelowna), tick=False):
        home = client_of(patient.user).get(reverse("portal:home"))
    shown, page = text(home), home.content.decode()
    earlier = sessions[0].starts_at.astimezone(world.kelowna.zone)
    assert f"After your session on {earlier.day} {earlier:%B %Y}" in shown
    assert reverse("aftercare_portal:plan", args=[plan_of(sessions[0]).pk]) in page
    assert reverse("aftercare_portal:plan", args=[plan_of(sessions[1]).pk]) in page
    assert shown.count("After your session on") == 1


def test_the_patient_page_draws_the_48_hour_pain_on_the_progress_chart(
    world, client_of, session, patient
):
    from aftercare.models import CheckIn

    check_in = CheckIn.objects.get(session=session, hours_after=48)
    answer_when_due(check_in, by=patient.user, pain=1)
    page = client_of(world.therapist).get(reverse("patients:detail", args=[patient.pk]))
    shown = text(page)
    assert "2 days after (check-in)" in shown
    assert "pain 2 days after (check-in) 1/10" in page.content.decode()
    assert "Plan of" in shown


# --- Query budgets: a list never costs a query per row -------------------------------


def more_sessions_with_alerts(world, patient, hours):
    from tests.patients.factories import tomorrow_at

    for hour in hours:
        session = signed_session(
            patient, therapist=world.therapist, starts_at=tomorrow_at(hour, clinic=world.kelowna)
        )
        answer_when_due(first_check_in(session), by=patient.user, chest_pain=True)


def test_the_alert_list_costs_the_same_queries_for_one_alert_or_many(
    world, client_of, patient, django_assert_max_num_queries
):
    more_sessions_with_alerts(world, patient, [9])
    client = client_of(world.therapist)
    with django_assert_max_num_queries(15) as one:
        client.get(reverse("aftercare:alerts"))
    more_sessions_with_alerts(world, patient, [10, 11, 12])
    with django_assert_max_num_queries(len(one.captured_queries)):
        response = client.get(reverse("aftercare:alerts"))
    assert text(response).count("Urgent Pat Morgan") == 4


def test_the_portal_and_patient_page_cost_the_same_queries_for_one_plan_or_many(
    world, client_of, patient, django_assert_max_num_queries
):
    more_sessions_with_alerts(world, patient, [9])
    pages = [
        (client_of(patient.user), reverse("portal:home")),
        (client_of(world.therapist), reverse("patients:detail", args=[patient.pk])),
    ]
    budgets = []
    for client, url in pages:
        with django_assert_max_num_queries(60) as one:
            client.get(url)
        budgets.append(len(one.captured_queries))
    more_sessions_with_alerts(world, patient, [10, 11, 12])
    for (client, url), budget in zip(pages, budgets, strict=True):
        with django_assert_max_num_queries(budget):
            assert client.get(url).status_code == 200
