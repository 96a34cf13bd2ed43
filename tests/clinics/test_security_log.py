"""The security log: every login, refused code, password change and role change is kept,
with who, from where and when, and each organisation's admins read their own people's."""

import csv
import io

import pytest
from django.db import ProgrammingError, transaction
from django.test import Client
from django.urls import reverse

from accounts.models import ApiToken
from clinics import security_log
from clinics import views as security_log_views
from clinics.models import Role, SecurityEvent
from clinics.models import SecurityEventKind as Kind
from tests.accounts.factories import PASSWORD, UserFactory, api_token_for
from tests.accounts.totp import code_for
from tests.clinics.factories import MembershipFactory

LOG_PAGE = reverse("clinics:security_log")
API = reverse("security-event-list")
BROWSER = "Mozilla/5.0 (Fascia test)"


def browser(address: str = "203.0.113.7") -> Client:
    return Client(REMOTE_ADDR=address, HTTP_USER_AGENT=BROWSER)


def log_in(client: Client, email: str, password: str = PASSWORD):
    return client.post(reverse("account_login"), {"login": email, "password": password})


def events(kind: Kind, **match) -> list[SecurityEvent]:
    return list(SecurityEvent.objects.filter(kind=kind, **match).order_by("occurred_at"))


def test_a_login_is_recorded_with_the_address_and_browser_for_the_persons_organisation(world):
    log_in(browser(), world.therapist.email)
    [event] = events(Kind.LOGIN, user=world.therapist)
    assert event.organization == world.organization
    assert (event.ip_address, event.user_agent) == ("203.0.113.7", BROWSER)
    assert event.email == world.therapist.email


def test_a_failed_login_names_the_account_and_an_unknown_address_stays_with_the_operator(world):
    log_in(browser(), world.front_desk.email.upper(), "not-the-password")
    [known] = events(Kind.LOGIN_FAILED, user=world.front_desk)
    assert known.organization == world.organization

    log_in(browser("198.51.100.4"), "nobody@nowhere.test", "guess-one")
    [unknown] = events(Kind.LOGIN_FAILED, email="nobody@nowhere.test")
    assert unknown.user is None
    assert unknown.organization is None
    assert unknown.ip_address == "198.51.100.4"


def test_a_patients_login_is_their_clinics_organisations(world, patient, patient_user):
    log_in(browser(), patient_user.email)
    [event] = events(Kind.LOGIN, user=patient_user)
    assert event.organization == world.organization


def test_someone_in_two_organisations_is_seen_by_both_admins_and_each_only_once(world, client_of):
    MembershipFactory(
        user=world.therapist,
        organization=world.other_organization,
        clinic=world.halifax,
        role=Role.FRONT_DESK,
    )
    log_in(browser(), world.therapist.email)
    rows = events(Kind.LOGIN, user=world.therapist)
    assert {row.organization for row in rows} == {world.organization, world.other_organization}
    assert len({row.event_id for row in rows}) == 1
    for admin, organization in (
        (world.org_admin, world.organization),
        (world.other_admin, world.other_organization),
    ):
        listed = client_of(admin).get(API, {"kind": Kind.LOGIN, "person": "priya"}).json()
        assert [row["organization"] for row in listed["results"]] == [str(organization.pk)]


def test_logout_and_password_change_are_recorded(world):
    client = browser()
    log_in(client, world.manager.email)
    new_password = "a-new-and-long-password-9"
    changed = client.post(
        reverse("account_change_password"),
        {"oldpassword": PASSWORD, "password1": new_password, "password2": new_password},
    )
    assert changed.status_code == 302
    client.post(reverse("account_logout"))
    assert events(Kind.PASSWORD_CHANGED, user=world.manager)
    assert events(Kind.LOGOUT, user=world.manager)


def test_a_refused_two_factor_code_and_a_new_authenticator_are_recorded(
    world, settings, django_capture_on_commit_callbacks
):
    settings.FASCIA_REQUIRE_STAFF_MFA = True
    client = browser()
    log_in(client, world.therapist.email)
    client.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    secret = client.get(reverse("mfa_activate_totp")).context["form"].secret
    # allauth tells of a new authenticator once it is committed.
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("mfa_activate_totp"), {"code": code_for(secret)})
    assert events(Kind.MFA_ADDED, user=world.therapist)

    client.post(reverse("account_logout"))
    log_in(client, world.therapist.email)
    refused = client.post(reverse("mfa_authenticate"), {"code": "000000"})
    assert "Incorrect code." in refused.content.decode()
    [failed] = events(Kind.MFA_FAILED, user=world.therapist)
    assert failed.detail == "TOTP Authenticator"


def test_a_login_refused_for_too_many_failures_is_recorded(world):
    client = browser("198.51.100.9")
    for _ in range(6):
        log_in(client, world.front_desk.email, "not-the-password")
    [locked] = events(Kind.LOCKED_OUT, user=world.front_desk)
    assert (locked.ip_address, locked.detail) == ("198.51.100.9", "")


