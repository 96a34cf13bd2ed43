"""A red flag is never lost: chest pain or shortness of breath sent with other answers
missing is filed at once, raises the urgent alert once, and shows the emergency advice;
the rest completes the same check-in later. Comments past the limit are refused, not cut.
Through the service, the patient's form and the API."""

import datetime
import re
import uuid
from html import unescape

import pytest
import time_machine
from django.core import mail
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from aftercare import selectors
from aftercare.exceptions import CheckInClosed, CheckInIncomplete
from aftercare.models import Alert, CheckIn, CheckInAnswer, Triage
from aftercare.services.check_ins import OPEN_FOR, answer_check_in, submit_check_in
from patients.models import RecordRead
from tests.aftercare.factories import answers, first_check_in, signed_session

HOUR = datetime.timedelta(hours=1)
REST = ["infection_signs", "nerve_symptoms", "soreness", "pain", "trend", "bruising", "fatigue"]
"""What a check-in asks besides the two emergency questions (comments are optional)."""


@pytest.fixture
def session(world, patient):
    return signed_session(patient, therapist=world.therapist)


@pytest.fixture
def check_in(session) -> CheckIn:
    return first_check_in(session)


def when_due(check_in, after=HOUR):
    """The clock `after` the check-in fell due, held there."""
    return time_machine.travel(check_in.due_at + after, tick=False)


def submit(check_in, by, *, after=HOUR, **given):
    with when_due(check_in, after):
        return submit_check_in(check_in=check_in, by=by, **given)


def text(response) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


# --- The service ------------------------------------------------------------------------------


