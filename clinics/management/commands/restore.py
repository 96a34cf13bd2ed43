from django.core.management.base import BaseCommand, CommandError

from clinics import backup, row_security


class Command(BaseCommand):
    help = (
        "Restore a backup made by `manage.py backup` into an empty database, then check every "
        "table's rows, the history tables, the triggers and the constraints against its manifest."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="the dump written by manage.py backup")
        parser.add_argument(
            "--database-url",
            metavar="URL",
            help="the empty database to restore into (default: the configured database)",
        )
        parser.add_argument(
            "--pg-bin",
            metavar="DIR",
            help="the directory of pg_restore (of the target server's PostgreSQL version)",
        )

    @row_security.every_organization()  # a command works for the clinics, not one person
    def handle(self, *args, path, database_url, pg_bin, **options):
        try:
            target = backup.database_at(database_url) if database_url else None
            restored = backup.restore(path, database=target, pg_bin=pg_bin)
        except backup.BackupError as error:
            raise CommandError(str(error)) from None
        manifest, contents = restored.manifest, restored.contents
        self.stdout.write(
            f"{path}: SHA-256 as recorded; backed up from PostgreSQL "
            f"{manifest['server_version']} at {manifest['taken_at']}."
        )
        self.stdout.write(
            f"Restored into database {restored.database} (PostgreSQL {restored.server_version})."
        )
        tables = contents.tables
        self.stdout.write(
            f"  tables:      {len(tables)} restored, {len(manifest['tables'])} backed up; "
            f"{sum(tables.values())} rows restored, {sum(manifest['tables'].values())} backed up"
        )
        self.stdout.write(
            f"  triggers:    {len(contents.triggers)} restored, "
            f"{len(manifest['triggers'])} backed up"
        )
        self.stdout.write(
            f"  constraints: {len(contents.constraints)} restored, "
            f"{len(manifest['constraints'])} backed up"
        )
        self.stdout.write("  history tables (rows restored / backed up):")
        width = max((len(name) for name in restored.history_tables), default=0)
        for name in restored.history_tables:
            self.stdout.write(
                f"    {name.ljust(width)}  {tables.get(name, 0)} / {manifest['tables'][name]}"
            )
        if restored.differences:
            for difference in restored.differences:
                self.stderr.write(f"  DIFFERS: {difference}")
            raise CommandError(
                f"the restored database {restored.database} differs from the backup in "
                f"{len(restored.differences)} ways (listed above): do not use it; restore "
                "another backup"
            )
        self.stdout.write(
            self.style.SUCCESS(
                "Restore verified: every table's rows, the history, the triggers and the "
                "constraints are as backed up."
            )
        )
