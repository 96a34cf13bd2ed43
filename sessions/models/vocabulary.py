"""The muscles a needle site names: a shared default list, and each organisation's additions."""

import uuid

import pghistory
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from clinics.models import Organization
from sessions.muscles import REGIONS

REGION_CHOICES = list(REGIONS.items())


class View(models.TextChoices):
    FRONT = "front", "Front"
    BACK = "back", "Back"


class Muscle(models.Model):
    """A muscle of the default vocabulary, the same for every organisation.

    A small global catalogue (not tenant data): kept equal to
    `sessions.muscles.DEFAULT_MUSCLES` after every migrate, so it changes only
    with the code.
    """

    code = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=80, unique=True)
    region = models.CharField(max_length=20, choices=REGION_CHOICES)
    view = models.CharField(max_length=5, choices=View.choices)
    x = models.PositiveSmallIntegerField(help_text="The patient's right side, on the body chart.")
    y = models.PositiveSmallIntegerField()
    pneumothorax_risk = models.BooleanField(default=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class OrganizationMuscle(models.Model):
    """A muscle an organisation added to the default vocabulary; chosen from the list."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    code = models.SlugField(max_length=60)
    name = models.CharField(max_length=80)
    region = models.CharField(max_length=20, choices=REGION_CHOICES)
    pneumothorax_risk = models.BooleanField(
        default=False,
        help_text="Needling it can reach the pleura: the therapist acknowledges the risk.",
    )
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    added_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = "organisation's muscle"
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "code"], name="organization_muscle_code_once"
            ),
            models.UniqueConstraint(
                fields=["organization", "name"], name="organization_muscle_name_once"
            ),
            models.UniqueConstraint(fields=["organization", "id"], name="organization_muscle_id"),
            models.CheckConstraint(condition=~Q(name=""), name="organization_muscle_named"),
        ]

    def __str__(self) -> str:
        return self.name
