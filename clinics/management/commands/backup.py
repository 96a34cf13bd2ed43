from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from clinics import backup, row_security


class Command(BaseCommand):
    help = (
        "Back up the whole database to PATH (pg_dump's custom format, one consistent "
        "snapshot) with a manifest beside it: its SHA-256, and every table's row count."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "path", help="the file to write, e.g. /var/backups/fascia/2026-05-01.dump"
        )
        parser.add_argument("--force", action="store_true", help="replace an existing PATH")
        parser.add_argument(
            "--pg-bin",
            metavar="DIR",
            help="the directory of pg_dump (of the server's PostgreSQL version)",
        )

    @row_security.every_organization()  # a command works for the clinics, not one person
    def handle(self, *args, path, force, pg_bin, **options):
        try:
            manifest = backup.backup(path, force=force, pg_bin=pg_bin)
        except backup.BackupError as error:
            raise CommandError(str(error)) from None
        tables = manifest["tables"]
        history = manifest["history_tables"]
        self.stdout.write(
            f"Backed up database {manifest['database']} (PostgreSQL {manifest['server_version']}) "
            f"as it was at {manifest['taken_at']}, in one snapshot:"
        )
        self.stdout.write(
            f"  {len(tables)} tables, {sum(tables.values())} rows "
            f"({sum(tables[name] for name in history)} of them history, in {len(history)} tables); "
            f"{len(manifest['triggers'])} triggers, {len(manifest['constraints'])} constraints"
        )
        self.stdout.write(f"  dump:     {path} ({manifest['bytes']} bytes)")
        self.stdout.write(f"  SHA-256:  {manifest['sha256']}")
        self.stdout.write(f"  manifest: {backup.manifest_path(Path(path))}")
        self.stdout.write(self.style.SUCCESS("Backup complete. Copy both files off-site."))
