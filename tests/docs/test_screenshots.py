"""The user guides' screenshots (docs/guide/), taken in Chromium from the demo.

The demo is loaded as `manage.py demo_data` loads it, then each guide's person
logs in through the login form, as `make run`'s visitor would, and walks the
screens their guide describes. Without a flag the pictures go into a temporary
directory and are checked; with --write-screenshots (`make docs-screenshots`)
they then replace docs/guide/screenshots/, to be committed. Either way every
picture a guide shows must be one its walk takes, and every picture a walk
takes must be shown: a guide cannot point at a missing picture, and the walks
cannot drift from the guides.

The clock is set to a Thursday at 10:30 on Kelowna's clock, the same every
run: the demo lays out its week around the hour it is loaded, so the day list
shows a clinic morning, and the week's calendar the days before and after.
"""

import datetime
import re
import shutil
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import time_machine
from django.core.management import call_command
from django.test import override_settings
from PIL import Image
from playwright.sync_api import Locator, Page, expect

from accounts.models import User
from clinics.demo import DEMO_PASSWORD
from patients.models import Patient
from sessions.demo import RECALLED_LOT
from sessions.models import Addendum
from tests.browser import PHONE

OLD_SYSTEM = """Client ID,Given Name,Surname,Birthday,E-mail Address,Cell Phone
J-101,Lucia,Ferreira,03/02/1988,lucia@example.test,+1 250 555 0140
J-102,Omar,Haddad,17/09/1975,,+1 250 555 0141
J-103,Emma,Clarke,{emma_born},,
J-104,,Nguyen,22/11/1990,,
J-105,Grace,Otieno,1992-06-31,,
"""
"""The organisation admin's file to import: two new patients, one already here, two refused."""

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guide"
SCREENSHOTS = GUIDE / "screenshots"
README = GUIDE.parents[1] / "README.md"  # the project's, which shows two of the pictures
SCREEN = {"width": 1280, "height": 800}
KELOWNA = zoneinfo.ZoneInfo("America/Vancouver")  # the demo's Kelowna (clinics/demo.py)

PICTURE = re.compile(r"!\[(?P<alt>[^\]]*)\]\((?P<path>[^)\s]+\.png)\)")

Shoot = Callable[..., None]


def a_clinic_morning() -> datetime.datetime:
    """The next Thursday, 10:30 at Kelowna. Ahead of the real clock, never behind it: the
    browser keeps the server's cookies on the real clock, and would drop a login whose
    expiry had already passed there."""
    today = datetime.datetime.now(KELOWNA).date()
    days = (3 - today.weekday()) % 7 or 7
    return datetime.datetime.combine(
        today + datetime.timedelta(days=days), datetime.time(10, 30), KELOWNA
    )


def to_the_top(part: Locator) -> None:
    """Scroll the page so that `part` starts at the top of the window."""
    part.evaluate("part => part.scrollIntoView()")


