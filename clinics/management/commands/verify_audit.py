from django.core.management.base import BaseCommand, CommandError

from clinics import audit_chain, history, row_security


class Command(BaseCommand):
    help = (
        "Check the audit: walk every hash-chained log (the access log), every organisation's "
        "chain, and report any row changed, missing or out of order; check that every "
        "history table still refuses UPDATE and DELETE. Exits 1 when anything is wrong."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--database", default="default", help="the database alias to check (default: default)"
        )
        parser.add_argument(
            "--heads",
            action="store_true",
            help="also print each chain's newest row and hash (keep them off the database "
            "server: a later run that no longer finds them shows rows removed at the end)",
        )

    @row_security.every_organization()  # a command works for the clinics, not one person
    def handle(self, *args, database, heads, **options):
        problems = 0
        for model in audit_chain.chained_models():
            report = audit_chain.verify_table(model, using=database)
            for problem in report.problems:
                self.stdout.write(self.style.ERROR(str(problem)))
            problems += len(report.problems)
            self.stdout.write(report.summary())
            if heads:
                for head in report.heads:
                    self.stdout.write(f"  {head}")
        triggers = audit_chain.unchained(database) + history.unprotected_history(database)
        for problem in triggers:
            self.stdout.write(self.style.ERROR(problem))
        problems += len(triggers)
        tables = len(history.history_models())
        if not triggers:
            self.stdout.write(f"history: {tables} tables, each refusing UPDATE and DELETE")
        if problems:
            raise CommandError(f"The audit is not intact: {problems} problems (listed above).")
        self.stdout.write(self.style.SUCCESS("The audit is intact."))
