"""The muscle vocabulary: the shared default list kept in step with the code, and reads of it."""

from dataclasses import dataclass

from django.db import transaction

from sessions.models import Muscle, OrganizationMuscle
from sessions.muscles import DEFAULT_MUSCLES, REGIONS


def sync_default_muscles(using: str = "default", apps=None, **kwargs) -> None:
    """Make the global Muscle table equal `DEFAULT_MUSCLES` (after every migrate and flush).

    Muscles are matched by code; a default muscle dropped from the list stays
    in the table while needle sites name it, so old charts still read.
    """
    model = Muscle
    if apps is not None:  # after a migrate: the table as that migration state has it
        try:
            model = apps.get_model("treatment_sessions", "Muscle")
        except LookupError:  # migrated back to before the vocabulary existed
            return
    with transaction.atomic(using=using):
        for muscle in DEFAULT_MUSCLES:
            model.objects.using(using).update_or_create(
                code=muscle.code,
                defaults={
                    "name": muscle.name,
                    "region": muscle.region,
                    "view": muscle.view,
                    "x": muscle.x,
                    "y": muscle.y,
                    "pneumothorax_risk": muscle.pneumothorax_risk,
                },
            )


@dataclass(frozen=True)
class Region:
    key: str
    label: str
    muscles: list


def muscles_by_region(organization_id) -> list[Region]:
    """The organisation's vocabulary, head to toe, alphabetical in each region (2 queries)."""
    everything = [
        *Muscle.objects.all(),
        *OrganizationMuscle.objects.filter(organization_id=organization_id),
    ]
    everything.sort(key=lambda muscle: muscle.name.lower())
    return [
        Region(key, label, [muscle for muscle in everything if muscle.region == key])
        for key, label in REGIONS.items()
    ]