def front_desk(page: Page, shoot: Shoot) -> None:
    """Sam Fortier at Kelowna's desk: the calendar, a booking, a cancellation, consent on the
    clinic's tablet, and a patient page without the clinical facts."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sessions").click()
    page.get_by_role("link", name="Calendar").click()
    expect(page.get_by_role("heading", name="Today at Kelowna")).to_be_visible()
    shoot("calendar", page)

    page.locator("td.calendar-free a").first.click()
    page.get_by_label("Find the patient").fill("Noa Fisher")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="Noah Fischer").click()
    expect(page.get_by_text("For Noah Fischer")).to_be_visible()
    page.get_by_label("Appointment type").select_option(
        label="Follow-up with needling (30 min, needling)"
    )
    shoot("booking", page)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Patients").click()
    page.get_by_role("link", name="Fischer, Noah").click()
    upcoming = page.get_by_role("heading", name="Upcoming").locator(
        "xpath=following-sibling::ul[1]"
    )
    upcoming.get_by_role("link").first.click()
    expect(page.get_by_text("This session is booked for")).to_be_visible()
    page.get_by_text("Cancel, or record a no-show").click()
    page.get_by_label("Reason", exact=True).fill(
        "Phoned: away on a work trip, will call to rebook."
    )
    shoot("cancelling", page)

    page.get_by_role("link", name="Noah Fischer").click()
    page.get_by_role("link", name="Take consent").first.click()
    expect(page.get_by_role("heading", name="Please read: version 2")).to_be_visible()
    shoot("consent", page)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Patients").click()
    page.get_by_role("link", name="Tremblay, Lily").click()
    expect(page.get_by_text("the therapist must see the patient first")).to_be_visible()
    shoot("patient", page)


def therapist(page: Page, shoot: Shoot) -> None:
    """Priya Natarajan's morning at Kelowna: the day's list, consent before the needle, the
    start gate and the alert behind it, Emma Clarke's chart, her aftercare and its signing,
    and an addendum to a signed chart."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sessions").click()
    expect(page.get_by_role("heading", name="Today at Kelowna")).to_be_visible()
    shoot("day-list", page)

    page.get_by_role("link", name="Noah Fischer", exact=True).click()
    expect(page.get_by_text("version 2 must be signed before needling")).to_be_visible()
    shoot("consent-needed", page)

    page.go_back()
    page.get_by_role("link", name=re.compile("Open the session of Walter Brooks")).click()
    expect(page.get_by_role("heading", name="Before you start")).to_be_visible()
    shoot("start-gate", page)

    page.locator("#start-refused").get_by_role("link", name="Open the alert").click()
    expect(page.get_by_role("heading", name="What the patient answered")).to_be_visible()
    shoot("alert", page, full_page=True)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sessions").click()
    page.get_by_role("link", name=re.compile("Open the session of Emma Clarke")).click()
    to_the_top(page.get_by_role("region", name="Needling"))
    shoot("chart", page)

    page.get_by_label("Needles removed").fill("1")
    expect(page.get_by_role("status").filter(has_text="Saved at")).to_be_visible()
    page.get_by_role("link", name="Write and preview the aftercare").click()
    page.get_by_label("Activity limits").fill("No desk marathons: stand up every 45 minutes.")
    page.get_by_role("button", name="Save the aftercare").click()
    expect(page.get_by_text("Aftercare saved")).to_be_visible()
    page.get_by_label("Stretch or exercise").fill("Chin tucks")
    page.get_by_label("Sets").fill("2")
    page.get_by_label("Repetitions").fill("10")
    page.get_by_label("Hold (seconds)").fill("5")
    page.get_by_label("How often").fill("Twice a day")
    page.get_by_role("button", name="Add the exercise").click()
    expect(page.get_by_text("Added: Chin tucks.")).to_be_visible()
    to_the_top(page.get_by_role("heading", name="Aftercare for Emma Clarke"))
    shoot("aftercare", page)

    page.get_by_role("link", name="← The session").click()
    page.get_by_role("button", name="Review and sign").click()
    expect(page.get_by_role("button", name="Sign and lock")).to_be_visible()
    shoot("signing", page)

    signed = Addendum.objects.get(author__email="therapist@demo.fascia.test").session_id
    page.goto(f"/sessions/{signed}/")
    page.locator("#addenda").evaluate("addenda => addenda.scrollIntoView({block: 'end'})")
    shoot("addendum", page)


def clinic_manager(page: Page, shoot: Shoot) -> None:
    """Marcus Lee, managing Toronto: his site, its week, its staff and working hours, its
    alerts, and a lot recall."""
    expect(page.get_by_role("heading", name="Sites")).to_be_visible()
    shoot("sites", page)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sessions").click()
    page.get_by_role("link", name="Calendar").click()
    page.get_by_role("link", name="Week", exact=True).click()
    expect(page.get_by_role("heading", name="Week of")).to_be_visible()
    shoot("week", page)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sites").click()
    page.get_by_role("link", name="Staff roles").click()
    expect(page.get_by_role("heading", name="Select staff role to change")).to_be_visible()
    shoot("staff-roles", page)

    page.goto("/admin/")
    page.get_by_role("link", name="Working hours").first.click()
    expect(page.get_by_role("heading", name="Select working hours to change")).to_be_visible()
    shoot("working-hours", page)

    page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Alerts").click()
    expect(page.get_by_role("heading", name="Check-in alerts at Toronto")).to_be_visible()
    shoot("alerts", page)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Lot recall").click()
    page.get_by_label("Lot number").fill(RECALLED_LOT)
    page.get_by_role("button", name="Find").click()
    expect(page.get_by_role("link", name="Download CSV")).to_be_visible()
    shoot("recall", page)


