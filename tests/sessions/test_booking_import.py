"""The bookings to come, imported from another system (`manage.py import_bookings`): each row
booked by the booking rules, a clash refused with its reason, the same file twice adding
nothing, a dry run writing nothing."""

import datetime
import io

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.utils import timezone

from sessions.models import TreatmentSession
from tests.conftest import import_at
from tests.patients.factories import PatientFactory


def _a_monday_ahead() -> datetime.datetime:
    """A Monday two to three weeks after the day the tests run, 17:00 UTC (morning in
    Kelowna): the import's "now", set by the tests themselves, with bookings to come after
    it and one before it, whatever the real date."""
    today = datetime.date.today()
    monday = today + datetime.timedelta(days=14 + (7 - today.weekday()) % 7)
    return datetime.datetime.combine(monday, datetime.time(17), tzinfo=datetime.UTC)


NOW = _a_monday_ahead()
TUESDAY, WEDNESDAY, THURSDAY = (NOW.date() + datetime.timedelta(days=n) for n in (1, 2, 3))
LAST_FRIDAY = NOW.date() - datetime.timedelta(days=3)

BOOKINGS = f"""\
Appointment ID,Patient ID,First Name,Last Name,Date of Birth,Practitioner Email,Start,Duration
A1,I-1,,,,{{therapist}},{TUESDAY} 10:00,45
A2,I-2,,,,{{therapist}},{TUESDAY} 10:15,30
A3,,Kit,Oduya,1990-06-01,{{therapist}},{TUESDAY} 11:00,30
A4,I-1,,,,nobody@example.test,{WEDNESDAY} 10:00,30
A5,I-1,,,,{{therapist}},{LAST_FRIDAY} 10:00,30
A6,I-9,,,,{{therapist}},{THURSDAY} 10:00,30
"""


@pytest.fixture
def moving_in(world):
    """Kelowna's patients already imported from Cliniko (I-1, I-2), and Kit registered."""
    with time_machine.travel(NOW, tick=False):
        import_at(world.kelowna, by=world.org_admin)
        PatientFactory(
            home_clinic=world.kelowna,
            first_name="Kit",
            last_name="Oduya",
            date_of_birth=datetime.date(1990, 6, 1),
        )
    return BOOKINGS.format(therapist=world.therapist.email)


def run(world, text: str, tmp_path, *args: str) -> str:
    source = tmp_path / "bookings.csv"
    source.write_text(text, encoding="utf-8")
    out = io.StringIO()
    with time_machine.travel(NOW, tick=False):
        call_command(
            "import_bookings",
            str(source),
            "--organization",
            world.organization.name,
            "--clinic",
            "Kelowna",
            "--by",
            world.org_admin.email,
            "--source",
            "Cliniko",
            *args,
            stdout=out,
        )
    return out.getvalue()


def test_a_dry_run_books_by_the_rules_and_writes_nothing(world, moving_in, tmp_path):
    said = run(world, moving_in, tmp_path, "--dry-run")
    assert "6 rows: 2 booked, 0 already imported, 4 refused." in said
    therapist = world.therapist.get_full_name()
    assert (
        f"line 3 I-2: {therapist} already has a session 10:00 to 10:45 with Rowan Abara at "
        "Kelowna. Choose another time." in said
    )
    assert "line 5 I-1: Therapist's e-mail: nobody with 'nobody@example.test'" in said
    assert f"line 6 I-1: Starts: {LAST_FRIDAY} 10:00 is past" in said
    assert "line 7 I-9: Patient id: no patient was imported from Cliniko as 'I-9'" in said
    assert "Dry run: nothing was written." in said
    assert not TreatmentSession.objects.exists()


def test_the_import_books_them_and_a_second_run_adds_nothing(world, moving_in, tmp_path):
    said = run(world, moving_in, tmp_path)
    assert "Booked 2 sessions." in said
    rowan = TreatmentSession.objects.get(imported_from="Cliniko", imported_id="A1")
    assert rowan.patient.imported_id == "I-1"
    assert rowan.therapist == world.therapist
    local = timezone.localtime(rowan.starts_at, world.kelowna.zone)
    assert (local.hour, local.minute) == (10, 0)
    assert rowan.ends_at - rowan.starts_at == datetime.timedelta(minutes=45)
    assert rowan.booked_by == world.org_admin
    kit = TreatmentSession.objects.get(imported_id="A3")
    assert kit.patient.first_name == "Kit"

    again = run(world, moving_in, tmp_path)
    assert "2 already imported" in again
    assert "Booked 0 sessions." in again
    assert TreatmentSession.objects.count() == 2


@pytest.mark.parametrize("role", ["therapist", "manager", "front_desk"])
def test_only_organisation_admins_import_bookings(world, moving_in, tmp_path, role):
    source = tmp_path / "bookings.csv"
    source.write_text(moving_in)
    with pytest.raises(CommandError, match="Only an organisation admin imports bookings"):
        call_command(
            "import_bookings",
            str(source),
            "--organization",
            world.organization.name,
            "--clinic",
            "Kelowna",
            "--by",
            getattr(world, role).email,
            "--source",
            "Cliniko",
        )


def test_a_file_without_a_start_is_refused_naming_what_is_missing(world, tmp_path):
    text = "Patient ID,Practitioner Email\nI-1,a@example.test\n"
    with pytest.raises(CommandError, match="No column for when each booking starts"):
        run(world, text, tmp_path)
