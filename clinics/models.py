import uuid
import zoneinfo

import pghistory
import pgtrigger
from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from clinics.audit_chain import HashChained, chain_order, hash_chain

phone_number = RegexValidator(
    r"^\+?[0-9 ().-]{7,25}$",
    "Enter a phone number of 7 to 25 digits; spaces, brackets, dots and dashes are allowed.",
)

emergency_number = RegexValidator(
    r"^[0-9]{2,6}$",
    "Enter the emergency number as it is dialled: 2 to 6 digits, such as 911, 112 or 000.",
)


def timezone_choices() -> list[tuple[str, str]]:
    return [(name, name.replace("_", " ")) for name in sorted(zoneinfo.available_timezones())]


STAFF_IDLE_MINUTES = 15
"""A staff login ends after this long without activity, unless the organisation says otherwise
(config/idle_timeout.py); also a superuser's."""
IDLE_MINUTES_LEAST, IDLE_MINUTES_MOST = 5, 60


class Role(models.TextChoices):
    ORG_ADMIN = "org_admin", _("Organisation admin")
    CLINIC_MANAGER = "clinic_manager", _("Clinic manager")
    THERAPIST = "therapist", _("Therapist")
    FRONT_DESK = "front_desk", _("Front desk")


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class Organization(models.Model):
    """The tenant: a business that runs one or more clinic sites."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, unique=True)
    idle_minutes = models.PositiveSmallIntegerField(
        "minutes idle before logout",
        default=STAFF_IDLE_MINUTES,
        validators=[MinValueValidator(IDLE_MINUTES_LEAST), MaxValueValidator(IDLE_MINUTES_MOST)],
        help_text=f"A staff login ends after this many minutes without activity "
        f"({IDLE_MINUTES_LEAST} to {IDLE_MINUTES_MOST}). Someone with roles in several "
        "organisations gets the shortest.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(idle_minutes__range=(IDLE_MINUTES_LEAST, IDLE_MINUTES_MOST)),
                name="organization_idle_minutes_in_range",
                violation_error_message=f"Minutes idle before logout must be from "
                f"{IDLE_MINUTES_LEAST} to {IDLE_MINUTES_MOST}.",
            ),
        ]

    def __str__(self) -> str:
        return self.name


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class Clinic(models.Model):
    """One site of an organisation, with its own address, phone and timezone."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="clinics")
    name = models.CharField(max_length=200)
    address = models.TextField(blank=True)
    phone = models.CharField(max_length=25, blank=True, validators=[phone_number])
    emergency_number = models.CharField(
        max_length=6,
        default="911",
        validators=[emergency_number],
        help_text="The number patients are told to call when a check-in answer is an emergency.",
    )
    timezone = models.CharField(max_length=64, choices=timezone_choices, default="America/Toronto")
    is_active = models.BooleanField("active", default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"],
                name="clinic_name_unique_in_organization",
                violation_error_message="This organisation already has a clinic with this name.",
            ),
            # Target of the composite foreign keys that keep a row and its
            # clinic in one organisation (see migration 0002).
            models.UniqueConstraint(fields=["organization", "id"], name="clinic_organization_id"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class Membership(models.Model):
    """A staff role held by a person: at one clinic, or (organisation admin) at all of them."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="memberships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    clinic = models.ForeignKey(
        Clinic,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="memberships",
        help_text="Empty for an organisation admin, who works at every clinic.",
    )
    role = models.CharField(max_length=20, choices=Role.choices)
    credential = models.CharField(
        "dry-needling credential",
        max_length=200,
        blank=True,
        help_text="For a therapist: the certificate or licence that allows dry needling, "
        "with its issuer and number.",
    )
    credential_expires_on = models.DateField(
        "credential expires on",
        null=True,
        blank=True,
        help_text="After this day the therapist cannot start sessions until it is renewed.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        verbose_name = "staff role"
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "user", "clinic", "role"],
                nulls_distinct=False,
                name="membership_unique_role",
                violation_error_message="This person already holds this role here.",
            ),
            models.CheckConstraint(
                condition=models.Q(role=Role.ORG_ADMIN, clinic__isnull=True)
                | (~models.Q(role=Role.ORG_ADMIN) & models.Q(clinic__isnull=False)),
                name="membership_clinic_matches_role",
                violation_error_message=(
                    "An organisation admin holds the role for every clinic (leave clinic "
                    "empty); every other role needs a clinic."
                ),
            ),
        ]

    def __str__(self) -> str:
        where = self.clinic.name if self.clinic_id else "all clinics"
        return f"{self.user} — {self.get_role_display()} ({where})"


class WorkerHeartbeat(models.Model):
    """A task worker's sign of life, written every few seconds (clinics/worker.py).

    A running task whose worker has not beaten for a lease is taken again, and
    /healthz reports the last beat. Not clinical data: no organisation.
    """

    worker_id = models.CharField(max_length=64, primary_key=True)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField(db_index=True)
    task_id = models.UUIDField(null=True, blank=True, help_text="The task it is running now.")

    class Meta:
        ordering = ["-seen_at"]

    def __str__(self) -> str:
        return f"worker {self.worker_id} on {self.host} (pid {self.pid})"


class SecurityEventKind(models.TextChoices):
    LOGIN = "login", _("Logged in")
    LOGIN_FAILED = "login_failed", _("Login failed")
    LOCKED_OUT = "locked_out", _("Login refused: too many failures")
    LOGOUT = "logout", _("Logged out")
    MFA_FAILED = "mfa_failed", _("Two-factor code refused")
    MFA_ADDED = "mfa_added", _("Two-factor method added")
    MFA_REMOVED = "mfa_removed", _("Two-factor method removed")
    MFA_RESET = "mfa_reset", _("Recovery codes replaced")
    PASSWORD_CHANGED = "password_changed", _("Password changed")
    PASSWORD_SET = "password_set", _("Password set")
    PASSWORD_RESET = "password_reset", _("Password reset by e-mail")
    ROLE_GRANTED = "role_granted", _("Role granted")
    ROLE_REVOKED = "role_revoked", _("Role removed")
    TOKEN_CREATED = "token_created", _("API token made")
    TOKEN_REVOKED = "token_revoked", _("API token revoked")
    BREAK_GLASS = "break_glass", _("Emergency access to a patient of another site")


class SecurityEvent(HashChained):
    """One security event (a login, a refused code, a role granted...), as its organisation sees it.

    An event about a person is written once for each organisation they belong to
    (a role, or a patient record), all with the same `event_id`, so each
    organisation's admins see it and no other's; an event about nobody known
    (a login failed for an unknown address) has no organisation and is for the
    platform operator. Written by clinics.security_log only; never changed
    (a trigger) and hash-chained per organisation (clinics.audit_chain), with its
    creation time and no inbound foreign keys, so it can be partitioned by month.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    event_id = models.UUIDField(default=uuid.uuid4, editable=False, db_index=True)
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(max_length=20, choices=SecurityEventKind.choices)
    occurred_at = models.DateTimeField(default=timezone.now, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Whose account it is about.",
    )
    email = models.EmailField(
        "e-mail address", blank=True, help_text="As typed, where the account is not known."
    )
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who did it, where that is someone else (an admin granting a role).",
    )
    ip_address = models.GenericIPAddressField("IP address", null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    detail = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-occurred_at"]
        verbose_name = "security event"
        indexes = [
            models.Index(fields=["organization", "-occurred_at"], name="security_event_time"),
            models.Index(
                fields=["organization", "user", "-occurred_at"], name="security_event_user"
            ),
        ]
        constraints = [chain_order("clinics_securityevent")]
        triggers = [
            pgtrigger.Protect(name="never_changed", operation=pgtrigger.Update | pgtrigger.Delete),
            hash_chain(),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.user or self.email or 'unknown'}"


# pghistory's context table, protected like the event tables (its triggers are on this proxy).
from clinics.history import HistoryContext  # noqa: E402, F401 (a model: registered by its import)
