from django.core.management.base import BaseCommand

from aftercare import tasks


class Command(BaseCommand):
    help = (
        "Send every check-in e-mail that is due and escalate every overdue urgent alert now "
        "(after the task workers were down, or from cron as a safety net). Safe to run any time."
    )

    def handle(self, *args, **options):
        done = tasks.catch_up.call()
        self.stdout.write(
            f"{done['check_ins_sent']} check-in e-mail(s) sent, "
            f"{done['alerts_escalated']} alert(s) escalated."
        )
