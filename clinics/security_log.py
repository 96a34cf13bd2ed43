"""The security log: logins, refused codes, password changes, roles and API tokens.

`record` is the one way a row is written. The receivers in clinics/receivers.py
call it for the signals of Django, allauth and accounts; the staff-role services
call it themselves. Each event about a person is written once per organisation
the person belongs to (see `SecurityEvent`), so each organisation's admins see
what happened to their people, and nothing of another organisation's.
"""

import datetime
import uuid

from django.db.models import Q, QuerySet
from django_filters import rest_framework as filters

from accounts import client
from accounts.models import User, UserManager
from clinics import access, row_security
from clinics.models import SecurityEvent, SecurityEventKind
from clinics.spreadsheet import safe_cell

DETAIL_LENGTH = SecurityEvent._meta.get_field("detail").max_length
USER_AGENT_LENGTH = SecurityEvent._meta.get_field("user_agent").max_length


def record(
    kind: SecurityEventKind,
    *,
    request=None,
    user: User | None = None,
    email: str = "",
    by: User | None = None,
    detail: str = "",
    organizations=None,
) -> list[SecurityEvent]:
    """Write one event: one row per organisation concerned, or one with none.

    `organizations` (ids) narrows an event that concerns one organisation only
    (a role granted there); by default they are every organisation `user`
    belongs to. The client's address and browser come from `request`, or else
    from the request being served (accounts.client), or are left empty (a
    command, the task worker).

    Written for every organisation concerned whoever is logged in, or nobody
    (a failed login): past the request's row-level security (clinics/row_security.py).
    """
    with row_security.every_organization():
        return _write(kind, request, user, email, by, detail, organizations)


def _write(kind, request, user, email, by, detail, organizations) -> list[SecurityEvent]:
    if organizations is None:
        organizations = access.organizations_of(user) if user is not None else set()
    origin = client.origin_of(request) if request is not None else client.current_origin()
    event_id = uuid.uuid4()
    rows = [
        SecurityEvent(
            event_id=event_id,
            organization_id=organization,
            kind=kind,
            user=user,
            email=UserManager.normalize_email(email or getattr(user, "email", "")),
            by=by,
            ip_address=origin.ip_address,
            user_agent=origin.user_agent[:USER_AGENT_LENGTH],
            detail=detail[:DETAIL_LENGTH],
        )
        for organization in sorted(organizations, key=str) or [None]
    ]
    return SecurityEvent.objects.bulk_create(rows)


def account_of(email: str) -> User | None:
    """The account a typed e-mail address names, if any (a failed login)."""
    return User.objects.filter(email=UserManager.normalize_email(email)).first()


# --- Reading the log ------------------------------------------------------------------


def events_visible_to(user) -> QuerySet:
    """The events `user` may read (an organisation admin: their organisation's), newest first."""
    return access.visible_to(
        user, SecurityEvent.objects.select_related("user", "by", "organization")
    ).order_by("-occurred_at", "-id")


class SecurityEventFilter(filters.FilterSet):
    """The filters of the security log's page, its CSV and the API alike."""

    kind = filters.MultipleChoiceFilter(choices=SecurityEventKind.choices, label="What happened")
    person = filters.CharFilter(
        method="filter_person", label="Person", help_text="Part of a name or e-mail address."
    )
    since = filters.DateFilter(
        field_name="occurred_at", lookup_expr="date__gte", label="From (day)"
    )
    until = filters.DateFilter(
        field_name="occurred_at", lookup_expr="date__lte", label="Until (day)"
    )
    ip_address = filters.CharFilter(label="IP address")

    class Meta:
        model = SecurityEvent
        fields = ["kind", "person", "since", "until", "ip_address"]

    def filter_person(self, queryset, name, value):
        value = value.strip()
        return queryset.filter(
            Q(email__icontains=value)
            | Q(user__email__icontains=value)
            | Q(user__full_name__icontains=value)
        )


CSV_COLUMNS = [
    "Time (UTC)",
    "What happened",
    "Person",
    "E-mail",
    "By",
    "IP address",
    "Browser",
    "Detail",
    "Organisation",
    "Event id",
]


def as_csv_rows(events: QuerySet):
    """The events as spreadsheet lines (header first), streamed from the database."""
    yield CSV_COLUMNS
    for event in events.iterator(chunk_size=2000):
        yield [
            safe_cell(value)
            for value in (
                event.occurred_at.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S"),
                event.get_kind_display(),
                event.user.get_full_name() if event.user else "",
                event.email,
                event.by.get_full_name() if event.by else "",
                event.ip_address or "",
                event.user_agent,
                event.detail,
                event.organization.name if event.organization else "",
                event.event_id,
            )
        ]
