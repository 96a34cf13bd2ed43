from django.core.management.base import BaseCommand

from clinics import row_security
from sessions.services.reminders import catch_up_reminders


class Command(BaseCommand):
    help = (
        "Send every appointment reminder that is due (after the workers were down, or from "
        "cron beside aftercare_catch_up). Never sends a reminder twice; safe to run any time."
    )

    @row_security.every_organization()  # a command works for the clinics, not one person
    def handle(self, *args, **options):
        done = catch_up_reminders()
        self.stdout.write(
            f"{done['reminders_sent']} reminder(s) sent, {done['reminders_failed']} refused by "
            "the mail server (tried again later)."
        )
