"""The aftercare admin: advice and settings through the services, plans and answers read-only,
alerts acknowledged and resolved through the services."""

import datetime
import itertools

import pytest
import time_machine
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from aftercare import services
from aftercare.models import (
    AftercarePlan,
    AftercareSettings,
    AftercareTemplate,
    Alert,
    AlertNote,
    CheckIn,
    CheckInAnswer,
    PlanExercise,
    PlanRead,
)
from clinics import access
from clinics.models import Role
from patients.models import ReadVia, RecordPart, RecordRead
from tests.aftercare.factories import answer_when_due, first_check_in, plan_of, signed_session
from tests.clinics.factories import MembershipFactory, OrganizationFactory, staff
from tests.patients.factories import PatientFactory, tomorrow_at, with_portal_login


def page(name: str, *args) -> str:
    return reverse(f"admin:aftercare_{name}", args=args)


def said(response) -> list[str]:
    """The messages shown on the page a redirect led to (`follow=True`)."""
    assert response.redirect_chain, response.status_code
    return [str(message) for message in response.context["messages"]]


@pytest.fixture
def aftercare(world, patient):
    """Pat Morgan's signed session: the plan read, and chest pain reported at 24 hours."""
    session = signed_session(patient, therapist=world.therapist)
    plan = plan_of(session)
    services.mark_plan_read(plan=plan, by=patient.user)
    answer = answer_when_due(
        first_check_in(session), by=patient.user, chest_pain=True, comments="Tight when I breathe"
    )
    return answer


@pytest.fixture
def urgent(aftercare) -> Alert:
    return Alert.objects.get(check_in=aftercare.check_in)


# --- The advice ---------------------------------------------------------------------------------


def test_an_org_admin_publishes_a_version_and_the_same_text_again_is_the_same_version(
    world, client_of
):
    first = services.current_template(world.organization)
    client = client_of(world.org_admin)
    form = client.get(page("aftercaretemplate_add")).context["adminform"].form
    assert (form.initial["organization"], form.initial["body"]) == (world.organization, first.body)
    posted = {
        "organization": str(world.organization.pk),
        "title": first.title,
        "body": first.body + "\n\nCall the clinic if the soreness lasts past three days.",
    }
    response = client.post(page("aftercaretemplate_add"), posted, follow=True)
    assert said(response) == ["Version 2 of the aftercare advice is published."]
    current = services.current_template(world.organization)
    assert (current.version, current.published_by) == (2, world.org_admin)
    assert current.body.endswith("lasts past three days.")

    again = client.post(page("aftercaretemplate_add"), posted, follow=True)
    assert said(again) == [
        "This is the text of version 2, the current one: nothing new was published."
    ]
    assert AftercareTemplate.objects.filter(organization=world.organization).count() == 2
    assert first.body == AftercareTemplate.objects.get(pk=first.pk).body


