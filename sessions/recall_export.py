"""The needle-lot recall as a spreadsheet: one line per patient, for a mail merge.

A mail merge writes one letter per line, so a patient is one line: name,
contact details, whether a notice went out, and their sessions with the lot
in one cell ("treated"). Cells a spreadsheet would read as a formula (those
starting with = + - @, a tab or a carriage return) are written with a leading
apostrophe, so a name or note typed as "=HYPERLINK(...)" stays text.
"""

import csv
import io
import re

from django.utils import timezone

from clinics.spreadsheet import safe_cell
from sessions.selectors import RecallPatient

COLUMNS = [
    "Last name",
    "First name",
    "E-mail",
    "Phone",
    "Date of birth",
    "Home clinic",
    "Contact by",
    "Notice",
    "Notice sent at",
    "Sessions",
    "Needles",
    "Treated",
]


def filename(lot_number: str) -> str:
    """recall-LOT-2026-A.csv: the lot, with anything but letters, digits, - and . made a -."""
    return f"recall-{re.sub(r'[^A-Za-z0-9.-]+', '-', lot_number).strip('-.') or 'lot'}.csv"


def notice_state(item: RecallPatient) -> str:
    if item.notice is not None:
        return item.notice.get_status_display()
    if item.call_instead:
        return "Call instead"
    if not item.may_notify:
        return f"{item.sending_clinic.name} sends it"
    return "Not sent"


def treated(item: RecallPatient) -> str:
    """Each session on its clinic's clock, its sites after it: "2026-03-03 14:30 at Kelowna ..."."""
    return "; ".join(
        "{when} at {clinic} with {therapist}: {sites}".format(
            when=timezone.localtime(entry.session.starts_at, entry.session.clinic.zone).strftime(
                "%Y-%m-%d %H:%M"
            ),
            clinic=entry.session.clinic.name,
            therapist=entry.session.therapist.get_full_name(),
            sites=", ".join(
                f"{site.muscle_name} ({site.get_side_display().lower()}) x{site.needles}"
                for site in entry.sites
            ),
        )
        for entry in item.sessions
    )


def row(item: RecallPatient) -> list[str]:
    patient, notice = item.patient, item.notice
    sent_at = ""
    if notice is not None and notice.sent_at is not None:
        sent_at = timezone.localtime(notice.sent_at, patient.home_clinic.zone)
        sent_at = sent_at.strftime("%Y-%m-%d %H:%M")
    return [
        patient.last_name,
        patient.first_name,
        patient.email,
        patient.phone,
        patient.date_of_birth.isoformat(),
        patient.home_clinic.name,
        "Phone" if item.call_instead else "E-mail",
        notice_state(item),
        sent_at,
        len(item.sessions),
        item.needles,
        treated(item),
    ]


def as_csv(patients: list[RecallPatient]) -> str:
    """The recall as CSV text, with a byte-order mark so spreadsheets read it as UTF-8."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for item in patients:
        writer.writerow([safe_cell(value) for value in row(item)])
    return "\ufeff" + out.getvalue()
