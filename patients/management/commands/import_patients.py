from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from clinics import row_security
from clinics.exceptions import FasciaError
from clinics.models import Clinic, Organization
from patients import imports
from patients.imports import Outcome
from patients.management import importing
from patients.services.imports import import_patients


class Command(BaseCommand):
    help = (
        "Import patients from another practice system's CSV export (docs/imports.md). "
        "Columns are found by their headers; every row is checked as registration checks "
        "it; likely duplicates and rows already imported are left out. All new patients "
        "are registered, or none. --dry-run says what would happen and writes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="The CSV file (UTF-8; , ; or tab).")
        parser.add_argument("--organization", required=True, help="Its name or id.")
        parser.add_argument("--clinic", required=True, help="Where to register them.")
        parser.add_argument("--by", required=True, help="The organisation admin's e-mail.")
        parser.add_argument(
            "--source", required=True, help="The system the file comes from (Cliniko, Jane...)."
        )
        parser.add_argument("--dry-run", action="store_true", help="Check only; write nothing.")
        parser.add_argument(
            "--date-format",
            choices=sorted(imports.DATE_FORMATS),
            default="iso",
            help="The order of the file's dates besides YYYY-MM-DD: dmy or mdy.",
        )
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="FIELD=HEADER",
            help=f"Which column holds a field ({', '.join(imports.BY_FIELD)}).",
        )
        parser.add_argument(
            "--include-duplicates",
            action="store_true",
            help="Register likely duplicates too (they are other people after all).",
        )
        parser.add_argument("--report", type=Path, help="Write every row's outcome to this CSV.")

    @row_security.every_organization()  # the names are looked up first; the import is `by`'s
    def handle(self, *args, file: Path, **options):
        organization = importing.named(Organization, options["organization"])
        clinic = importing.named(Clinic, options["clinic"], organization=organization)
        by = importing.login(options["by"])
        mapping = importing.mapping(options["map"])
        text = importing.read(file)
        try:
            with row_security.scope(row_security.of_user(by)):
                plan, record = import_patients(
                    organization=organization,
                    clinic=clinic,
                    by=by,
                    source_system=options["source"],
                    text=text,
                    file_name=file.name,
                    mapping=mapping,
                    date_format=options["date_format"],
                    include_duplicates=options["include_duplicates"],
                    dry_run=options["dry_run"],
                    progress=self._progress,
                )
        except (FasciaError, imports.ImportFileInvalid) as error:
            raise CommandError(getattr(error, "message", str(error))) from None
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None
        self._report(plan, record, options)

    def _progress(self, stage: str, done: int, total: int) -> None:
        width = 30
        filled = width * done // max(total, 1)
        bar = "#" * filled + "-" * (width - filled)
        self.stderr.write(f"\r{stage:>8} [{bar}] {done}/{total}", ending="")
        if done >= total:
            self.stderr.write("")
        self.stderr.flush()

    def _report(self, plan, record, options) -> None:
        self.stdout.write("Columns:")
        for field, header in plan.mapping.items():
            self.stdout.write(f"  {imports.BY_FIELD[field].label:<34} <- {header}")
        counts = plan.counts()
        took = options["include_duplicates"]
        self.stdout.write(
            f"{len(plan.rows)} rows: {counts[Outcome.NEW]} new, "
            f"{counts[Outcome.ALREADY_IMPORTED]} already imported, "
            f"{counts[Outcome.DUPLICATE]} likely duplicates"
            f"{' (imported too)' if took else ' (left out)'}, {counts[Outcome.REFUSED]} refused."
        )
        for outcome, title in (
            (Outcome.REFUSED, "Refused"),
            (Outcome.DUPLICATE, "Likely duplicates"),
        ):
            importing.list_rows(
                self.stdout.write, title, [row for row in plan.rows if row.outcome == outcome]
            )
        if options["report"]:
            importing.write_report(
                options["report"],
                ["line", "name", "outcome", "patient", "reasons"],
                (
                    [row.line, row.name, row.outcome, row.patient_id or "", " ".join(row.reasons)]
                    for row in plan.rows
                ),
            )
        if record is None:
            self.stdout.write("Dry run: nothing was written.")
        else:
            self.stdout.write(
                self.style.SUCCESS(f"Imported {record.created} patients (import {record.pk}).")
            )