def test_an_empty_advice_is_refused_on_its_field_and_publishes_nothing(world, client_of):
    services.current_template(world.organization)
    response = client_of(world.org_admin).post(
        page("aftercaretemplate_add"),
        {"organization": str(world.organization.pk), "title": "After needling", "body": "  "},
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["body"]
    assert services.current_template(world.organization).version == 1


def test_a_published_version_is_never_changed_or_deleted_in_the_admin(world, client_of):
    template = services.current_template(world.organization)
    client = client_of(world.org_admin)
    view = client.get(page("aftercaretemplate_change", template.pk))
    assert view.status_code == 200
    assert 'name="_save"' not in view.content.decode()
    changed = client.post(
        page("aftercaretemplate_change", template.pk), {"title": "Changed", "body": "Changed"}
    )
    assert changed.status_code == 403
    deleted = client.post(page("aftercaretemplate_delete", template.pk), {"post": "yes"})
    assert deleted.status_code == 403
    assert AftercareTemplate.objects.get(pk=template.pk).body == template.body


def test_a_clinic_manager_reads_the_advice_but_cannot_publish_it(world, client_of):
    template = services.current_template(world.organization)
    client = client_of(world.manager)
    listing = client.get(page("aftercaretemplate_changelist"))
    assert list(listing.context["cl"].result_list) == [template]
    assert client.get(page("aftercaretemplate_add")).status_code == 403
    response = client.post(
        page("aftercaretemplate_add"),
        {"organization": str(world.organization.pk), "title": "Mine", "body": "Rest."},
    )
    assert response.status_code == 403
    assert AftercareTemplate.objects.count() == 1


def test_advice_is_never_published_for_another_organisation(world, client_of):
    response = client_of(world.org_admin).post(
        page("aftercaretemplate_add"),
        {"organization": str(world.other_organization.pk), "title": "Theirs", "body": "Rest."},
    )
    assert response.status_code == 200
    assert "Select a valid choice" in str(response.context["adminform"].form.errors)
    assert not AftercareTemplate.objects.filter(organization=world.other_organization).exists()


# --- The settings ------------------------------------------------------------------------------


def test_an_org_admin_saves_the_settings_through_the_service(world, client_of):
    client = client_of(world.org_admin)
    add = client.get(page("aftercaresettings_add"))
    assert add.context["adminform"].form.initial["organization"] == world.organization
    response = client.post(
        page("aftercaresettings_add"),
        {
            "organization": str(world.organization.pk),
            "check_in_hours": "72, 24",
            "escalate_after_minutes": "15",
        },
    )
    assert response.status_code == 302
    saved = AftercareSettings.objects.get(organization=world.organization)
    assert (saved.check_in_hours, saved.escalate_after_minutes) == ([24, 72], 15)
    response = client.post(
        page("aftercaresettings_change", saved.pk),
        {"check_in_hours": "24,48,72", "escalate_after_minutes": "20"},
    )
    assert response.status_code == 302
    saved.refresh_from_db()
    assert (saved.check_in_hours, saved.escalate_after_minutes) == ([24, 48, 72], 20)


@pytest.mark.parametrize(
    ("field", "posted", "message"),
    [
        ("check_in_hours", "24,400", "check_in_hours: each check-in is 1 to 336 hours"),
        ("check_in_hours", "1,2,3,4,5,6,7", "check_in_hours: ask between one and six check-ins."),
        ("check_in_hours", "0", "check_in_hours: each check-in is 1 to 336 hours"),
        ("escalate_after_minutes", "2", "greater than or equal to 5"),
        ("escalate_after_minutes", "2000", "less than or equal to 1440"),
    ],
)
def test_a_bad_setting_is_shown_on_its_field_and_changes_nothing(
    world, client_of, field, posted, message
):
    saved = services.save_settings(
        organization=world.organization,
        by=world.org_admin,
        check_in_hours=[24, 48, 72],
        escalate_after_minutes=30,
    )
    before = AftercareSettings.objects.filter(pk=saved.pk).values().get()
    form = {"check_in_hours": "24,48", "escalate_after_minutes": "10", field: posted}
    response = client_of(world.org_admin).post(page("aftercaresettings_change", saved.pk), form)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == [field]
    assert message in errors[field][0]
    assert AftercareSettings.objects.filter(pk=saved.pk).values().get() == before


def test_a_clinic_manager_reads_the_settings_but_cannot_change_them(world, client_of):
    saved = services.save_settings(
        organization=world.organization,
        by=world.org_admin,
        check_in_hours=[24, 48, 72],
        escalate_after_minutes=30,
    )
    client = client_of(world.manager)
    view = client.get(page("aftercaresettings_change", saved.pk))
    assert view.status_code == 200
    assert 'name="_save"' not in view.content.decode()
    changed = client.post(
        page("aftercaresettings_change", saved.pk),
        {"check_in_hours": "12", "escalate_after_minutes": "5"},
    )
    assert changed.status_code == 403
    assert client.get(page("aftercaresettings_add")).status_code == 403
    saved.refresh_from_db()
    assert (saved.check_in_hours, saved.escalate_after_minutes) == ([24, 48, 72], 30)


# --- Plans, check-ins and answers: read only -----------------------------------------------------


def rows_of(answer: CheckInAnswer) -> dict:
    """Everything of the session's aftercare, as the database holds it."""
    session = answer.check_in.session
    return {
        model: list(model.objects.filter(**{lookup: session}).order_by("pk").values())
        for model, lookup in [
            (AftercarePlan, "session"),
            (PlanExercise, "plan__session"),
            (PlanRead, "plan__session"),
            (CheckIn, "session"),
            (CheckInAnswer, "check_in__session"),
        ]
    }


def test_a_plan_shows_its_exercises_and_read_receipt_and_nothing_changes_it(
    world, client_of, aftercare
):
    plan = plan_of(aftercare.check_in.session)
    client = client_of(world.org_admin)
    before = rows_of(aftercare)
    view = client.get(page("aftercareplan_change", plan.pk))
    assert view.status_code == 200
    html = view.content.decode()
    for shown in ("No overhead lifting until Friday.", "Upper trapezius stretch", plan.title):
        assert shown in html
    assert [row.read_by for row in view.context["inline_admin_formsets"][1].formset.queryset] == [
        plan.patient.user
    ]
    assert 'name="_save"' not in html and 'name="exercises-0-name"' not in html
    assert "deletelink" not in html
    changed = client.post(
        page("aftercareplan_change", plan.pk),
        {"activity_limits": "Run a marathon", "exercises-0-name": "Sprints"},
    )
    assert changed.status_code == 403
    assert client.post(page("aftercareplan_delete", plan.pk), {"post": "yes"}).status_code == 403
    assert client.get(page("aftercareplan_add")).status_code == 403
    assert rows_of(aftercare) == before


def test_a_check_in_shows_its_answers_and_nothing_adds_changes_or_deletes_them(
    world, client_of, aftercare
):
    check_in = aftercare.check_in
    client = client_of(world.manager)
    before = rows_of(aftercare)
    view = client.get(page("checkin_change", check_in.pk))
    assert view.status_code == 200
    html = view.content.decode()
    assert "Tight when I breathe" in html
    assert [row.pk for row in view.context["inline_admin_formsets"][0].formset.queryset] == [
        aftercare.pk
    ]
    assert 'name="_save"' not in html and 'name="answer-0-comments"' not in html
    changed = client.post(
        page("checkin_change", check_in.pk),
        {"hours_after": "1", "answer-0-chest_pain": "", "answer-0-comments": "All fine"},
    )
    assert changed.status_code == 403
    assert client.post(page("checkin_delete", check_in.pk), {"post": "yes"}).status_code == 403
    assert client.get(page("checkin_add")).status_code == 403
    # An answer has no admin page of its own: it is read on its check-in.
    assert not admin.site.is_registered(CheckInAnswer)
    assert rows_of(aftercare) == before


def test_opening_a_plan_or_a_check_in_in_the_admin_is_logged_and_the_lists_as_lists(
    world, client_of, aftercare
):
    plan = plan_of(aftercare.check_in.session)
    client = client_of(world.manager)
    client.get(page("aftercareplan_changelist"))
    client.get(page("checkin_changelist"))
    client.get(page("aftercareplan_change", plan.pk))
    client.get(page("checkin_change", aftercare.check_in.pk))
    reads = RecordRead.objects.filter(reader=world.manager).order_by("read_at")
    assert [(read.part, read.item_id, read.via, read.patient) for read in reads] == [
        (RecordPart.LIST, None, ReadVia.ADMIN, plan.patient),  # the lists name the patient
        (RecordPart.LIST, None, ReadVia.ADMIN, plan.patient),
        (RecordPart.AFTERCARE, plan.pk, ReadVia.ADMIN, plan.patient),
        (RecordPart.CHECK_IN, aftercare.pk, ReadVia.ADMIN, plan.patient),
    ]


def test_the_history_of_each_aftercare_row_opens_in_the_admin(world, client_of, urgent):
    client = client_of(world.org_admin)
    settings = services.save_settings(
        organization=world.organization,
        by=world.org_admin,
        check_in_hours=[24],
        escalate_after_minutes=30,
    )
    rows = {
        "aftercaretemplate": services.current_template(world.organization),
        "aftercaresettings": settings,
        "aftercareplan": plan_of(urgent.session),
        "checkin": urgent.check_in,
        "alert": urgent,
    }
    for name, row in rows.items():
        history = client.get(page(f"{name}_history", row.pk))
        assert history.status_code == 200, name
        assert history.context["action_list"][0].message == "Created.", name


# --- Alerts ---------------------------------------------------------------------------------------


def decide(client, alert: Alert, **typed):
    """Open the alert's page and send its form as a browser does, with `typed` filled in.

    The page's notes (read-only) come with their management form, as on any admin page.
    """
    view = client.get(page("alert_change", alert.pk))
    assert view.status_code == 200
    posted = {}
    for inline in view.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        posted |= {management.add_prefix(name): value for name, value in management.initial.items()}
    return client.post(page("alert_change", alert.pk), posted | typed)


def choices_offered(client, alert: Alert) -> list[str]:
    form = client.get(page("alert_change", alert.pk)).context["adminform"].form
    return [value for value, _ in form.fields["decision"].choices]


def test_a_manager_acknowledges_then_resolves_an_alert_through_the_services(
    world, client_of, urgent
):
    client = client_of(world.manager)
    assert choices_offered(client, urgent) == ["acknowledge", "resolve"]
    response = decide(client, urgent, decision="acknowledge", note="Calling now")
    assert response.status_code == 302
    urgent.refresh_from_db()
    assert urgent.acknowledged_by == world.manager and urgent.resolved_at is None
    assert list(AlertNote.objects.values_list("kind", "text", "written_by")) == [
        ("acknowledged", "Calling now", world.manager.pk)
    ]

    assert choices_offered(client, urgent) == ["resolve"]
    refused = decide(client, urgent, decision="resolve", note=" ")
    assert refused.status_code == 200
    [message] = refused.context["adminform"].form.errors["note"]
    assert message.startswith("note: say what was done")
    urgent.refresh_from_db()
    assert urgent.is_open and AlertNote.objects.count() == 1

    resolved = decide(client, urgent, decision="resolve", note="Chest X-ray clear.")
    assert resolved.status_code == 302
    urgent.refresh_from_db()
    assert urgent.resolved_by == world.manager
    assert AlertNote.objects.get(kind="resolved").text == "Chest X-ray clear."

    # Resolved: the page shows the notes and offers nothing more.
    view = client.get(page("alert_change", urgent.pk))
    assert 'name="_save"' not in view.content.decode()
    assert "Chest X-ray clear." in view.content.decode()
    again = client.post(page("alert_change", urgent.pk), {"decision": "resolve", "note": "More"})
    assert again.status_code == 403
    assert AlertNote.objects.count() == 2


def test_resolving_at_once_acknowledges_too(world, client_of, urgent):
    response = decide(
        client_of(world.org_admin), urgent, decision="resolve", note="Seen in the clinic."
    )
    assert response.status_code == 302
    urgent.refresh_from_db()
    assert urgent.acknowledged_by == urgent.resolved_by == world.org_admin
    assert list(AlertNote.objects.values_list("kind", flat=True)) == ["acknowledged", "resolved"]


def test_the_front_desk_and_therapists_are_not_let_into_the_admin(world, client_of, urgent):
    before = Alert.objects.filter(pk=urgent.pk).values().get()
    for person in (world.front_desk, world.therapist):
        client = client_of(person)
        for method in ("get", "post"):
            response = getattr(client, method)(
                page("alert_change", urgent.pk),
                {"decision": "resolve", "note": "Done"},
                follow=True,
            )
            assert response.status_code == 403, (person, method)
            assert "Tight when I breathe" not in response.content.decode()
    assert Alert.objects.filter(pk=urgent.pk).values().get() == before
    assert not AlertNote.objects.exists()


def test_an_alert_of_another_clinic_or_organisation_answers_404_and_stays_open(
    world, client_of, urgent
):
    vernon_manager = staff(Role.CLINIC_MANAGER, clinic=world.vernon, email="vic@kelowna.test")
    for person in (vernon_manager, world.other_admin):
        client = client_of(person)
        assert client.get(page("alert_change", urgent.pk)).status_code == 404
        posted = client.post(
            page("alert_change", urgent.pk), {"decision": "acknowledge", "note": ""}
        )
        assert posted.status_code == 404
        listing = client.get(page("alert_changelist"))
        assert list(listing.context["cl"].result_list) == []
    urgent.refresh_from_db()
    assert urgent.acknowledged_at is None
    assert not AlertNote.objects.exists()


def test_alerts_are_neither_added_nor_deleted_in_the_admin(world, client_of, urgent):
    superuser = staff(Role.ORG_ADMIN, organization=world.organization, is_superuser=True)
    for person in (world.org_admin, superuser):
        client = client_of(person)
        assert client.get(page("alert_add")).status_code == 403
        assert client.post(page("alert_delete", urgent.pk), {"post": "yes"}).status_code == 403
    assert Alert.objects.filter(pk=urgent.pk).exists()


# --- Query budgets --------------------------------------------------------------------------------

_rows = itertools.count()


def more_rows(world) -> None:
    """One more of what each list shows: a version of the advice, an organisation's settings,
    and a signed session whose first check-in reported chest pain."""
    n = next(_rows)
    services.publish_template(
        organization=world.organization, by=world.org_admin, title="Aftercare", body=f"Rest {n}."
    )
    group = OrganizationFactory()
    MembershipFactory(user=world.org_admin, clinic=None, organization=group, role=Role.ORG_ADMIN)
    access.forget_grants(world.org_admin)
    services.save_settings(
        organization=group, by=world.org_admin, check_in_hours=[24], escalate_after_minutes=30
    )
    patient = with_portal_login(PatientFactory(home_clinic=world.kelowna))
    session = signed_session(
        patient,
        therapist=world.therapist,
        # Weeks ahead, each in its own half hour of the therapist's day.
        starts_at=tomorrow_at(8, clinic=world.kelowna)
        + datetime.timedelta(days=20, minutes=30 * n),
    )
    answer_when_due(first_check_in(session), by=patient.user, chest_pain=True)


LISTS = ["aftercaretemplate", "aftercaresettings", "aftercareplan", "checkin", "alert"]


@pytest.mark.parametrize("name", LISTS)
def test_a_list_costs_the_same_queries_for_one_row_or_several(
    world, client_of, django_assert_max_num_queries, name
):
    client = client_of(world.org_admin)
    more_rows(world)
    with CaptureQueriesContext(connection) as one_row:
        first = client.get(page(f"{name}_changelist"))
    assert first.status_code == 200
    for _ in range(3):
        more_rows(world)
    with django_assert_max_num_queries(len(one_row)):
        several = client.get(page(f"{name}_changelist"))
    assert several.context["cl"].result_count == 4 * first.context["cl"].result_count


def test_an_alerts_times_read_on_the_clinics_clock(world, client_of, patient):
    world.kelowna.timezone = "America/Vancouver"
    world.kelowna.save(update_fields=["timezone"])
    # The clock is set for the session, so its 24 h check-in is open on 25 November.
    with time_machine.travel(datetime.datetime(2026, 11, 23, 16, 0, tzinfo=datetime.UTC)):
        session = signed_session(patient, therapist=world.therapist)
    check_in = first_check_in(session)
    raised = datetime.datetime(2026, 11, 25, 20, 23, tzinfo=datetime.UTC)  # 13:23 in Kelowna
    answer_when_due(check_in, by=patient.user, after=raised - check_in.due_at, chest_pain=True)
    alert = Alert.objects.get()
    page = client_of(world.manager).get(reverse("admin:aftercare_alert_change", args=[alert.pk]))
    html = page.content.decode()
    assert "25 Nov 2026, 1:23 p.m." in html
    assert "8:23 p.m." not in html
