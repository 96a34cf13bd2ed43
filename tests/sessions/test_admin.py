"""The admin for sessions and charts: read-only records, reviews and vocabulary through services."""

import datetime
import itertools

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from patients import services as patient_services
from patients.models import ReadVia, RecordPart, RecordRead
from sessions import services
from sessions.models import (
    Addendum,
    AdverseEvent,
    AdverseEventReview,
    ChartTemplate,
    Muscle,
    NeedleSite,
    OrganizationMuscle,
    TreatmentSession,
)
from sessions.services.templates import create_chart_template
from tests.accounts.factories import UserFactory
from tests.patients.factories import PatientFactory, answers_for, tomorrow_at
from tests.sessions.factories import site_fields, this_minute


def page(name: str, *args) -> str:
    return reverse(f"admin:treatment_sessions_{name}", args=args)


def ready_patient(world, **fields):
    """A Kelowna patient screened (nothing flagged) and consented: they may be needled."""
    patient = PatientFactory(home_clinic=world.kelowna, **fields)
    organization = world.organization
    patient_services.submit_screening(
        patient=patient,
        by=world.therapist,
        answers=answers_for(patient_services.current_questionnaire(organization)),
    )
    patient_services.sign_consent(
        patient=patient,
        by=world.therapist,
        template=patient_services.current_consent_template(organization),
        signer_name=patient.full_name,
    )
    return patient


_slots = itertools.count()


def treated(world, *, adverse: str = "", lot: str = "LOT-2026-A", sign: bool = True):
    """A session of a new patient at Kelowna, charted with one needle site (and signed).

    Weeks ahead, clear of the sessions the record factories book for tomorrow, each
    in its own half hour: booked, started and charted with the clock there, as a
    session is started on its own day only.
    """
    slot = tomorrow_at(8, clinic=world.kelowna) + datetime.timedelta(
        days=20, minutes=30 * next(_slots)
    )
    with time_machine.travel(slot):
        return _treated(world, adverse=adverse, lot=lot, sign=sign)


def _treated(world, *, adverse: str, lot: str, sign: bool):
    session = services.book_session(
        clinic=world.kelowna,
        therapist=world.therapist,
        patient=ready_patient(world),
        starts_at=this_minute(),
        by=world.front_desk,
    )
    session = services.start_session(session=session, by=world.therapist)
    services.save_chart(
        session=session,
        by=world.therapist,
        expected_version=1,
        complaint="Sore calves after a marathon",
        pain_before=6,
        pain_after=3,
        needles_inserted=2,
        needles_removed=2,
    )
    services.add_needle_site(session=session, by=world.therapist, **site_fields(lot_number=lot))
    if adverse:
        services.add_adverse_event(
            session=session,
            by=world.therapist,
            kind=adverse,
            severity="moderate",
            action_taken="Sent to emergency for a chest X-ray",
        )
    if sign:
        session = services.sign_session(session=session, by=world.therapist)
    return session


def snapshot(session: TreatmentSession) -> dict:
    return {
        "session": TreatmentSession.objects.filter(pk=session.pk).values().get(),
        "chart": list(session.chart.__class__.objects.filter(session=session).values()),
        "sites": list(NeedleSite.objects.filter(session=session).values()),
    }


# --- Reading ---------------------------------------------------------------------------------


def test_an_org_admin_sees_the_sessions_and_charts_of_their_organisation_only(world, client_of):
    ours = world.kelowna_record().charted
    theirs = world.other_record().charted
    client = client_of(world.org_admin)
    assert "Treatment sessions" in client.get(reverse("admin:index")).content.decode()
    lists = {
        "treatmentsession": (ours.session, theirs.session),
        "needlesite": (ours.needle_site, theirs.needle_site),
        "adverseevent": (ours.adverse_event, theirs.adverse_event),
        "adverseeventreview": (ours.review, theirs.review),
        "addendum": (ours.addendum, theirs.addendum),
        "charttemplate": (ours.chart_template, theirs.chart_template),
        "organizationmuscle": (ours.organization_muscle, theirs.organization_muscle),
    }
    for name, (mine, other) in lists.items():
        listing = client.get(page(f"{name}_changelist"))
        assert listing.status_code == 200, name
        shown = list(listing.context["cl"].result_list)
        assert mine in shown and other not in shown, name
        assert str(other.pk) not in listing.content.decode(), name