def organisation_admin(page: Page, shoot: Shoot) -> None:
    """Olivia Marchand, over both demo sites: sites, staff roles, the consent texts, the
    reviews of adverse events, the security log, the access log and the admin."""
    expect(page.get_by_role("heading", name="Sites")).to_be_visible()
    shoot("sites", page)

    page.get_by_role("link", name="Staff roles").click()
    expect(page.get_by_role("heading", name="Select staff role to change")).to_be_visible()
    shoot("staff-roles", page)

    page.goto("/admin/")
    expect(page.get_by_role("heading", name="Sites, staff and settings")).to_be_visible()
    shoot("admin", page)

    page.get_by_role("link", name="Consent templates").first.click()
    expect(page.get_by_role("heading", name="Select consent template to view")).to_be_visible()
    shoot("consent-templates", page)

    page.get_by_role("link", name="Record reads").first.click()
    expect(page.get_by_role("heading", name="Select record read to view")).to_be_visible()
    shoot("access-log", page)

    page.goto("/")
    page.get_by_role("link", name="Security log").click()
    expect(page.get_by_role("heading", name="Security log")).to_be_visible()
    shoot("security-log", page)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Reviews").click()
    expect(page.get_by_role("heading", name="Adverse events to review")).to_be_visible()
    shoot("reviews", page)

    # A clinic's old system's export: Emma Clarke is already a patient here.
    emma = Patient.objects.get(first_name="Emma", last_name="Clarke")
    export = OLD_SYSTEM.format(emma_born=f"{emma.date_of_birth:%d/%m/%Y}")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Patients").click()
    page.get_by_role("link", name="Import from another system").click()
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "jane-export.csv", "mimeType": "text/csv", "buffer": export.encode()}]
    )
    page.get_by_label("The system it comes from").fill("Jane")
    page.get_by_role("button", name="Upload and choose the columns").click()
    page.get_by_label("Dates in the file are written").select_option(label="DD/MM/YYYY")
    shoot("import-columns", page)
    page.get_by_role("button", name="Check the file (dry run)").click()
    expect(page.locator("#start")).to_contain_text("Nothing is imported yet.")
    shoot("import-dry-run", page)


def patient(page: Page, shoot: Shoot) -> None:
    """Emma Clarke on her phone: the portal, her aftercare, a check-in, the emergency advice
    a red flag brings, and her record to download. Last of the walks: her red flag raises an
    urgent alert, which no other guide's picture should show."""
    expect(page.get_by_role("heading", name="Hello, Emma")).to_be_visible()
    shoot("portal", page)

    page.get_by_role("link", name="Read your aftercare").click()
    expect(page.get_by_role("heading", name="Where you were treated")).to_be_visible()
    shoot("aftercare", page)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="My record").click()
    page.get_by_role("link", name="Answer the check-in").click()
    expect(page.get_by_role("heading", name="Warning signs")).to_be_visible()
    shoot("check-in", page)

    page.get_by_role("group", name="Do you have chest pain?").get_by_label("Yes").check()
    page.get_by_role("button", name="Send my answers").click()
    expect(page.get_by_role("heading", name="Get emergency care now")).to_be_visible()
    shoot("red-flag", page)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="My record").click()
    page.get_by_role("link", name="Download your record").click()
    expect(page.get_by_role("heading", name="Your record", exact=True)).to_be_visible()
    shoot("record", page)


@dataclass(frozen=True)
class Walk:
    guide: str  # docs/guide/<guide>.md, and the first part of its pictures' names
    login: str
    take: Callable[[Page, Shoot], None]
    viewport: dict


