"""Who may see and do what: the one place that decides it.

Every model that holds an organisation's data is registered here with the
lookups that lead from a row to its organisation and (where it has one) its
clinic, and with the roles allowed each action. Everything that reaches a user
(API viewsets, pages, the admin) narrows its querysets with `visible_to` and
checks writes with `can` / `can_add`. The default is deny: no role, no rows;
an unregistered model is an error. Rows of another organisation are simply
not in the queryset, so they answer 404, never 403.

Break-glass: a clinician who holds an unexpired emergency access to a patient of
another site of their organisation (patients.EmergencyAccess, registered with
`register_emergency_access`) reads that patient's records as if the patient's
home clinic were theirs: every model registered with a `patient` lookup. Reading
only: `view`, never `add`, `change` or `delete`.

The platform operator (a superuser) sees everything.
"""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Literal

from django.conf import settings
from django.db import connection, models
from django.db.models import Q, QuerySet
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.http import Http404
from django.utils import timezone
from rest_framework import permissions

from clinics.models import Clinic, Membership, Organization, Role

Action = Literal["view", "add", "change", "delete"]
ACTIONS: tuple[Action, ...] = ("view", "add", "change", "delete")

STAFF = frozenset(Role)
MANAGERS = frozenset({Role.ORG_ADMIN, Role.CLINIC_MANAGER})
ORG_ADMINS = frozenset({Role.ORG_ADMIN})
CLINICAL = frozenset({Role.ORG_ADMIN, Role.CLINIC_MANAGER, Role.THERAPIST})
"""Roles that read clinical answers and notes: everyone but the front desk."""
NOBODY: frozenset[Role] = frozenset()


class NotRegistered(LookupError):
    """A model reached the access module without a rule: a programming error."""


@dataclass(frozen=True)
class Rule:
    organization: str
    """Lookup from the model to its organisation's id, e.g. "organization"."""
    clinic: str | None
    """Lookup to its clinic's id, or None when a row belongs to the whole organisation."""
    roles: dict[str, frozenset[Role]]
    own: str | None = None
    """Lookup to the user whose own record the row is (a patient's login)."""
    own_may: frozenset[str] = frozenset({"view"})
    """What that user may do with their own rows, whatever roles they hold."""
    own_when: Q | None = None
    """What else must hold of a row before it is its owner's (an aftercare plan once issued)."""
    patient: str | None = None
    """Lookup to the id of the patient whose record the row is part of ("pk" for the patient
    itself): an emergency access to that patient reaches the row."""
    staff: str | None = None
    """For rows of no clinic that are one staff member's (a therapist's calendar feed): the
    lookup to that person. A role at a clinic then reaches the rows of the people who hold a
    role at that clinic, not the whole organisation's."""


@dataclass(frozen=True)
class Grant:
    """One role a user holds: at a clinic, or organisation-wide (clinic_id None)."""

    organization_id: object
    clinic_id: object | None
    role: Role


_rules: dict[type[models.Model], Rule] = {}


def register(
    model: type[models.Model],
    *,
    organization: str = "organization",
    clinic: str | None = None,
    view: Iterable[Role] = NOBODY,
    add: Iterable[Role] = NOBODY,
    change: Iterable[Role] = NOBODY,
    delete: Iterable[Role] = NOBODY,
    own: str | None = None,
    own_may: Iterable[Action] = ("view",),
    own_when: Q | None = None,
    patient: str | None = None,
    staff: str | None = None,
) -> None:
    """Declare who may do what with `model`; called from each app's AppConfig.ready()."""
    _rules[model] = Rule(
        organization=organization,
        clinic=clinic,
        roles={
            "view": frozenset(view),
            "add": frozenset(add),
            "change": frozenset(change),
            "delete": frozenset(delete),
        },
        own=own,
        own_may=frozenset(own_may),
        own_when=own_when,
        patient=patient,
        staff=staff,
    )


_person_records: list[tuple[type[models.Model], str, str]] = []


def register_person_record(
    model: type[models.Model], *, user: str = "user", organization: str = "organization"
) -> None:
    """Declare a model whose row makes its login one of the organisation's people
    (a patient's record and its portal login), for `organizations_of`."""
    _person_records.append((model, user, organization))


