"""Writes on clinics and staff roles: each checks access and runs in one transaction."""

import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import UserManager
from accounts.services import find_or_invite_user
from clinics import access, security_log, signals
from clinics.exceptions import LastOrganizationAdmin, NotPermitted, RoleAlreadyHeld
from clinics.models import Clinic, Membership, Organization, Role, SecurityEventKind

CLINIC_FIELDS = ("name", "address", "phone", "emergency_number", "timezone", "is_active")


@transaction.atomic
def create_clinic(*, organization: Organization, by, **fields) -> Clinic:
    if not access.can_add(by, Clinic, organization=organization):
        raise NotPermitted("Only an organisation admin can add a clinic.")
    clinic = Clinic(organization=organization, **_only(fields, CLINIC_FIELDS))
    clinic.full_clean()
    clinic.save()
    return clinic


@transaction.atomic
def update_clinic(*, clinic: Clinic, by, **changes) -> Clinic:
    clinic = Clinic.objects.select_for_update().get(pk=clinic.pk)
    if not access.can(by, "change", clinic):
        raise NotPermitted("Your role does not allow you to change this clinic.")
    for name, value in _only(changes, CLINIC_FIELDS).items():
        setattr(clinic, name, value)
    clinic.full_clean()
    clinic.save()
    return clinic


def check_grant(
    *, organization: Organization, by, email: str, role: Role, clinic: Clinic | None = None
) -> None:
    """Raise the reason `by` cannot grant this role, if there is one (forms ask before saving)."""
    if clinic is not None and clinic.organization_id != organization.pk:
        raise NotPermitted("That clinic belongs to another organisation.", field="clinic")
    if not access.can_add(by, Membership, organization=organization, clinic=clinic):
        if clinic is None:
            raise NotPermitted(
                "Only an organisation admin can grant organisation-wide roles.", field="clinic"
            )
        raise NotPermitted(
            f"Your role does not allow you to add staff at {clinic.name}.", field="clinic"
        )
    if Membership.objects.filter(
        organization=organization,
        clinic=clinic,
        user__email=UserManager.normalize_email(email),
        role=role,
    ).exists():
        raise _already_held(email, role)


@transaction.atomic
def grant_role(
    *,
    organization: Organization,
    by,
    email: str,
    role: Role,
    clinic: Clinic | None = None,
    full_name: str = "",
) -> Membership:
    """Give the person with `email` a role; someone new is invited to set a password."""
    check_grant(organization=organization, by=by, email=email, role=role, clinic=clinic)
    user = find_or_invite_user(email=email, full_name=full_name, invited_to=organization.name)
    membership = Membership(organization=organization, clinic=clinic, user=user, role=role)
    membership.full_clean(validate_unique=False, validate_constraints=False)
    membership.validate_constraints(exclude={"user"})
    try:
        with transaction.atomic():
            membership.save()
    except IntegrityError:  # the same grant, committed a moment ago by a second click
        raise _already_held(email, role) from None
    access.forget_grants(user)
    security_log.record(
        SecurityEventKind.ROLE_GRANTED,
        user=user,
        by=by,
        detail=_role_detail(membership),
        organizations={organization.pk},
    )
    return membership


def _role_detail(membership: Membership) -> str:
    where = membership.clinic.name if membership.clinic_id else "all clinics"
    return f"{Role(membership.role).label} at {where}"


def _already_held(email: str, role: Role) -> RoleAlreadyHeld:
    return RoleAlreadyHeld(
        f"{UserManager.normalize_email(email)} already holds the role {Role(role).label} here.",
        field="role",
    )


@transaction.atomic
def revoke_role(*, membership: Membership, by) -> None:
    # Every revocation in an organisation locks its row first, so two admins
    # removing each other queue up instead of deadlocking.
    Organization.objects.select_for_update().get(pk=membership.organization_id)
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    if not access.can(by, "delete", membership):
        raise NotPermitted("Your role does not allow you to remove this staff role.")
    if membership.role == Role.ORG_ADMIN:
        admins = list(
            Membership.objects.filter(
                organization_id=membership.organization_id, role=Role.ORG_ADMIN
            ).values_list("pk", flat=True)
        )
        if admins == [membership.pk]:
            raise LastOrganizationAdmin(
                "This is the organisation's last admin: grant the role to someone else first."
            )
    membership.delete()
    access.forget_grants(membership.user)
    signals.role_revoked.send(sender=Membership, membership=membership)
    security_log.record(
        SecurityEventKind.ROLE_REVOKED,
        user=membership.user,
        by=by,
        detail=_role_detail(membership),
        organizations={membership.organization_id},
    )


def _only(fields: dict, allowed: tuple[str, ...]) -> dict:
    unknown = set(fields) - set(allowed)
    if unknown:
        raise TypeError(f"unexpected fields: {', '.join(sorted(unknown))}")
    return fields


@transaction.atomic
def record_credential(
    *, membership: Membership, by, credential: str, expires_on: datetime.date | None
) -> Membership:
    """Record a therapist's dry-needling credential and when it expires."""
    membership = Membership.objects.select_for_update(of=("self",)).get(pk=membership.pk)
    if not access.can(by, "change", membership):
        raise NotPermitted("Your role does not allow you to change this staff role.")
    if membership.role != Role.THERAPIST:
        raise NotPermitted("Only a therapist's role carries a dry-needling credential.")
    if membership.user_id == getattr(by, "pk", None):
        raise NotPermitted("Another manager records your own credential.")
    credential = " ".join(credential.split())
    errors = {}
    if not credential:
        errors["credential"] = "Name the credential: issuer and number."
    if expires_on is None:
        errors["credential_expires_on"] = "Give the day the credential expires."
    if errors:
        raise ValidationError(errors)
    membership.credential, membership.credential_expires_on = credential, expires_on
    membership.full_clean()
    membership.save(update_fields=["credential", "credential_expires_on"])
    return membership