WALKS = [
    Walk("front-desk", "frontdesk@demo.fascia.test", front_desk, SCREEN),
    Walk("therapist", "therapist@demo.fascia.test", therapist, SCREEN),
    Walk("clinic-manager", "manager@demo.fascia.test", clinic_manager, SCREEN),
    Walk("organisation-admin", "admin@demo.fascia.test", organisation_admin, SCREEN),
    Walk("patient", "patient@demo.fascia.test", patient, PHONE),
]


class Camera:
    """Saves each picture as `<guide>-<name>.png` and remembers, per guide, what it took."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.taken: dict[str, list[str]] = {}

    def for_guide(self, guide: str) -> Shoot:
        def shoot(name: str, what: Page | Locator, **options) -> None:
            file_name = f"{guide}-{name}.png"
            path = self.directory / file_name
            what.screenshot(path=path, animations="disabled", caret="hide", **options)
            # 256 colours lose nothing visible on screens of flat colours and text, and take
            # about 40 % of the bytes: the pictures are committed, and taken again often.
            with Image.open(path) as taken:
                quantized = taken.convert("RGB").quantize(256, dither=Image.Dither.NONE)
            quantized.save(path, optimize=True)
            self.taken.setdefault(guide, []).append(file_name)

        return shoot


def pictures_in(markdown: Path) -> list[re.Match]:
    return list(PICTURE.finditer(markdown.read_text()))


def check_each_guide_shows_what_its_walk_took(taken: dict[str, list[str]]) -> None:
    for walk in WALKS:
        shown = pictures_in(GUIDE / f"{walk.guide}.md")
        without_alt = [picture["path"] for picture in shown if not picture["alt"].strip()]
        assert not without_alt, f"{walk.guide}.md: pictures without alt text: {without_alt}"
        names = {picture["path"].removeprefix("screenshots/") for picture in shown}
        assert names <= set(taken[walk.guide]), (
            f"{walk.guide}.md shows pictures its walk does not take: "
            f"{sorted(names - set(taken[walk.guide]))}"
        )
        assert set(taken[walk.guide]) <= names, (
            f"{walk.guide}.md does not show {sorted(set(taken[walk.guide]) - names)}"
        )
    every_picture = {name for names in taken.values() for name in names}
    for markdown, folder in [
        (GUIDE / "README.md", "screenshots/"),
        (README, "docs/guide/screenshots/"),
    ]:
        for picture in pictures_in(markdown):
            assert picture["path"].removeprefix(folder) in every_picture, (
                f"{markdown.name} shows {picture['path']}, which no walk takes"
            )


def check_each_is_a_picture_of_something(path: Path) -> None:
    with Image.open(path) as picture:
        picture.verify()
    with Image.open(path) as picture:
        assert picture.width >= PHONE["width"] and picture.height >= 400, path.name
        darkest, lightest = picture.convert("L").getextrema()
    assert lightest - darkest > 100, f"{path.name} is blank"


def test_the_guides_pictures_are_taken_in_chromium_from_the_demo(
    transactional_db, open_as, tmp_path, request
):
    camera = Camera(tmp_path)
    with time_machine.travel(a_clinic_morning(), tick=True):
        with override_settings(DEBUG=True):  # demo_data refuses to run without it
            call_command("demo_data")
        for walk in WALKS:
            person = User.objects.get(email=walk.login)
            page = open_as(person, password=DEMO_PASSWORD, viewport=walk.viewport)
            page.reload()  # the first page as it is every day, without "Successfully signed in"
            walk.take(page, camera.for_guide(walk.guide))

    check_each_guide_shows_what_its_walk_took(camera.taken)
    pictures = sorted(tmp_path.glob("*.png"))
    for path in pictures:
        check_each_is_a_picture_of_something(path)

    # Written only once every picture passed, so a failed walk leaves the committed ones.
    if request.config.getoption("write_screenshots"):
        SCREENSHOTS.mkdir(exist_ok=True)
        for old in SCREENSHOTS.glob("*.png"):
            old.unlink()
        for path in pictures:
            shutil.copyfile(path, SCREENSHOTS / path.name)