def person_records() -> list[tuple[type[models.Model], str, str]]:
    """The models registered with `register_person_record`: (model, user, organisation)."""
    return list(_person_records)


def organizations_of(user) -> set:
    """The ids of the organisations `user` belongs to: a staff role, or a record of theirs
    (a patient). Whether or not the account is active: the security log asks it of
    accounts that failed to log in. Asked of the database's `fascia_organizations_of`
    (made from the staff roles and `register_person_record`, clinics/row_security.py),
    the same answer row-level security gives a request of theirs."""
    if user is None or user.pk is None:
        return set()
    with connection.cursor() as cursor:
        cursor.execute("SELECT fascia_organizations_of(%s)", [user.pk])
        return set(cursor.fetchone()[0])


@dataclass(frozen=True)
class EmergencyGrants:
    """Where break-glass accesses are kept: the model and the lookups of its rows."""

    model: type[models.Model]
    user: str
    patient: str
    organization: str
    granted: str
    expires: str


_emergency: list[EmergencyGrants] = []


def register_emergency_access(
    model: type[models.Model],
    *,
    user: str = "user",
    patient: str = "patient",
    organization: str = "organization",
    granted: str = "granted_at",
    expires: str = "expires_at",
) -> None:
    """Declare the model whose rows are break-glass accesses (clinics cannot import patients):
    the clinician (`user`), the patient, and the time from which until which it holds."""
    _emergency[:] = [EmergencyGrants(model, user, patient, organization, granted, expires)]


def active_emergency_access(user, *, organization_id=None) -> QuerySet:
    """The break-glass accesses `user` holds now (of one organisation, if given).

    Whether they still reach anything also depends on the user's clinical roles
    (`visible_to`); this is only the rows, for a banner or a double click.
    """
    if not _emergency:
        raise NotRegistered("No model holds emergency accesses (register_emergency_access).")
    grants = _emergency[0]
    if user is None or user.pk is None:
        return grants.model._default_manager.none()
    now = timezone.now()
    rows = grants.model._default_manager.filter(
        **{grants.user: user.pk, f"{grants.granted}__lte": now, f"{grants.expires}__gt": now}
    )
    if organization_id is not None:
        rows = rows.filter(**{grants.organization: organization_id})
    return rows


def emergency_organizations(user) -> set:
    """The organisations in which `user` may break the glass: where they hold a clinical role
    at a clinic (an organisation admin reads every site's patients already).

    Never the front desk, never another organisation: the patient must be of one of these.
    """
    clinical = {grant.organization_id for grant in grants_of(user) if grant.role in CLINICAL}
    everywhere = {grant.organization_id for grant in grants_of(user) if grant.clinic_id is None}
    return clinical - everywhere


def _emergency_organizations(user, rule: Rule) -> set:
    """The organisations where `user` holds a clinical role that reads `rule`'s rows: where an
    emergency access of theirs reaches them. Nothing for rows that are not a patient's."""
    if rule.patient is None or not _emergency:
        return set()
    readers = CLINICAL & rule.roles["view"]
    reading = {grant.organization_id for grant in grants_of(user) if grant.role in readers}
    return reading & emergency_organizations(user)


def _through_emergency_access(user, rule: Rule) -> Q | None:
    """The rows `user` reads through their emergency accesses: a subquery of the accesses held
    now, per organisation where a clinical role lets them, so a list stays one query."""
    condition = None
    for organization_id in sorted(_emergency_organizations(user, rule), key=str):
        patients = active_emergency_access(user, organization_id=organization_id).values(
            _emergency[0].patient
        )
        reached = Q(**{rule.organization: organization_id, f"{rule.patient}__in": patients})
        condition = reached if condition is None else condition | reached
    return condition


def may_review_emergency_access(user) -> bool:
    """Does `user` read the organisation's list of break-glass accesses (its admins do)?"""
    if not _emergency:
        return False
    return may_use(user, _emergency[0].model, "view")


def registered_models() -> list[type[models.Model]]:
    return list(_rules)