def test_too_many_wrong_two_factor_codes_are_recorded_as_a_lockout(world, settings):
    settings.FASCIA_REQUIRE_STAFF_MFA = True
    client = browser()
    log_in(client, world.therapist.email)
    client.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    secret = client.get(reverse("mfa_activate_totp")).context["form"].secret
    client.post(reverse("mfa_activate_totp"), {"code": code_for(secret)})
    client.post(reverse("account_logout"))
    log_in(client, world.therapist.email)
    for _ in range(6):
        refused = client.post(reverse("mfa_authenticate"), {"code": "000000"})
    assert "Too many failed login attempts" in refused.content.decode()
    [locked] = events(Kind.LOCKED_OUT, user=world.therapist)
    assert locked.detail == "at the two-factor code"


def test_granting_and_removing_a_role_is_recorded_in_that_organisation_only(world, client_of):
    admin = client_of(world.org_admin)
    granted = admin.post(
        reverse("staff-role-list"),
        {
            "organization": world.organization.pk,
            "clinic": world.vernon.pk,
            "role": Role.FRONT_DESK,
            "email": world.other_therapist.email,
        },
        content_type="application/json",
        REMOTE_ADDR="192.0.2.10",
    )
    assert granted.status_code == 201, granted.content
    [event] = events(Kind.ROLE_GRANTED, user=world.other_therapist)
    assert (event.organization, event.by) == (world.organization, world.org_admin)
    assert event.detail == "Front desk at Vernon"
    assert event.ip_address == "192.0.2.10"  # the request's, though a service wrote it

    admin.delete(reverse("staff-role-detail", args=[granted.json()["id"]]))
    [removed] = events(Kind.ROLE_REVOKED, user=world.other_therapist)
    assert removed.organization == world.organization


def test_a_refused_grant_records_nothing(world, client_of):
    client_of(world.therapist).post(
        reverse("staff-role-list"),
        {"organization": world.organization.pk, "role": Role.ORG_ADMIN, "email": "x@y.test"},
        content_type="application/json",
    )
    assert not events(Kind.ROLE_GRANTED)


def test_making_and_revoking_an_api_token_is_recorded_and_so_is_a_revoke_by_the_admin(
    world, client_of, django_capture_on_commit_callbacks
):
    owner = client_of(world.therapist)
    with django_capture_on_commit_callbacks(execute=True):
        owner.post(reverse("api_token"), {"action": "create", "name": "Reports", "days": 30})
    [made] = events(Kind.TOKEN_CREATED, user=world.therapist)
    assert made.detail.startswith("Reports (fascia_")
    assert made.organization == world.organization
    token = ApiToken.objects.get(user=world.therapist)
    with django_capture_on_commit_callbacks(execute=True):
        client_of(world.org_admin).post(
            reverse("clinics:revoke_api_token", args=[token.pk]), {"reason": "left the clinic"}
        )
    [revoked] = events(Kind.TOKEN_REVOKED, user=world.therapist)
    assert revoked.by == world.org_admin
    assert revoked.detail.endswith(": left the clinic")


def test_an_admins_revoke_stays_in_the_admins_organisation(
    world, client_of, django_capture_on_commit_callbacks
):
    MembershipFactory(
        user=world.therapist,
        organization=world.other_organization,
        clinic=world.halifax,
        role=Role.FRONT_DESK,
    )
    api_token_for(world.therapist, name="Reports")
    token = ApiToken.objects.get(user=world.therapist)
    with django_capture_on_commit_callbacks(execute=True):
        client_of(world.org_admin).post(
            reverse("clinics:revoke_api_token", args=[token.pk]), {"reason": "left"}
        )
    revoked = events(Kind.TOKEN_REVOKED, user=world.therapist)
    assert [event.organization for event in revoked] == [world.organization]


def test_a_password_the_operator_sets_in_the_admin_is_recorded(
    world, client_of, django_capture_on_commit_callbacks
):
    operator = client_of(UserFactory(is_superuser=True, is_staff=True))
    with django_capture_on_commit_callbacks(execute=True):
        set_it = operator.post(
            reverse("admin:auth_user_password_change", args=[world.therapist.pk]),
            {
                "password1": "a new long passphrase 42",
                "password2": "a new long passphrase 42",
                "usable_password": "true",
            },
        )
    assert set_it.status_code == 302
    [event] = events(Kind.PASSWORD_SET, user=world.therapist)
    assert event.detail == "by the platform operator, in the admin"


