from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from clinics import row_security
from clinics.exceptions import FasciaError
from clinics.models import Clinic, Organization
from patients import imports
from patients.management import importing
from sessions.services.imports import BY_FIELD, Outcome, import_bookings


class Command(BaseCommand):
    help = (
        "Import the bookings to come from another practice system's CSV export "
        "(docs/imports.md), after its patients. Each row is booked by the booking rules; a "
        "clash or a therapist who does not work there is refused with the reason. All in "
        "one transaction. --dry-run books and rolls back, and says what would happen."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="The CSV file (UTF-8; , ; or tab).")
        parser.add_argument("--organization", required=True, help="Its name or id.")
        parser.add_argument("--clinic", help="For a file that names no clinic: its name or id.")
        parser.add_argument("--by", required=True, help="The organisation admin's e-mail.")
        parser.add_argument(
            "--source", required=True, help="The system the file comes from (as for patients)."
        )
        parser.add_argument("--dry-run", action="store_true", help="Check only; write nothing.")
        parser.add_argument("--date-format", choices=sorted(imports.DATE_FORMATS), default="iso")
        parser.add_argument("--map", action="append", default=[], metavar="FIELD=HEADER")
        parser.add_argument("--report", type=Path, help="Write every row's outcome to this CSV.")

    @row_security.every_organization()  # the names are looked up first; the import is `by`'s
    def handle(self, *args, file: Path, **options):
        organization = importing.named(Organization, options["organization"])
        clinic = None
        if options["clinic"]:
            clinic = importing.named(Clinic, options["clinic"], organization=organization)
        by = importing.login(options["by"])
        mapping = importing.mapping(options["map"])
        text = importing.read(file)
        try:
            with row_security.scope(row_security.of_user(by)):
                plan = import_bookings(
                    organization=organization,
                    clinic=clinic,
                    by=by,
                    source_system=options["source"],
                    text=text,
                    mapping=mapping,
                    date_format=options["date_format"],
                    dry_run=options["dry_run"],
                )
        except (FasciaError, imports.ImportFileInvalid) as error:
            raise CommandError(getattr(error, "message", str(error))) from None
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None
        self.stdout.write("Columns:")
        for field, header in plan.mapping.items():
            self.stdout.write(f"  {BY_FIELD[field].label:<34} <- {header}")
        self.stdout.write(
            f"{len(plan.rows)} rows: {plan.count(Outcome.BOOKED)} booked, "
            f"{plan.count(Outcome.ALREADY_IMPORTED)} already imported, "
            f"{plan.count(Outcome.REFUSED)} refused."
        )
        importing.list_rows(
            self.stdout.write,
            "Refused",
            [row for row in plan.rows if row.outcome == Outcome.REFUSED],
        )
        if options["report"]:
            importing.write_report(
                options["report"],
                ["line", "patient", "outcome", "session", "reasons"],
                (
                    [row.line, row.name, row.outcome, row.session_id or "", " ".join(row.reasons)]
                    for row in plan.rows
                ),
            )
        if options["dry_run"]:
            self.stdout.write("Dry run: nothing was written.")
        else:
            self.stdout.write(self.style.SUCCESS(f"Booked {plan.count(Outcome.BOOKED)} sessions."))
