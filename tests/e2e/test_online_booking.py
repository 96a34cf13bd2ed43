"""A patient on a phone books a free time online, finds it among their sessions and cancels it;
the clinic's database has it booked online, then cancelled by the patient."""

import datetime
import re

import time_machine
from django.utils import timezone
from playwright.sync_api import expect

from clinics.models import Role
from sessions import services
from sessions.models import Status, TreatmentSession
from tests.browser import PHONE
from tests.clinics.factories import staff


def test_a_patient_on_a_phone_books_online_and_cancels(world, patient, open_as):
    # The server's clock stands still (the browser's cookies stay on the real one): the
    # first free time is the same from the list to the booking.
    with time_machine.travel(timezone.now(), tick=False):
        clinic = world.kelowna
        clinic.phone = "250 555 0100"
        clinic.save()
        ana = staff(Role.THERAPIST, clinic=clinic, full_name="Ana Alvarez")
        for weekday in range(7):
            services.add_working_hours(
                clinic=clinic,
                therapist=ana,
                weekday=weekday,
                starts=datetime.time(9),
                ends=datetime.time(12),
                by=world.manager,
            )
        services.create_appointment_type(
            organization=world.organization,
            by=world.org_admin,
            name="Exercise review",
            minutes=30,
            needling=False,
            bookable_online=True,
        )

        phone = open_as(patient.user, viewport=PHONE, is_mobile=True, has_touch=True)
        expect(phone.get_by_role("heading", name="Hello, Pat")).to_be_visible()
        phone.get_by_role("link", name="Book a session").click()
        expect(phone.get_by_role("heading", name="Book a session")).to_be_visible()
        free = phone.get_by_role("link", name=re.compile(r"^\d\d:\d\d with Ana Alvarez$"))
        expect(free.first).to_be_visible()
        free.first.tap()
        expect(phone.get_by_role("heading", name="Book this session?")).to_be_visible()
        phone.get_by_role("button", name="Book").focus()
        phone.keyboard.press("Enter")

        expect(phone.get_by_text("Booked: Exercise review")).to_be_visible()
        upcoming = phone.locator("#upcoming-sessions")
        expect(upcoming).to_contain_text("with Ana Alvarez at Kelowna")
        session = TreatmentSession.objects.get(patient=patient)
        assert (session.status, session.booked_online, session.booked_by) == (
            Status.BOOKED,
            True,
            patient.user,
        )

        upcoming.get_by_role("link", name=re.compile("^Cancel your session")).tap()
        expect(phone.get_by_role("heading", name="Cancel your session?")).to_be_visible()
        phone.get_by_role("button", name="Cancel this session").tap()
        expect(phone.get_by_text("Cancelled: your session")).to_be_visible()
        expect(phone.locator("#upcoming-sessions")).to_have_count(0)

        session.refresh_from_db()
        assert (session.status, session.cancelled_by, session.cancellation_reason) == (
            Status.CANCELLED,
            patient.user,
            "Cancelled by the patient online",
        )
