"""The warning a minute before an idle login ends, in Chromium.

Two clocks move together: the server's (time_machine: the live server runs in this
process, in a thread) and the page's (Playwright's page.clock), as if the therapist had
left the screen for that long.
"""

import datetime
import re

import time_machine
from django.utils import timezone
from playwright.sync_api import expect

from sessions.models import Chart
from tests.accounts.factories import PASSWORD
from tests.e2e.test_charting import started

MINUTE = datetime.timedelta(minutes=1)


def away(clock, page, duration: datetime.timedelta) -> None:
    """Nobody touches the page for `duration`: both clocks move on."""
    clock.shift(duration)
    page.clock.fast_forward(int(duration.total_seconds() * 1000))


def test_the_warning_comes_a_minute_before_and_staying_keeps_the_login(world, open_as):
    with time_machine.travel(timezone.now()) as clock:
        page = open_as(world.therapist)
        page.clock.install()
        page.goto("/patients/")

        away(clock, page, 14 * MINUTE)
        warning = page.get_by_role("alertdialog", name="Are you still there?")
        expect(warning).to_be_visible()
        expect(warning).to_contain_text(re.compile(r"You will be logged out in \d+ seconds"))
        stay = warning.get_by_role("button", name="Stay logged in")
        expect(stay).to_be_focused()  # the keyboard is in the dialog
        page.keyboard.press("Enter")
        expect(warning).to_be_hidden()

        # Ten more minutes away: 24 since the login, 10 since "Stay logged in".
        away(clock, page, 10 * MINUTE)
        expect(warning).to_be_hidden()
        page.goto("/patients/")
        expect(page.get_by_role("heading", name="Patients")).to_be_visible()


def test_a_request_from_another_tab_postpones_the_warning(world, open_as):
    with time_machine.travel(timezone.now()) as clock:
        page = open_as(world.therapist)
        page.clock.install()
        page.goto("/patients/")
        other_tab = page.context.new_page()

        away(clock, page, 10 * MINUTE)
        other_tab.goto("/patients/")  # activity, elsewhere
        with page.expect_response(re.compile(r"/time-left/$")) as asked:
            away(clock, page, 4 * MINUTE)  # the page asks at 13:30 on its own clock
        assert asked.value.json()["seconds_left"] > 10 * 60
        expect(page.get_by_role("alertdialog")).to_be_hidden()


def test_a_login_left_alone_ends_and_the_unsent_chart_text_comes_back(world, open_as):
    session = started(world)
    with time_machine.travel(timezone.now()) as clock:
        page = open_as(world.therapist)
        page.clock.install()
        page.goto(f"/sessions/{session.pk}/")
        # Typed while the chart's saves do not get through: on this device only.
        page.route("**/chart/", lambda route: route.abort())
        page.get_by_role("textbox", name="Objective findings").fill("Taut band, left levator")
        expect(page.get_by_role("status").filter(has_text="Offline")).to_be_visible()
        # The chart asks before a page with unsent text is left; the text is kept either way.
        page.on("dialog", lambda dialog: dialog.accept())

        away(clock, page, 14 * MINUTE)
        expect(page.get_by_role("alertdialog")).to_be_visible()
        away(clock, page, MINUTE + datetime.timedelta(seconds=2))

        expect(page).to_have_url(re.compile(r"/accounts/login/\?next="))
        expect(
            page.get_by_text("You were logged out after 15 minutes without activity.")
        ).to_be_visible()
        assert Chart.objects.get(session=session).findings == ""
        page.unroute("**/chart/")

        page.locator("input[name=login]").fill(world.therapist.email)
        page.locator("input[name=password]").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page).to_have_url(re.compile(rf"/sessions/{session.pk}/$"))
        expect(page.get_by_text("Text you typed on this device was not saved")).to_be_visible()
        page.get_by_role("button", name="Put it back and save").click()
        expect(page.get_by_role("textbox", name="Objective findings")).to_have_value(
            "Taut band, left levator"
        )
        expect(page.get_by_role("status").filter(has_text="Saved at")).to_be_visible()
    assert Chart.objects.get(session=session).findings == "Taut band, left levator"
