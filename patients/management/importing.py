"""What the import commands (import_patients, import_bookings) share: finding the
organisation, clinic and login they name, the file and its --map, and the report file."""

import csv
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path

from django.core.management.base import CommandError
from django.db.models import Q

from accounts.models import User
from clinics.spreadsheet import safe_cell

SHOWN = 30
"""Rows of each kind listed on the screen; --report writes them all."""


def named(model, name: str, **within):
    """A row by its id or its exact name (case aside)."""
    try:
        by_id = Q(pk=uuid.UUID(name))
    except ValueError:
        by_id = Q()
    found = list(model.objects.filter(by_id | Q(name__iexact=name), **within)[:2])
    if len(found) != 1:
        what = model._meta.verbose_name
        raise CommandError(
            f"{'No' if not found else 'More than one'} {what} is called {name!r}: give its id."
        )
    return found[0]


def login(email: str) -> User:
    found = User.objects.filter(email__iexact=email).first()
    if found is None:
        raise CommandError(f"No login has the e-mail address {email!r}.")
    return found


def mapping(pairs: Iterable[str]) -> dict[str, str]:
    """--map FIELD=HEADER, each given."""
    given = {}
    for pair in pairs:
        name, sep, header = pair.partition("=")
        if not sep:
            raise CommandError(f"--map {pair!r}: write it as FIELD=HEADER.")
        given[name.strip()] = header.strip()
    return given


def read(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise CommandError(f"{file}: {error}") from None


def write_report(path: Path, header: Sequence[str], rows: Iterable[Sequence]) -> None:
    """The report as CSV; a name from the other system is never run as a formula."""
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows([safe_cell(cell) for cell in row] for row in rows)


def list_rows(write, title: str, rows: Sequence) -> None:
    """The first SHOWN of `rows` (each with a line, a name and reasons) under `title`."""
    if rows:
        write(f"{title}:")
    for row in rows[:SHOWN]:
        write(f"  line {row.line} {row.name}: {' '.join(row.reasons)}")
    if len(rows) > SHOWN:
        write(f"  ... and {len(rows) - SHOWN} more (--report lists them).")
