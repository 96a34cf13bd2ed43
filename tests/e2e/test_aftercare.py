"""After a session: the patient reads the plan on a phone and reports chest pain at the
check-in before answering anything else; the emergency advice shows at once, the urgent
alert is on the therapist's list, and the rest of the answers complete the same check-in."""

import datetime

from django.utils import timezone
from playwright.sync_api import expect

from aftercare.models import Alert, CheckInAnswer, PlanRead
from tests.aftercare.factories import first_check_in, signed_session
from tests.browser import PHONE


def test_chest_pain_in_a_partly_answered_check_in_reaches_the_emergency_page_and_the_therapist(
    world, patient, open_as
):
    session = signed_session(patient, therapist=world.therapist)
    check_in = first_check_in(session)
    # A day has passed: the 24 h check-in is open.
    now = timezone.now()
    type(check_in).objects.filter(pk=check_in.pk).update(
        due_at=now - datetime.timedelta(hours=1), closes_at=now + datetime.timedelta(days=2)
    )

    phone = open_as(patient.user, viewport=PHONE)
    expect(phone.get_by_role("heading", name="How are you feeling?")).to_be_visible()
    phone.get_by_role("link", name="Read your aftercare").click()
    expect(phone.get_by_role("heading", name="Where you were treated")).to_be_visible()
    expect(phone.get_by_text("Upper trapezius (left)")).to_be_visible()
    expect(phone.get_by_text("Upper trapezius stretch")).to_be_visible()
    phone.get_by_role("button", name="I have read this").click()
    expect(phone.get_by_text("You marked this as read on")).to_be_visible()

    phone.get_by_role("link", name="← My record").click()
    phone.get_by_role("link", name="Answer the check-in").click()
    # Chest pain, one other answer, and nothing else: sent as it is.
    phone.get_by_role("group", name="Do you have chest pain?").get_by_label("Yes").check()
    phone.get_by_role("group", name="How sore are the treated muscles?").get_by_label(
        "4", exact=True
    ).check()
    phone.get_by_role("button", name="Send my answers").click()
    expect(phone.get_by_role("heading", name="Get emergency care now")).to_be_visible()
    expect(phone.get_by_role("link", name="Call 911")).to_have_attribute("href", "tel:911")
    expect(phone.get_by_text("Still to answer:")).to_be_visible()
    expect(phone.get_by_role("group", name="Do you have chest pain?")).to_have_count(0)
    assert Alert.objects.get().level == "urgent"
    assert not CheckInAnswer.objects.exists()

    desk = open_as(world.therapist)
    desk.get_by_role("link", name="Alerts 1 urgent").click()
    expect(desk.get_by_role("row", name="Urgent Pat Morgan")).to_contain_text("Not acknowledged")

    # The rest, when the patient can: the same check-in, still urgent, no second alert.
    for question, answer in [
        ("Are you short of breath, or does it hurt to breathe in?", "No"),
        ("Is there redness, warmth, swelling or pus", "No"),
        ("Do you have tingling, numbness or burning", "No"),
        ("How much pain do you have", "3"),
        ("Since your session, are your symptoms", "About the same"),
        ("Any bruising", "A little"),
        ("Do you feel tired?", "No"),
    ]:
        phone.get_by_role("group", name=question).get_by_label(answer, exact=True).check()
    expect(
        phone.get_by_role("group", name="How sore are the treated muscles?").get_by_label(
            "4", exact=True
        )
    ).to_be_checked()
    phone.get_by_role("button", name="Send the rest of my answers").click()
    expect(phone.get_by_role("heading", name="Get emergency care now")).to_be_visible()
    expect(phone.get_by_text("You answered on")).to_be_visible()

    assert PlanRead.objects.filter(plan__session=session, read_by=patient.user).exists()
    answer = CheckInAnswer.objects.get(check_in=check_in)
    assert (answer.chest_pain, answer.soreness, answer.triage) == (True, 4, "urgent")
    assert Alert.objects.count() == 1

    desk.get_by_role("link", name="Pat Morgan").click()
    expect(desk.locator("ul.alerts")).to_contain_text("Chest pain")
    desk.get_by_label("Note (optional)").fill("Called Pat: on the way to the emergency department.")
    desk.get_by_role("button", name="Acknowledge").click()
    expect(desk.get_by_text("Acknowledged: the escalation clock has stopped.")).to_be_visible()
    alert = Alert.objects.get()
    assert alert.acknowledged_by == world.therapist
