"""A therapist's calendar feed: a private address their calendar app subscribes to.

The address holds a secret; only its SHA-256 is kept (as with API tokens), so a
feed's address is shown once, when it is made, and a lost one is revoked and
made again.
"""

import uuid

import pghistory
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from clinics.models import Organization


# The hash is history enough. Each poll may move last_used_at, which is not history
# worth a row every few minutes.
@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(),
    pghistory.DeleteEvent(),
    exclude=["last_used_at"],
)
class CalendarFeed(models.Model):
    """A therapist's bookings in one organisation, as an iCalendar feed at a secret address."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    therapist = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feeds"
    )
    name = models.CharField(
        max_length=100,
        blank=True,
        help_text="Where it is used, e.g. “Phone”: to tell feeds apart.",
    )
    secret_hash = models.CharField("SHA-256 of the secret", max_length=64, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    last_used_at = models.DateTimeField(
        null=True, blank=True, help_text="When a calendar last read it (to a few minutes)."
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "calendar feed"
        constraints = [
            # How a feed is found from its address, which names no organisation.
            models.UniqueConstraint(fields=["secret_hash"], name="calendar_feed_secret_once"),
            models.CheckConstraint(
                condition=Q(revoked_at__isnull=True, revoked_by__isnull=True)
                | Q(revoked_at__isnull=False),
                name="calendar_feed_revoked_by_only_when_revoked",
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "therapist", "-created_at"], name="calendar_feed_theirs"
            ),
        ]

    def __str__(self) -> str:
        return self.name or f"Calendar feed made {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