def test_a_signed_sessions_page_shows_its_chart_with_no_save_and_a_post_changes_nothing(
    world, client_of
):
    record = world.kelowna_record()
    session = record.session
    client = client_of(world.org_admin)
    view = client.get(page("treatmentsession_change", session.pk))
    assert view.status_code == 200
    html = view.content.decode()
    assert 'name="_save"' not in html and 'name="_continue"' not in html
    assert "deletelink" not in html
    for shown in (record.charted.chart.complaint, record.charted.needle_site.lot_number):
        assert shown in html
    assert record.charted.addendum.text in html
    assert "Lying down, few needles" in html  # the override's reason
    before = snapshot(session)
    response = client.post(
        page("treatmentsession_change", session.pk),
        {"status": "booked", "starts_at_0": "2030-01-01", "starts_at_1": "10:00"},
    )
    assert response.status_code == 403
    assert snapshot(session) == before


def test_chart_rows_are_read_only_and_nothing_is_deleted(world, client_of):
    charted = world.kelowna_record().charted
    client = client_of(world.org_admin)
    rows = {
        "treatmentsession": charted.session,
        "needlesite": charted.needle_site,
        "adverseevent": charted.adverse_event,  # reviewed already: nothing left to do
        "adverseeventreview": charted.review,
        "addendum": charted.addendum,
        "organizationmuscle": charted.organization_muscle,
        "charttemplate": charted.chart_template,
    }
    for name, row in rows.items():
        view = client.get(page(f"{name}_change", row.pk))
        assert view.status_code == 200, name
        if name != "charttemplate":  # the one record an org admin edits here
            assert 'name="_save"' not in view.content.decode(), name
            assert client.post(page(f"{name}_change", row.pk), {}).status_code == 403, name
        deleted = client.post(page(f"{name}_delete", row.pk), {"post": "yes"})
        assert deleted.status_code == 403, name
        assert type(row).objects.filter(pk=row.pk).exists(), name
        assert client.get(page(f"{name}_history", row.pk)).status_code == 200, name


def test_opening_a_chart_in_the_admin_is_logged(world, client_of):
    session = world.kelowna_record().session
    client = client_of(world.manager)
    client.get(page("treatmentsession_change", session.pk))
    read = RecordRead.objects.get(reader=world.manager, part=RecordPart.CHART)
    assert (read.patient, read.item_id, read.via) == (session.patient, session.pk, ReadVia.ADMIN)
    client.get(page("needlesite_changelist"))
    assert RecordRead.objects.filter(reader=world.manager, part=RecordPart.CHART).count() == 2


def test_another_organisation_cannot_reach_our_sessions_in_the_admin(world, client_of):
    charted = world.kelowna_record().charted
    their_admin = client_of(world.other_admin)
    for name, row in {
        "treatmentsession": charted.session,
        "needlesite": charted.needle_site,
        "adverseevent": charted.adverse_event,
        "charttemplate": charted.chart_template,
        "organizationmuscle": charted.organization_muscle,
    }.items():
        assert their_admin.get(page(f"{name}_change", row.pk)).status_code == 404, name
        assert their_admin.post(page(f"{name}_change", row.pk), {}).status_code == 404, name
        assert their_admin.get(page(f"{name}_history", row.pk)).status_code == 404, name
    # A therapist (of any organisation) is not let into the admin at all.
    response = client_of(world.other_therapist).get(
        page("treatmentsession_change", charted.session.pk), follow=True
    )
    assert response.status_code == 403


def test_the_needle_site_list_finds_every_site_of_a_recalled_lot(world, client_of):
    recalled = [treated(world, lot="LOT-RECALL-7"), treated(world, lot="lot-recall-7 ")]
    treated(world, lot="LOT-FINE-1")
    found = client_of(world.org_admin).get(page("needlesite_changelist"), {"q": "LOT-RECALL-7"})
    sites = found.context["cl"].result_list
    assert sorted(site.session_id for site in sites) == sorted(s.pk for s in recalled)


# --- Reviewing a suspected pneumothorax ----------------------------------------------------------


