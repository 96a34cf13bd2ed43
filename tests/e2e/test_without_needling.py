"""A 9-year-old can have physiotherapy; she cannot be needled. The front desk books her
without needling, the therapist starts and charts the session with no needle site and signs
it after the confirmation, and the plan she reads says nothing about needling."""

import re

from django.utils import timezone
from playwright.sync_api import expect

from aftercare.models import AftercarePlan
from sessions.models import NeedleSite, Status, TreatmentSession
from tests.browser import PHONE
from tests.patients.factories import PatientFactory, born_years_ago, with_portal_login
from tests.sessions.factories import this_minute


def test_a_child_booked_without_needling_is_charted_signed_and_advised_without_it(world, open_as):
    nina = with_portal_login(
        PatientFactory(
            home_clinic=world.kelowna,
            first_name="Nina",
            last_name="Thompson",
            date_of_birth=born_years_ago(9, zone=world.kelowna.timezone),
        )
    )
    now = timezone.localtime(this_minute(), world.kelowna.zone)

    desk = open_as(world.front_desk)
    desk.goto("/sessions/book/")
    desk.get_by_label("Find the patient").fill("Nina Tompson")
    desk.get_by_role("button", name="Search").click()
    desk.get_by_role("link", name="Nina Thompson").click()
    expect(desk.locator("#booking-patient")).to_contain_text("For Nina Thompson")
    desk.get_by_label("Therapist").select_option(str(world.therapist.pk))
    desk.get_by_label("Date").fill(f"{now:%Y-%m-%d}")
    desk.get_by_label("Time").fill(f"{now:%H:%M}")
    desk.get_by_label("Includes dry needling").uncheck()
    desk.get_by_role("button", name="Book").click()
    expect(desk.get_by_text("Booked: Nina Thompson.")).to_be_visible()
    session = TreatmentSession.objects.get(patient=nina)
    assert (session.status, session.needling) == (Status.BOOKED, False)

    page = open_as(world.therapist)
    page.goto(f"/sessions/{session.pk}/")
    page.get_by_role("button", name="Start the session (without needling)").click()
    expect(page.get_by_text("Session started")).to_be_visible()
    expect(page.get_by_text("This session is without needling")).to_be_visible()
    expect(page.get_by_role("button", name="Add needle site")).to_have_count(0)
    expect(page.get_by_label("Needles inserted")).to_have_count(0)
    page.get_by_label("Presenting complaint").fill("Sore knee after football")
    expect(page.get_by_role("status").filter(has_text="Saved at")).to_be_visible()
    page.get_by_role("button", name="Review and sign").click()
    expect(page.get_by_role("heading", name="Sign and lock this chart")).to_be_visible()
    expect(page.locator("#signing-aftercare")).to_contain_text("Without needling: no needle sites")
    page.get_by_role("button", name="Sign and lock").click()
    expect(page.get_by_text("Signed by")).to_be_visible()
    assert not NeedleSite.objects.filter(session=session).exists()

    phone = open_as(nina.user, viewport=PHONE)
    phone.get_by_role("link", name="Read your aftercare").click()
    expect(phone.get_by_role("heading", name="After your session", exact=True)).to_be_visible()
    plan = phone.locator("article.plan").inner_text()
    assert "Keep moving" in plan
    assert not re.search(r"needl|bruis|collapsed lung|pneumothorax", plan, re.IGNORECASE)
    assert AftercarePlan.objects.get(session=session).template.needling is False