def test_chest_pain_with_every_other_answer_missing_is_filed_at_once_with_an_urgent_alert(
    world, patient, check_in, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        submitted = submit(check_in, patient.user, chest_pain=True, soreness=11)

    assert submitted.answer is None
    assert list(submitted.still_to_answer) == ["short_of_breath", *REST]
    assert "not 11" in submitted.still_to_answer["soreness"]
    check_in.refresh_from_db()
    assert check_in.red_flags_reported == ["chest_pain"]
    assert check_in.red_flags_reported_at == check_in.due_at + HOUR
    alert = Alert.objects.get()
    assert (alert.level, alert.check_in, alert.therapist) == ("urgent", check_in, world.therapist)
    assert alert.escalate_at is not None
    assert [m.to for m in mail.outbox] == [[world.therapist.email]]
    assert not CheckInAnswer.objects.exists()
    # The portal's home repeats the emergency advice, as for an urgent answer.
    [emergency] = selectors.recent_emergencies(patient.user, patient)
    assert (emergency.check_in_id, emergency.triage_reasons) == (check_in.pk, ["Chest pain"])


def test_the_rest_completes_the_same_check_in_urgent_with_no_second_alert(
    world, patient, check_in, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        submit(check_in, patient.user, short_of_breath=True)
        raised = Alert.objects.get()
        rest = {name: value for name, value in answers(infection_signs=True).items()}
        del rest["short_of_breath"]  # reported already: left out, it stays
        submitted = submit(check_in, patient.user, after=5 * HOUR, **rest)

    answer = submitted.answer
    assert (answer.check_in, answer.short_of_breath, answer.triage) == (check_in, True, "urgent")
    assert answer.triage_reasons == [
        "Shortness of breath or pain on breathing",
        "Signs of infection: redness, warmth, swelling, pus or fever",
    ]
    assert submitted.still_to_answer == {}
    alert = Alert.objects.get()
    assert (alert.pk, alert.level, alert.raised_at) == (raised.pk, "urgent", raised.raised_at)
    assert len(mail.outbox) == 1  # the therapist was told once, when it was reported
    assert CheckIn.objects.filter(session=check_in.session, answer__isnull=False).count() == 1


def test_a_red_flag_reported_stays_and_its_time_never_moves(patient, check_in):
    submit(check_in, patient.user, chest_pain=True)
    with pytest.raises(CheckInIncomplete) as refusal:
        submit(check_in, patient.user, after=2 * HOUR, **answers(chest_pain=False))
    assert list(refusal.value.problems) == ["chest_pain"]
    assert "you reported chest pain on" in refusal.value.message
    assert "that answer stays on this check-in" in refusal.value.message
    assert not CheckInAnswer.objects.exists()

    # Whatever path the write takes, the database keeps the report as it was made.
    for change in (
        "UPDATE aftercare_checkin SET chest_pain_reported = false WHERE id = %s",
        "UPDATE aftercare_checkin SET red_flags_reported_at = now() WHERE id = %s",
        "UPDATE aftercare_checkin SET red_flags_reported_at = NULL, chest_pain_reported = false "
        "WHERE id = %s",
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(change, [check_in.pk])
    check_in.refresh_from_db()
    assert check_in.red_flags_reported == ["chest_pain"]


def test_a_red_flag_sent_again_is_one_report_and_one_alert_and_a_new_one_joins_it(
    patient, check_in
):
    submit(check_in, patient.user, chest_pain=True, submission_key=uuid.uuid4())
    submit(check_in, patient.user, after=HOUR, chest_pain=True, submission_key=uuid.uuid4())
    submit(check_in, patient.user, after=2 * HOUR, chest_pain=True, short_of_breath=True)
    check_in.refresh_from_db()
    assert check_in.red_flags_reported == ["chest_pain", "short_of_breath"]
    assert check_in.red_flags_reported_at == check_in.due_at + HOUR  # the first time
    assert Alert.objects.count() == 1
    assert not CheckInAnswer.objects.exists()


def test_answers_missing_without_an_emergency_file_nothing_and_name_each(patient, check_in):
    # Infection signs alone wait for the rest: they alert the therapist, not an emergency.
    with pytest.raises(CheckInIncomplete) as refusal:
        submit(check_in, patient.user, infection_signs=True, short_of_breath=False)
    assert list(refusal.value.problems) == ["chest_pain", *REST[1:]]
    assert refusal.value.details()["fields"]["soreness"] == [
        "soreness: choose a number from 0 to 10 for soreness."
    ]
    check_in.refresh_from_db()
    assert check_in.red_flags_reported == []
    assert not Alert.objects.exists()


def test_a_red_flag_sent_after_the_check_in_closed_still_raises_the_urgent_alert(
    world, patient, check_in, client_of
):
    with pytest.raises(CheckInClosed, match="has closed"):
        submit(check_in, patient.user, after=OPEN_FOR + HOUR, soreness=3)  # no red flag
    late = submit(check_in, patient.user, after=OPEN_FOR + HOUR, chest_pain=True)
    assert (late.answer, late.still_to_answer) == (None, {})
    check_in.refresh_from_db()
    assert check_in.red_flags_reported == ["chest_pain"]
    assert Alert.objects.get().level == "urgent"
    with when_due(check_in, OPEN_FOR + 2 * HOUR):
        page = client_of(patient.user).get(reverse("aftercare_portal:check_in", args=[check_in.pk]))
        api = client_of(patient.user).get(reverse("check-in-detail", args=[check_in.pk]))
    assert "Chest pain" in text(page)
    assert "emergency" in text(page).lower()
    assert api.json()["status"] == "closed"  # no longer "the rest is answered while open"
    assert api.json()["red_flags"] == ["chest_pain"]


def test_a_comment_past_the_limit_is_refused_naming_the_limit_and_never_cut(patient, check_in):
    long = "x" * 5001
    with pytest.raises(CheckInIncomplete) as refusal, when_due(check_in):
        answer_check_in(check_in=check_in, by=patient.user, **answers(comments=long))
    assert refusal.value.field == "comments"
    assert "at most 5,000 characters; these are 5,001. Nothing was cut" in refusal.value.message
    assert not CheckInAnswer.objects.exists()
    # With chest pain the red flag is filed all the same; the comment waits to be shortened.
    submitted = submit(check_in, patient.user, **answers(chest_pain=True, comments=long))
    assert (submitted.answer, list(submitted.still_to_answer)) == (None, ["comments"])
    assert Alert.objects.get().level == "urgent"
    with when_due(check_in, 2 * HOUR):
        filed = answer_check_in(
            check_in=check_in, by=patient.user, **answers(chest_pain=True, comments="x" * 5000)
        )
    assert len(filed.comments) == 5000
    assert filed.triage == Triage.URGENT


# --- The patient's form -----------------------------------------------------------------------


def check_in_url(check_in) -> str:
    return reverse("aftercare_portal:check_in", args=[check_in.pk])


def test_the_form_with_chest_pain_and_nothing_else_shows_the_emergency_page_at_once(
    world, client_of, patient, check_in
):
    url = check_in_url(check_in)
    with when_due(check_in):
        client = client_of(patient.user)
        response = client.post(
            url, {"chest_pain": "yes", "soreness": "4", "submission_key": str(uuid.uuid4())}
        )
        again = client.post(url, {"chest_pain": "yes", "submission_key": str(uuid.uuid4())})
    assert response.status_code == 200
    shown = text(response)
    assert shown.index("Get emergency care now") < shown.index("Still to answer")
    assert "Call 911" in shown and "Do not drive yourself." in shown
    assert "Your therapist and the clinic have been alerted." in shown
    assert "You told us of chest pain on" in shown
    assert "Some answers are missing" not in shown and "There is a problem" not in shown
    form = response.context["form"]
    assert "chest_pain" not in form.fields  # reported: not asked again
    assert form["soreness"].value() == "4"  # what was typed is kept
    assert 'href="#id_short_of_breath_0"' in response.content.decode()
    assert "Get emergency care now" in text(again)  # a double submit: the same page
    assert Alert.objects.get().level == "urgent"
    assert not CheckInAnswer.objects.exists()

    with when_due(check_in, 3 * HOUR):
        client = client_of(patient.user)  # two hours idle: the first login has ended
        later = client.get(url)  # the same check-in, the rest still to answer
        assert "Get emergency care now" in text(later)
        assert "Send the rest of my answers" in text(later)
        rest = {
            name: value
            for name, value in {
                "short_of_breath": "no",
                "infection_signs": "no",
                "nerve_symptoms": "no",
                "soreness": "4",
                "pain": "2",
                "trend": "same",
                "bruising": "none",
                "fatigue": "none",
                "submission_key": later.context["form"]["submission_key"].value(),
            }.items()
        }
        done = client.post(url, rest, follow=True)
        home = text(client.get(reverse("portal:home")))
    assert "Get emergency care now" in text(done)
    answer = CheckInAnswer.objects.get()
    assert (answer.chest_pain, answer.soreness, answer.triage) == (True, 4, "urgent")
    assert Alert.objects.count() == 1
    assert "You reported chest pain" in home

    therapist = client_of(world.therapist).get(reverse("aftercare:alerts"))
    assert "Urgent Pat Morgan" in text(therapist)


def test_the_form_lists_each_missing_answer_at_the_top_with_a_link_to_it(
    client_of, patient, check_in
):
    with when_due(check_in):
        response = client_of(patient.user).post(
            check_in_url(check_in), {"chest_pain": "no", "soreness": "3", "trend": "sideways"}
        )
    assert response.status_code == 400
    html = response.content.decode()
    start = html.index('class="alert danger error-summary"')
    summary = html[start : html.index("</ul>", start)]
    links = re.findall(r'<a href="#([^"]+)">([^<]+)</a>', summary)
    assert [target for target, _ in links] == [
        "id_short_of_breath_0",
        "id_infection_signs_0",
        "id_nerve_symptoms_0",
        "id_pain_0",
        "id_trend_0",
        "id_bruising_0",
        "id_fatigue_0",
    ]
    assert unescape(links[0][1]) == (
        "Are you short of breath, or does it hurt to breathe in? Answer yes or no."
    )
    assert "There is a problem" in text(response)
    assert not CheckInAnswer.objects.exists()
    assert not Alert.objects.exists()


def test_a_long_comment_on_the_form_is_refused_naming_the_limit_and_kept_whole(
    client_of, patient, check_in
):
    long = "My shoulder " * 500  # 6,000 characters
    form = {
        "chest_pain": "no",
        "short_of_breath": "no",
        "infection_signs": "no",
        "nerve_symptoms": "no",
        "soreness": "3",
        "pain": "2",
        "trend": "better",
        "bruising": "none",
        "fatigue": "none",
        "comments": long,
        "submission_key": str(uuid.uuid4()),
    }
    with when_due(check_in):
        response = client_of(patient.user).post(check_in_url(check_in), form)
    assert response.status_code == 400
    assert response.context["form"].errors["comments"] == [
        "At most 5,000 characters; these are 5,999. Nothing was cut: shorten them, or call the "
        "clinic to tell them the rest."
    ]
    html = response.content.decode()
    assert "maxlength" not in html  # a browser would cut a pasted text without a word
    assert long.strip() in unescape(html)
    assert not CheckInAnswer.objects.exists()


# --- The API ----------------------------------------------------------------------------------


def post_answer(client_of, user, check_in, body, after=HOUR):
    """`user` answers through the API `after` the check-in fell due, logged in then."""
    with when_due(check_in, after):
        return client_of(user).post(
            reverse("check-in-answer", args=[check_in.pk]), body, content_type="application/json"
        )


def test_the_api_files_chest_pain_with_answers_missing_and_says_to_get_emergency_care(
    world, client_of, patient, check_in
):
    response = post_answer(client_of, patient.user, check_in, {"chest_pain": True, "pain": "lots"})
    assert response.status_code == 201
    filed = response.json()
    assert (filed["complete"], filed["triage"], filed["red_flags"]) == (
        False,
        "urgent",
        ["chest_pain"],
    )
    assert filed["emergency_number"] == "911"
    assert filed["advice"].startswith("Get emergency care now. Call 911")
    assert list(filed["still_to_answer"]) == ["short_of_breath", *REST]
    assert filed["still_to_answer"]["pain"] == [
        "pain: choose a number from 0 to 10 for pain compared with before the session."
    ]
    with when_due(check_in, 2 * HOUR):
        shown = client_of(patient.user).get(reverse("check-in-detail", args=[check_in.pk])).json()
        alert = Alert.objects.get()
        therapist = client_of(world.therapist)
        for_therapist = therapist.get(reverse("alert-detail", args=[alert.pk])).json()
        for_desk = client_of(world.front_desk).get(reverse("alert-detail", args=[alert.pk])).json()
    assert (shown["status"], shown["red_flags"], shown["answer"]) == (
        "partly_answered",
        ["chest_pain"],
        None,
    )
    assert for_therapist["red_flags"] == ["Chest pain"]
    assert for_therapist["red_flags_reported_at"] is not None
    assert (for_desk["red_flags"], for_desk["red_flags_reported_at"]) == ([], None)
    assert RecordRead.objects.filter(reader=world.therapist, part="check_in").exists()
    # The front desk's alert names the patient (logged), never the answers (not logged as such).
    desk_reads = RecordRead.objects.filter(reader=world.front_desk)
    assert set(desk_reads.values_list("part", flat=True)) == {"details"}

    rest = answers()
    del rest["chest_pain"]
    done = post_answer(client_of, patient.user, check_in, rest, after=4 * HOUR)
    assert done.status_code == 201
    assert (done.json()["complete"], done.json()["chest_pain"], done.json()["triage"]) == (
        True,
        True,
        "urgent",
    )
    assert Alert.objects.count() == 1


def test_the_api_names_every_missing_answer_when_there_is_no_red_flag(client_of, patient, check_in):
    response = post_answer(client_of, patient.user, check_in, {"chest_pain": False})
    assert response.status_code == 400
    assert response.json()["code"] == "check_in_incomplete"
    assert list(response.json()["fields"]) == ["short_of_breath", *REST]
    assert not Alert.objects.exists()


def test_the_api_refuses_a_comment_past_the_limit_naming_it(client_of, patient, check_in):
    response = post_answer(client_of, patient.user, check_in, answers(comments="x" * 5001))
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["comments"]
    assert "at most 5,000 characters; these are 5,001" in response.json()["detail"]
    assert not CheckInAnswer.objects.exists()


def test_the_therapist_reads_a_red_flag_reported_before_the_rest_on_the_alert_page(
    world, patient, check_in, client_of
):
    submit(check_in, patient.user, chest_pain=True)
    alert = Alert.objects.get()
    with when_due(check_in, 2 * HOUR):
        therapist = text(
            client_of(world.therapist).get(reverse("aftercare:alert", args=[alert.pk]))
        )
        desk = text(client_of(world.front_desk).get(reverse("aftercare:alert", args=[alert.pk])))
    assert "What the patient reported" in therapist
    assert "Chest pain" in therapist
    assert RecordRead.objects.filter(reader=world.therapist, part="check_in").exists()
    assert "Chest pain" not in desk
    assert not RecordRead.objects.filter(reader=world.front_desk, part="check_in").exists()


def test_the_session_page_and_the_patients_record_show_a_red_flag_told_before_the_rest(
    world, patient, session, check_in, client_of
):
    submit(check_in, patient.user, chest_pain=True)
    with when_due(check_in, 2 * HOUR):
        page = text(client_of(world.therapist).get(reverse("sessions:detail", args=[session.pk])))
        record = client_of(patient.user).get(reverse("portal:record_json")).json()
    assert "Urgent a red flag reported" in page
    assert "the rest not answered yet" in page
    [check_ins] = [part["items"] for part in record["parts"] if part["key"] == "check_ins"]
    told = next(item for item in check_ins if item["red_flags_reported"])
    assert (told["red_flags_reported"], told["answers"]) == (["Chest pain"], [])
