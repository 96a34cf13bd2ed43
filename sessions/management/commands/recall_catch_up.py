from django.core.management.base import BaseCommand

from clinics import row_security
from sessions.models.recall import QUEUED_TOO_LONG
from sessions.services.recall import catch_up_recall_notices


class Command(BaseCommand):
    help = (
        "Send every recall notice queued for longer than "
        f"{QUEUED_TOO_LONG.total_seconds() / 60:.0f} minutes (its e-mail job was lost: after an "
        "outage, or from cron beside aftercare_catch_up). Never sends a notice twice; safe to "
        "run any time."
    )

    @row_security.every_organization()  # a command works for the clinics, not one person
    def handle(self, *args, **options):
        done = catch_up_recall_notices()
        self.stdout.write(
            f"{done['recall_notices_sent']} recall notice(s) sent, "
            f"{done['recall_notices_failed']} refused by the mail server (shown on the recall "
            "page to try again)."
        )
