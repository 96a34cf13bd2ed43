"""Reads about clinics and staff that pages and the API share."""

import datetime

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from accounts.models import User
from clinics import access
from clinics.models import Clinic, Membership, Role

SESSION_KEY = "current_clinic"
CREDENTIAL_NOTICE = datetime.timedelta(days=60)
"""How far ahead a credential's expiry is shown to the organisation's managers."""


def therapist_roles(*, clinic=None, clinics=None, user=None) -> QuerySet:
    """The therapist's roles (Membership): who treats where, with their credentials.

    The one place that says it: booking, working hours, the start of a session, the
    calendar feeds, the imports and every list of therapists ask it. `clinic` (a row or an
    id) or `clinics` (rows or a queryset) narrows it to those clinics, `user` (a row or an
    id) to one person.
    """
    roles = Membership.objects.filter(role=Role.THERAPIST)
    if clinic is not None:
        roles = roles.filter(clinic=clinic)
    if clinics is not None:
        roles = roles.filter(clinic__in=clinics)
    if user is not None:
        roles = roles.filter(user=user)
    return roles


def therapists_of(*, clinic=None, clinics=None) -> QuerySet:
    """The people who treat at `clinic` or any of `clinics` (therapist_roles)."""
    return User.objects.filter(
        pk__in=therapist_roles(clinic=clinic, clinics=clinics).values("user")
    )


def clinics_of(user) -> QuerySet:
    """The active clinics a user works at (every site of their organisation for an admin)."""
    return access.visible_to(user, Clinic.objects.filter(is_active=True)).select_related(
        "organization"
    )


def clinics_of_request(request) -> list[Clinic]:
    """`clinics_of` the request's user, read once per request: the view, the header of each
    template it renders and the navigation all ask."""
    clinics = getattr(request, "_fascia_clinics", None)
    if clinics is None:
        clinics = request._fascia_clinics = list(clinics_of(request.user))
    return clinics


def current_clinic(request, clinics: list[Clinic] | None = None) -> Clinic | None:
    """The clinic chosen in the header's switcher, else the user's first."""
    if clinics is None:
        clinics = clinics_of_request(request)
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


def credentials_to_renew(user, *, within: datetime.timedelta = CREDENTIAL_NOTICE) -> list:
    """Therapist roles `user` may see whose credential is missing or ends within `within`.

    Each is marked `expired` by its clinic's date, as the start of a session checks it.
    """
    # The widest "today" anywhere (UTC+14) picks the candidates; each clinic's
    # own date then decides.
    latest_today = (timezone.now() + datetime.timedelta(hours=14)).date()
    candidates = (
        access.visible_to(user, therapist_roles())
        .filter(
            Q(credential_expires_on__isnull=True)
            | Q(credential_expires_on__lte=latest_today + within)
        )
        .select_related("user", "clinic")
        .order_by("credential_expires_on", "user__full_name")
    )
    renew = []
    for role in candidates:
        today = timezone.localdate(timezone=role.clinic.zone)
        ends = role.credential_expires_on
        if ends is None or ends <= today + within:
            role.expired = ends is not None and ends < today
            renew.append(role)
    return renew
