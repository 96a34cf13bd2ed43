"""An urgent alert at the needle: the start gate shows it and refuses the start until the
therapist has acknowledged it with a note, then brings them back to start."""

import datetime

import time_machine
from django.utils import timezone
from playwright.sync_api import expect

from sessions import services
from sessions.models import Status, TreatmentSession
from tests.aftercare.factories import answer_when_due, first_check_in, signed_session
from tests.sessions.factories import this_minute


def test_the_start_waits_for_the_therapist_to_acknowledge_an_urgent_alert(world, patient, open_as):
    earlier = signed_session(patient, therapist=world.therapist)
    check_in = first_check_in(earlier)
    answer_when_due(check_in, by=patient.user, chest_pain=True, short_of_breath=True)
    # Pat comes back the next morning, two hours after answering.
    with time_machine.travel(check_in.due_at + datetime.timedelta(hours=3)):
        session = services.book_session(
            clinic=world.kelowna,
            therapist=world.therapist,
            patient=patient,
            starts_at=this_minute(),
            by=world.front_desk,
        )
        booked_at = timezone.localtime(session.starts_at, world.kelowna.zone)
        page = open_as(world.therapist)
        page.goto(f"/sessions/?date={booked_at:%Y-%m-%d}")
        row = page.get_by_role("row", name="Pat Morgan")
        expect(row.get_by_role("link", name="Open alert")).to_be_visible()
        row.get_by_role("link", name=f"Open the session of Pat Morgan at {booked_at:%H:%M}").click()

        gate = page.locator("#before-the-needle")
        expect(gate.get_by_text("Urgent alert from the 24 h check-in, raised")).to_be_visible()
        expect(gate.get_by_text("This session cannot start yet.")).to_be_visible()
        expect(page.get_by_role("button", name="Start the session")).to_have_count(0)
        page.locator("#start-refused").get_by_role("link", name="Open the alert").click()

        page.get_by_label("Note (optional)").fill("Called Pat: seen in A&E last night, no collapse")
        page.get_by_role("button", name="Acknowledge").click()
        expect(page.get_by_text("Acknowledged: the escalation clock has stopped.")).to_be_visible()
        expect(page).to_have_url(f"{page.url.split('/sessions/')[0]}/sessions/{session.pk}/")
        page.get_by_role("button", name="Start the session").click()
        expect(page.get_by_text("Session started")).to_be_visible()
        assert TreatmentSession.objects.get(pk=session.pk).status == Status.IN_PROGRESS