def test_the_log_cannot_be_changed_or_deleted(as_database_owner, world):
    # The trigger refuses even the owner; Fascia's role lacks the privilege besides
    # (tests/config/test_least_privilege.py).
    [event] = security_log.record(Kind.LOGIN, user=world.therapist)
    row = SecurityEvent.objects.filter(pk=event.pk)
    with pytest.raises(ProgrammingError, match="Cannot update"), transaction.atomic():
        row.update(detail="edited")
    with pytest.raises(ProgrammingError, match="Cannot update or delete"), transaction.atomic():
        row.delete()
    assert row.get().detail == ""


# --- Reading it -------------------------------------------------------------------------


@pytest.fixture
def some_events(world):
    security_log.record(Kind.LOGIN, user=world.therapist, detail="ours")
    security_log.record(Kind.LOGIN_FAILED, user=world.front_desk, detail="ours, failed")
    security_log.record(Kind.LOGIN, user=world.other_therapist, detail="theirs")
    security_log.record(Kind.LOGIN_FAILED, email="stranger@x.test", detail="nobody's")


def test_the_admin_page_lists_the_organisations_events_only(world, client_of, some_events):
    page = client_of(world.org_admin).get(LOG_PAGE)
    assert page.status_code == 200
    shown = [event.detail for event in page.context["page"].object_list]
    assert "ours" in shown and "ours, failed" in shown
    assert "theirs" not in shown and "nobody's" not in shown
    sites = client_of(world.org_admin).get(reverse("clinics:list"))
    assert "Security log" in sites.content.decode()


@pytest.mark.parametrize("role", ["manager", "therapist", "front_desk"])
def test_no_one_but_an_organisation_admin_reads_it(world, client_of, some_events, role):
    person = getattr(world, role)
    assert client_of(person).get(LOG_PAGE).status_code == 404
    assert client_of(person).get(API).json()["results"] == []


def test_the_page_filters_by_what_happened_person_and_day(world, client_of, some_events):
    admin = client_of(world.org_admin)
    failed = admin.get(LOG_PAGE, {"kind": Kind.LOGIN_FAILED})
    assert [e.detail for e in failed.context["page"].object_list] == ["ours, failed"]
    by_person = admin.get(LOG_PAGE, {"person": world.therapist.email.split("@")[0].upper()})
    assert [e.detail for e in by_person.context["page"].object_list] == ["ours"]
    wrong_day = admin.get(LOG_PAGE, {"since": "not a day"})
    assert list(wrong_day.context["page"].object_list) == []
    assert "Enter a valid date." in wrong_day.content.decode()


def test_the_csv_holds_the_filtered_events_with_formulas_kept_as_text(world, client_of):
    security_log.record(Kind.LOGIN, user=world.therapist, detail="=HYPERLINK(1)")
    response = client_of(world.org_admin).get(
        LOG_PAGE, {"format": "csv", "kind": Kind.LOGIN, "person": world.therapist.email}
    )
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="security-log-')
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [row["Detail"] for row in rows] == ["'=HYPERLINK(1)"]
    assert rows[0]["E-mail"] == world.therapist.email
    assert rows[0]["What happened"] == "Logged in"


def test_the_api_filters_and_another_organisations_event_is_not_found(
    world, client_of, some_events
):
    admin = client_of(world.org_admin)
    listed = admin.get(API, {"kind": [Kind.LOGIN, Kind.LOGIN_FAILED]}).json()["results"]
    # The admin's own login (the test client's) is one of them.
    assert {row["detail"] for row in listed} == {"ours", "ours, failed", ""}
    assert {row["user"]["email"] for row in listed} == {
        world.therapist.email,
        world.front_desk.email,
        world.org_admin.email,
    }
    theirs = SecurityEvent.objects.get(detail="theirs")
    assert admin.get(reverse("security-event-detail", args=[theirs.pk])).status_code == 404


def test_a_page_of_events_costs_the_same_queries_however_many(
    world, client_of, django_assert_max_num_queries
):
    admin = client_of(world.org_admin)
    for _ in range(3):
        security_log.record(Kind.LOGIN, user=world.therapist)
    with django_assert_max_num_queries(20) as few:
        admin.get(LOG_PAGE)
        admin.get(API)
    for _ in range(30):
        security_log.record(Kind.LOGIN, user=world.manager, by=world.org_admin)
    with django_assert_max_num_queries(len(few)):
        admin.get(LOG_PAGE)
        admin.get(API)


def test_the_next_page_keeps_the_filters(world, client_of):
    for _ in range(security_log_views.SECURITY_LOG_PAGE_SIZE + 1):
        security_log.record(Kind.LOGIN_FAILED, user=world.therapist)
    page = client_of(world.org_admin).get(LOG_PAGE, {"kind": Kind.LOGIN_FAILED})
    assert 'href="?kind=login_failed&amp;page=2"' in page.content.decode()
    second = client_of(world.org_admin).get(LOG_PAGE, {"kind": Kind.LOGIN_FAILED, "page": 2})
    assert [event.kind for event in second.context["page"].object_list] == [Kind.LOGIN_FAILED]