def rule_for(model: type[models.Model]) -> Rule:
    try:
        return _rules[model]
    except KeyError:
        raise NotRegistered(f"{model.__name__} is not registered with clinics.access") from None


def grants_of(user) -> list[Grant]:
    """The roles `user` holds, read once per user object (so once per request)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return []
    cached = getattr(user, "_fascia_grants", None)
    if cached is None:
        cached = [
            Grant(organization_id=org, clinic_id=clinic, role=Role(role))
            for org, clinic, role in Membership.objects.filter(user=user).values_list(
                "organization_id", "clinic_id", "role"
            )
        ]
        user._fascia_grants = cached
    return cached


def forget_grants(user) -> None:
    """Drop the cached roles (and what `can` answered from them) after they changed within
    one request."""
    if hasattr(user, "_fascia_grants"):
        del user._fascia_grants
    _forget_answers()


def is_platform_operator(user) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.is_active and user.is_superuser)


def holds_staff_role(user) -> bool:
    return bool(grants_of(user))


def holds_role(user, roles: Iterable[Role]) -> bool:
    wanted = frozenset(roles)
    return any(grant.role in wanted for grant in grants_of(user))


def visible_to(
    user, queryset: QuerySet, action: Action = "view", *, emergency: bool = True
) -> QuerySet:
    """`queryset` narrowed to the rows `user` may `action`.

    Reading includes the records of the patients `user` holds an emergency access
    to (see the module's docstring); `emergency=False` leaves them out, for a write
    that must be sure the user works with the patient (booking them).

    Related rows a caller forgot to select are fetched for all peers in one
    query (Django's FETCH_PEERS), so a list never costs a query per row.
    """
    queryset = queryset.fetch_mode(models.FETCH_PEERS)
    if is_platform_operator(user):
        return queryset
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return queryset.none()
    rule = rule_for(queryset.model)
    allowed = rule.roles[action]
    condition = Q(pk__in=[])
    for grant in grants_of(user):
        if grant.role not in allowed:
            continue
        if grant.clinic_id is not None and rule.staff is not None:
            condition |= Q(
                **{
                    rule.organization: grant.organization_id,
                    f"{rule.staff}__in": Membership.objects.filter(
                        organization_id=grant.organization_id, clinic_id=grant.clinic_id
                    ).values("user_id"),
                }
            )
            continue
        if grant.clinic_id is None or rule.clinic is None:
            condition |= Q(**{rule.organization: grant.organization_id})
            continue
        at_clinic = Q(**{rule.clinic: grant.clinic_id})
        if action == "view":
            # A row with no clinic belongs to every site: staff of any site may read it.
            at_clinic |= Q(**{f"{rule.clinic}__isnull": True})
        condition |= Q(**{rule.organization: grant.organization_id}) & at_clinic
    if rule.own and action in rule.own_may:
        condition |= Q(**{rule.own: user.pk}) & (rule.own_when or Q())
    if action == "view" and emergency:
        reached = _through_emergency_access(user, rule)
        if reached is not None:
            condition |= reached
    return queryset.filter(condition)


_answers: ContextVar[dict | None] = ContextVar("fascia_access_answers", default=None)


@contextmanager
def answers_remembered() -> Iterator[None]:
    """Within it (one request: clinics.middleware.RememberAccessMiddleware), `can` asks the
    database each question once: a patient's page asks whether its reader may see the
    patient from the view, each panel and the template tags. A save or a delete of any
    row, or roles changing (`forget_grants`), forgets every answer: the next question is
    asked of the rows as they are."""
    token = _answers.set({})
    try:
        yield
    finally:
        _answers.reset(token)


def _forget_answers() -> None:
    remembered = _answers.get()
    if remembered:
        remembered.clear()


@receiver(post_save, dispatch_uid="clinics.access.forget_answers_on_save")
@receiver(post_delete, dispatch_uid="clinics.access.forget_answers_on_delete")
def _row_changed(**kwargs) -> None:
    _forget_answers()


def can(user, action: Action, obj: models.Model, *, emergency: bool = True) -> bool:
    """May `user` `action` this existing row? (`emergency`: see `visible_to`.)"""
    model = type(obj)
    remembered = _answers.get()
    question = (getattr(user, "pk", None), model._meta.label, obj.pk, action, emergency)
    if remembered is not None and question in remembered:
        return remembered[question]
    rows = model._default_manager.filter(pk=obj.pk)
    answer = visible_to(user, rows, action, emergency=emergency).exists()
    if remembered is not None:
        remembered[question] = answer
    return answer


def can_add(
    user,
    model: type[models.Model],
    *,
    organization: Organization,
    clinic: Clinic | None = None,
    owner=None,
) -> bool:
    """May `user` add a `model` row for this organisation (and clinic)?"""
    return can_at(user, "add", model, organization=organization, clinic=clinic, owner=owner)


def can_at(
    user,
    action: Action,
    model: type[models.Model],
    *,
    organization: Organization,
    clinic: Clinic | None = None,
    owner=None,
    patient: models.Model | None = None,
) -> bool:
    """May `user` `action` `model` rows of this organisation (and clinic)?

    `owner` is the user whose own record the rows are (a patient's login):
    the rule's `own_may` lets them act without any role. `patient`, whose record
    the rows are part of: an emergency access to them lets `user` read them.
    """
    if is_platform_operator(user):
        return True
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    rule = rule_for(model)
    if rule.own and action in rule.own_may and owner is not None and owner.pk == user.pk:
        return True
    allowed = rule.roles[action]
    clinic_id = clinic.pk if clinic is not None else None
    if any(
        grant.organization_id == organization.pk
        and grant.role in allowed
        and (grant.clinic_id is None or rule.clinic is None or grant.clinic_id == clinic_id)
        # A staff member's rows: which person is asked of a row (`can`), not here.
        and (grant.clinic_id is None or rule.staff is None)
        for grant in grants_of(user)
    ):
        return True
    return (
        action == "view"
        and patient is not None
        and organization.pk in _emergency_organizations(user, rule)
        and active_emergency_access(user, organization_id=organization.pk)
        .filter(**{_emergency[0].patient: patient.pk})
        .exists()
    )


def may_use(user, model: type[models.Model], action: Action) -> bool:
    """Does `user` hold any role that allows `action` on some `model` row?"""
    if is_platform_operator(user):
        return True
    allowed = rule_for(model).roles[action]
    return any(grant.role in allowed for grant in grants_of(user))


def clinics_for(user, model: type[models.Model], action: Action) -> QuerySet:
    """The clinics at which `user` may `action` rows of `model` (for choosing one in a form)."""
    clinics = Clinic.objects.select_related("organization")
    if is_platform_operator(user):
        return clinics
    allowed = rule_for(model).roles[action]
    condition = Q(pk__in=[])
    for grant in grants_of(user):
        if grant.role not in allowed:
            continue
        if grant.clinic_id is None:
            condition |= Q(organization_id=grant.organization_id)
        else:
            condition |= Q(pk=grant.clinic_id)
    return clinics.filter(condition)


def organizations_for(user, model: type[models.Model], action: Action) -> QuerySet:
    """The organisations in which `user` may `action` some `model` row."""
    if is_platform_operator(user):
        return Organization.objects.all()
    allowed = rule_for(model).roles[action]
    ids = {grant.organization_id for grant in grants_of(user) if grant.role in allowed}
    return Organization.objects.filter(pk__in=ids)


def manages_api_tokens(user) -> bool:
    """May `user` list and revoke other people's API tokens at all (`api_tokens_managed_by`
    says whose): organisation admins and the platform operator."""
    return holds_role(user, ORG_ADMINS) or is_platform_operator(user)


def api_tokens_managed_by(user, queryset: QuerySet) -> QuerySet:
    """The personal API tokens (`queryset` of accounts.ApiToken) `user` may list and revoke
    for their owners: those of everyone holding a role in an organisation `user` is an
    organisation admin of (a person with roles in two organisations, by both admins).

    Tokens are the person's, not the organisation's: a token reaches whatever its owner
    may, so every organisation they work for may end it.
    """
    if is_platform_operator(user):
        return queryset
    organizations = {grant.organization_id for grant in grants_of(user) if grant.role in ORG_ADMINS}
    return queryset.filter(
        user__in=Membership.objects.filter(organization_id__in=organizations).values("user_id")
    )


def mfa_outstanding(user) -> bool:
    """Staff must set up two-factor authentication before clinical work (when required)."""
    if not settings.FASCIA_REQUIRE_STAFF_MFA:
        return False
    if not (is_platform_operator(user) or holds_staff_role(user)):
        return False
    from allauth.mfa.utils import is_mfa_enabled  # needs the app registry

    return not is_mfa_enabled(user)


# --- DRF --------------------------------------------------------------------

_METHOD_ACTIONS: dict[str, Action] = {
    "GET": "view",
    "HEAD": "view",
    "OPTIONS": "view",
    "POST": "add",
    "PUT": "change",
    "PATCH": "change",
    "DELETE": "delete",
}


class LoggedInWithMfa(permissions.BasePermission):
    """The API's default: an active, logged-in user (staff or a patient's login) who has
    done any MFA asked of them. What they may see and do is for each view to ask."""

    message = "Set up two-factor authentication before using the API."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_active):
            return False
        return not mfa_outstanding(user)


class ScopedPermission(LoggedInWithMfa):
    """Object writes need the action's role; rows the user cannot see never get here (404)."""

    def has_object_permission(self, request, view, obj) -> bool:
        action = _METHOD_ACTIONS.get(request.method, "change")
        if action == "view" or can(request.user, action, obj):
            return True
        self.message = f"Your role does not allow you to {action} this {obj._meta.verbose_name}."
        return False


class ScopedQuerysetMixin:
    """For viewsets: the queryset every action starts from is what the user may see."""

    permission_classes = [ScopedPermission]

    def get_queryset(self):
        return visible_to(self.request.user, super().get_queryset(), "view")


# --- Django admin -------------------------------------------------------------


class ScopedAdminMixin:
    """For ModelAdmins: lists, objects and permissions come from the rules above.

    An organisation admin needs no Django model permissions: the role decides.
    A row outside the user's reach answers 404, like everywhere else.
    """

    def get_queryset(self, request):
        return visible_to(request.user, super().get_queryset(request), "view")

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404(f"No {self.opts.verbose_name} with this id.")
        return obj

    def has_module_permission(self, request) -> bool:
        return may_use(request.user, self.model, "view")

    def has_view_permission(self, request, obj=None) -> bool:
        if obj is None:
            return may_use(request.user, self.model, "view")
        return can(request.user, "view", obj)

    def has_add_permission(self, request, *args) -> bool:
        return may_use(request.user, self.model, "add")

    def has_change_permission(self, request, obj=None) -> bool:
        if obj is None:
            return may_use(request.user, self.model, "change")
        return can(request.user, "change", obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is None:
            return may_use(request.user, self.model, "delete")
        return can(request.user, "delete", obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        target = db_field.remote_field.model
        if target is Organization:
            kwargs["queryset"] = organizations_for(request.user, self.model, "add")
        elif target is Clinic:
            kwargs["queryset"] = clinics_for(request.user, self.model, "add")
        elif target in _rules:
            kwargs["queryset"] = visible_to(request.user, target._default_manager.all())
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


def admin_site_permission(request) -> bool:
    """Who may enter /admin/: platform staff, organisation admins and clinic managers."""
    user = request.user
    if not (user.is_active and user.is_authenticated):
        return False
    return user.is_staff or is_platform_operator(user) or holds_role(user, MANAGERS)


__all__ = [
    "ACTIONS",
    "CLINICAL",
    "MANAGERS",
    "NOBODY",
    "ORG_ADMINS",
    "STAFF",
    "LoggedInWithMfa",
    "NotRegistered",
    "ScopedAdminMixin",
    "ScopedPermission",
    "ScopedQuerysetMixin",
    "admin_site_permission",
    "api_tokens_managed_by",
    "can",
    "can_add",
    "can_at",
    "clinics_for",
    "grants_of",
    "holds_role",
    "holds_staff_role",
    "manages_api_tokens",
    "may_use",
    "organizations_for",
    "organizations_of",
    "register",
    "register_person_record",
    "registered_models",
    "visible_to",
]
