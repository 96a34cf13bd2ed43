"""`manage.py migrate`, as the owner of the tables, then the app role's grants.

With DATABASE_OWNER_URL set (and always with the embedded database) the
migrations run logged in as the owner, so the tables are the owner's and the
role Fascia runs as owns nothing; then the triggers that write history are made
unskippable and that role is granted what it may do, from scratch
(clinics/database_roles.py), which also closes any new history or log table to
UPDATE and DELETE. Last, every tenant table gets its row-level security, and the
functions patient search filters with are marked LEAKPROOF where the owner may
(clinics/row_security.py).
"""

from django.core.management.commands import migrate

from clinics import database_roles, row_security


class Command(migrate.Command):
    help = migrate.Command.help + " Runs as the database owner and grants Fascia's role."

    def handle(self, *args, **options):
        with database_roles.as_owner(options["database"]):
            super().handle(*args, **options)
            if options["plan"] or options["check_unapplied"] or options["prune"]:
                return
            database_roles.keep_history_unskippable(using=options["database"])
            granted = database_roles.grant_app_role(using=options["database"])
            row_security.protect_tenant_tables(using=options["database"])
            to_run = row_security.leakproof_search(using=options["database"])
        if to_run and options["verbosity"] >= 1:
            self.stderr.write(
                "Patient search reads every patient of the organisation until a superuser "
                'of the database runs (docs/operations.md, "Row-level security"):\n    '
                + ";\n    ".join(to_run)
                + ";"
            )
        if granted and options["verbosity"] >= 1:
            self.stdout.write(
                f"Granted the role Fascia runs as its privileges ({len(granted)} statements)."
            )
