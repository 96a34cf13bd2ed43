"""Bad configuration ends with one line naming the cause, never a traceback; the demo
data stays out of real installations."""

import datetime
import os
import subprocess
import sys
import zoneinfo
from importlib.metadata import version
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from accounts.models import User
from clinics.models import Organization

ROOT = Path(__file__).resolve().parents[2]


def manage(*args: str, **environment: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "DATABASE_URL", "SECRET_KEY"}}
    env.update(environment)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("environment", "cause"),
    [
        ({"DEBUG": "true", "DATABASE_URL": "not a url"}, "DATABASE_URL must be a PostgreSQL URL"),
        (
            {"DEBUG": "true", "DATABASE_URL": "postgresql://u:p@db.example:port/fascia"},
            "DATABASE_URL is malformed",
        ),
        (
            {"DEBUG": "true", "DATABASE_URL": "sqlite:///fascia.db"},
            "Fascia runs only on PostgreSQL",
        ),
        ({"DEBUG": "true", "DATABASE_URL": "postgresql://db.example"}, "names no database"),
        ({"DEBUG": "false"}, "SECRET_KEY is not set"),
        ({"DEBUG": "maybe"}, "DEBUG='maybe' is not a boolean"),
        ({"DEBUG": "true", "EMAIL_URL": "pigeon://loft"}, "EMAIL_URL is malformed"),
    ],
)
def test_bad_configuration_gives_one_line_naming_the_cause(environment, cause):
    result = manage("check", **environment)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("fascia: ")
    assert cause in lines[0]
    assert "Traceback" not in result.stderr


def test_time_zones_come_from_the_pinned_tzdata_package():
    assert zoneinfo.TZPATH == ()
    assert version("tzdata") == "2026.6"
    # British Columbia keeps UTC-7 all year from November 2026, as the pinned
    # data (and PostgreSQL's) has it; Debian 12's system copy still says UTC-8.
    kelowna = zoneinfo.ZoneInfo("America/Vancouver")
    winter = datetime.datetime(2026, 12, 15, 12, tzinfo=kelowna)
    assert winter.utcoffset() == datetime.timedelta(hours=-7)


def test_the_demo_data_is_refused_with_debug_off(db, settings):
    """Its password is public: never in a real installation."""
    settings.DEBUG = False
    with pytest.raises(CommandError, match="only with DEBUG=true"):
        call_command("demo_data")
    assert not Organization.objects.exists()
    assert not User.objects.exists()
