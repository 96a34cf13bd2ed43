"""Reads about clinics and staff that pages and the API share."""

from django.db.models import Count, Q, QuerySet

from clinics import access
from clinics.models import Clinic, Membership

SESSION_KEY = "current_clinic"


def clinics_of(user) -> QuerySet:
    """The active clinics a user works at (every site of their organisation for an admin)."""
    return access.visible_to(user, Clinic.objects.filter(is_active=True)).select_related(
        "organization"
    )


def current_clinic(request, clinics: list[Clinic] | None = None) -> Clinic | None:
    """The clinic chosen in the header's switcher, else the user's first."""
    if clinics is None:
        clinics = list(clinics_of(request.user))
    chosen = request.session.get(SESSION_KEY)
    for clinic in clinics:
        if str(clinic.pk) == chosen:
            return clinic
    return clinics[0] if clinics else None


def clinics_with_team_size(user) -> QuerySet:
    return access.visible_to(user, Clinic.objects.select_related("organization")).annotate(
        team_size=Count("memberships__user", distinct=True)
    )


def team_of(user, clinic: Clinic) -> QuerySet:
    """Who works at `clinic`, as far as `user` may see: its staff and the organisation admins."""
    return (
        access.visible_to(user, Membership.objects.select_related("user"))
        .filter(Q(clinic=clinic) | Q(organization=clinic.organization_id, clinic__isnull=True))
        .order_by("role", "user__full_name")
    )