def test_an_org_admin_reviews_a_suspected_pneumothorax_in_the_admin(world, client_of):
    event = AdverseEvent.objects.get(session=treated(world, adverse="pneumothorax"))
    client = client_of(world.org_admin)
    waiting = client.get(page("adverseevent_changelist"), {"reviewed": "no", "needs_review": "1"})
    assert list(waiting.context["cl"].result_list) == [event]
    form = client.get(page("adverseevent_change", event.pk))
    assert "note" in form.context["adminform"].form.fields
    assert 'name="_continue"' not in form.content.decode()
    response = client.post(
        page("adverseevent_change", event.pk), {"note": "X-ray clear. Technique reviewed."}
    )
    assert response.status_code == 302
    review = AdverseEventReview.objects.get(adverse_event=event)
    assert (review.reviewed_by, review.note) == (
        world.org_admin,
        "X-ray clear. Technique reviewed.",
    )
    # Reviewed once: the page is read-only now, and shows the review.
    after = client.get(page("adverseevent_change", event.pk))
    assert 'name="_save"' not in after.content.decode()
    assert "X-ray clear. Technique reviewed." in after.content.decode()
    again = client.post(page("adverseevent_change", event.pk), {"note": "Second thoughts"})
    assert again.status_code == 403
    assert AdverseEventReview.objects.filter(adverse_event=event).count() == 1


def test_a_review_needs_a_note(world, client_of):
    event = AdverseEvent.objects.get(session=treated(world, adverse="pneumothorax"))
    response = client_of(world.org_admin).post(page("adverseevent_change", event.pk), {"note": ""})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["note"]
    assert not AdverseEventReview.objects.exists()


def test_a_manager_reads_adverse_events_but_only_org_admins_review_them(world, client_of):
    event = AdverseEvent.objects.get(session=treated(world, adverse="pneumothorax"))
    client = client_of(world.manager)
    view = client.get(page("adverseevent_change", event.pk))
    assert view.status_code == 200
    assert 'name="_save"' not in view.content.decode()
    assert client.post(page("adverseevent_change", event.pk), {"note": "Fine"}).status_code == 403
    assert not AdverseEventReview.objects.exists()


def test_an_adverse_event_that_needs_no_review_offers_none(world, client_of):
    event = AdverseEvent.objects.get(session=treated(world, adverse="bruising"))
    client = client_of(world.org_admin)
    assert 'name="_save"' not in client.get(page("adverseevent_change", event.pk)).content.decode()
    assert client.post(page("adverseevent_change", event.pk), {"note": "Ok"}).status_code == 403


# --- Chart templates and the muscle vocabulary ---------------------------------------------


def template_form(world, **overrides) -> dict:
    return {
        "organization": str(world.organization.pk),
        "name": "Lateral hip",
        "complaint": "",
        "subjective_notes": "",
        "findings": "Trigger points in gluteus medius and TFL.",
        "assessment": "Greater trochanteric pain syndrome.",
        "plan": "Needling weekly; hip abductor strengthening.",
        "is_active": "on",
        **overrides,
    }


def test_an_org_admin_adds_a_chart_template_to_their_organisation(world, client_of):
    client = client_of(world.org_admin)
    add = client.get(page("charttemplate_add"))
    assert add.context["adminform"].form.initial["organization"] == world.organization
    response = client.post(page("charttemplate_add"), template_form(world))
    assert response.status_code == 302
    template = ChartTemplate.objects.get(name="Lateral hip")
    assert template.organization == world.organization
    retire = {name: value for name, value in template_form(world).items() if name != "organization"}
    del retire["is_active"]
    assert client.post(page("charttemplate_change", template.pk), retire).status_code == 302
    template.refresh_from_db()
    assert not template.is_active
    assert (
        client.post(page("charttemplate_delete", template.pk), {"post": "yes"}).status_code == 403
    )


def test_a_chart_template_is_never_added_to_another_organisation(world, client_of):
    client = client_of(world.org_admin)
    response = client.post(
        page("charttemplate_add"),
        template_form(world, organization=str(world.other_organization.pk)),
    )
    assert response.status_code == 200
    assert "Select a valid choice" in str(response.context["adminform"].form.errors)
    assert not ChartTemplate.objects.exists()


def test_a_chart_template_name_is_used_once_per_organisation(world, client_of):
    client = client_of(world.org_admin)
    client.post(page("charttemplate_add"), template_form(world))
    again = client.post(page("charttemplate_add"), template_form(world, name=" Lateral  hip"))
    assert again.status_code == 200
    assert again.context["adminform"].form.errors["name"] == [
        "name: the organisation already has a template named Lateral hip."
    ]
    assert ChartTemplate.objects.count() == 1


def test_managers_read_chart_templates_but_do_not_write_them(world, client_of):
    client = client_of(world.manager)
    assert client.get(page("charttemplate_changelist")).status_code == 200
    assert client.get(page("charttemplate_add")).status_code == 403


def muscle_form(world, name: str) -> dict:
    return {
        "organization": str(world.organization.pk),
        "name": name,
        "region": "head_neck",
    }


