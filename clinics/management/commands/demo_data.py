from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.module_loading import import_string

from clinics import row_security
from clinics.demo import DEMO_PASSWORD


class Command(BaseCommand):
    help = "Load the demo organisations, clinics and people (idempotent) and print the logins."

    @row_security.every_organization()  # a command works for the clinics, not one person
    def handle(self, *args, **options):
        if not settings.DEBUG:
            # Demo accounts share a published password: never in a real installation.
            raise CommandError("demo data is loaded only with DEBUG=true (the local demo)")
        logins = []
        with transaction.atomic():
            for loader in settings.FASCIA_DEMO_LOADERS:
                logins.extend(import_string(loader)() or [])
        self.stdout.write(self.style.SUCCESS("Demo data is ready. Log in with any of these:"))
        width = max(len(email) for _, email in logins)
        for who, email in logins:
            self.stdout.write(f"  {email.ljust(width)}  {who}")
        self.stdout.write(f"Password for every demo login: {DEMO_PASSWORD}")