def test_adding_a_muscle_in_the_admin_goes_through_the_service(world, client_of):
    client = client_of(world.org_admin)
    response = client.post(page("organizationmuscle_add"), muscle_form(world, "Rectus capitis"))
    assert response.status_code == 302
    muscle = OrganizationMuscle.objects.get()
    assert (muscle.code, muscle.added_by, muscle.organization) == (
        "rectus-capitis",
        world.org_admin,
        world.organization,
    )
    for taken in ("Rectus  capitis", "Upper trapezius"):  # ours, and one of the defaults
        refused = client.post(page("organizationmuscle_add"), muscle_form(world, taken))
        assert refused.status_code == 200, taken
        [message] = refused.context["adminform"].form.errors["name"]
        assert "is already in the vocabulary" in message, taken
    assert OrganizationMuscle.objects.count() == 1
    view = client.get(page("organizationmuscle_change", muscle.pk))
    assert 'name="_save"' not in view.content.decode()


def test_a_muscle_once_added_is_shown_fixed_to_the_platform_operator_too(world, client_of):
    client_of(world.org_admin).post(page("organizationmuscle_add"), muscle_form(world, "Psoas"))
    muscle = OrganizationMuscle.objects.get()
    operator = client_of(UserFactory(is_superuser=True, is_staff=True))
    view = operator.get(page("organizationmuscle_change", muscle.pk))
    assert view.status_code == 200
    assert 'name="_save"' not in view.content.decode()
    refused = operator.post(page("organizationmuscle_change", muscle.pk), muscle_form(world, "X"))
    assert refused.status_code == 403
    assert OrganizationMuscle.objects.get().name == "Psoas"


def test_only_org_admins_add_muscles(world, client_of):
    client = client_of(world.manager)
    assert client.get(page("organizationmuscle_changelist")).status_code == 200
    response = client.post(page("organizationmuscle_add"), muscle_form(world, "Rectus capitis"))
    assert response.status_code == 403
    assert not OrganizationMuscle.objects.exists()


def test_the_default_muscles_are_a_read_only_list_for_staff_in_the_admin(world, client_of):
    trapezius = Muscle.objects.get(code="upper-trapezius")
    for person in (world.org_admin, world.manager):
        client = client_of(person)
        listing = client.get(page("muscle_changelist"), {"q": "trapezius"})
        assert trapezius in listing.context["cl"].result_list
        view = client.get(page("muscle_change", trapezius.pk))
        assert view.status_code == 200
        assert 'name="_save"' not in view.content.decode()
        assert client.post(page("muscle_change", trapezius.pk), {"name": "X"}).status_code == 403
        assert client.get(page("muscle_add")).status_code == 403
        assert client.post(page("muscle_delete", trapezius.pk), {"post": "yes"}).status_code == 403
    assert Muscle.objects.get(code="upper-trapezius").name == "Upper trapezius"


# --- Query budgets -------------------------------------------------------------------------


def more_rows(world) -> None:
    """One more of everything the lists show: a session with a chart, a review, an addendum."""
    session = treated(world, adverse="pneumothorax")
    event = AdverseEvent.objects.get(session=session)
    services.review_adverse_event(event=event, by=world.org_admin, note="Reviewed.")
    services.add_addendum(session=session, by=world.therapist, text="Phoned: all well.")
    n = ChartTemplate.objects.count()
    create_chart_template(organization=world.organization, by=world.org_admin, name=f"T{n}")
    services.add_muscle(
        organization=world.organization,
        by=world.org_admin,
        name=f"Muscle number {n}",
        region="thigh",
        pneumothorax_risk=False,
    )


LISTS = [
    "treatmentsession",
    "needlesite",
    "adverseevent",
    "adverseeventreview",
    "addendum",
    "charttemplate",
    "organizationmuscle",
]


@pytest.mark.parametrize("name", LISTS)
def test_a_list_costs_the_same_queries_for_one_row_or_several(
    world, client_of, django_assert_max_num_queries, name
):
    client = client_of(world.org_admin)
    more_rows(world)
    with CaptureQueriesContext(connection) as one_row:
        first = client.get(page(f"{name}_changelist"))
    assert first.context["cl"].result_count == 1
    for _ in range(3):
        more_rows(world)
    with django_assert_max_num_queries(len(one_row)):
        several = client.get(page(f"{name}_changelist"))
    assert several.context["cl"].result_count == 4
    assert Addendum.objects.count() == 4
