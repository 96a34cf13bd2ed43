"""Who reaches which rows, generated from the router, the admin registry and clinics.access.

Between organisations: every API endpoint (with every detail action of its viewset)
and admin page, by every role, on a row of the other organisation: every read and
write is refused, and nothing changes. A model registered with clinics.access but
missing from OTHER_ORGANIZATION_ROWS fails.

Inside the organisation: the models that make up a patient's record are read off
their access rules (the clinic lookup runs through a patient), and so are the
clinical answers among them (the front desk holds no role that views them). A
Kelowna patient's record is then tried, on every endpoint, detail action, method
and admin page over those models, by a therapist at Vernon and by another
patient's portal login, and (on the clinical answers) by the Kelowna front desk:
all answer 404 (the admin: 403, none of them may enter it), lists leave the rows
out, nothing changes, no row is added and no e-mail is sent. The detail actions on
what the front desk does see (the patient, their consents) are each listed in
FRONT_DESK_ACTIONS with what the front desk gets, so a new one fails until someone
says whether it shows clinical answers.

A new endpoint, action, admin page or patient-record model is covered without
anyone remembering. The pages are in tests/patients/test_pages.py.
"""

import pytest
from django.contrib import admin
from django.core import mail
from django.core.exceptions import FieldDoesNotExist
from django.urls import reverse

from accounts.models import User
from aftercare.models import (
    AftercarePlan,
    AftercareSettings,
    AftercareTemplate,
    Alert,
    AlertNote,
    CheckIn,
    CheckInAnswer,
    EmailAttempt,
    PlanExercise,
    PlanRead,
)
from clinics import access, security_log
from clinics.models import Clinic, Membership, Organization, Role, SecurityEvent, SecurityEventKind
from config.urls import router
from patients.models import (
    ClinicalPolicy,
    ConsentSignature,
    ConsentTemplate,
    ConsentWithdrawal,
    EmergencyAccess,
    FhirExport,
    FhirExportFile,
    FormsRequest,
    Intake,
    Patient,
    PatientImport,
    PatientImportFile,
    PatientInvitation,
    PatientMerge,
    Question,
    Questionnaire,
    RecordRead,
    ScreeningAnswer,
    ScreeningResponse,
    Surgery,
)
from patients.services.emergency import grant_emergency_access
from patients.services.merge import merge_patients
from sessions.models import (
    Addendum,
    AdverseEvent,
    AdverseEventReview,
    AppointmentType,
    BookingSettings,
    CalendarFeed,
    Chart,
    ChartTemplate,
    ContraindicationOverride,
    NeedleSite,
    OrganizationMuscle,
    PressurePainThreshold,
    RangeOfMotion,
    RecallNotice,
    Reminder,
    ScheduleChange,
    TreatmentSession,
    WorkingHours,
)
from tests.clinics.factories import ClinicFactory, staff
from tests.conftest import fresh
from tests.organisation_rows import LOGS, organisation_rows
from tests.patients.factories import PatientFactory, with_portal_login

# How to find a row of the other organisation, for each model with access rules.
OTHER_ORGANIZATION_ROWS = {
    Organization: lambda world: world.other_organization,
    Clinic: lambda world: world.halifax,
    Membership: lambda world: world.other_membership(),
    SecurityEvent: lambda world: an_event_at_harbourside(world),
    Patient: lambda world: world.other_record().patient,
    ClinicalPolicy: lambda world: world.other_record().policy,
    PatientInvitation: lambda world: world.other_record().invitation,
    FormsRequest: lambda world: world.other_record().patient.forms_requests.get(),
    PatientMerge: lambda world: a_merge_at_halifax(world),
    Intake: lambda world: world.other_record().intake,
    Surgery: lambda world: world.other_record().patient.surgeries.get(),
    Questionnaire: lambda world: world.other_record().screening.questionnaire,
    Question: lambda world: world.other_record().screening.questionnaire.questions.first(),
    ScreeningResponse: lambda world: world.other_record().screening,
    ScreeningAnswer: lambda world: world.other_record().screening.answers.first(),
    ConsentTemplate: lambda world: world.other_record().consent.template,
    ConsentSignature: lambda world: world.other_record().consent,
    ConsentWithdrawal: lambda world: world.other_record().withdrawal,
    RecordRead: lambda world: world.other_record().read,
    TreatmentSession: lambda world: world.other_record().session,
    ContraindicationOverride: lambda world: world.other_record().override,
    Chart: lambda world: world.other_record().charted.chart,
    NeedleSite: lambda world: world.other_record().charted.needle_site,
    RangeOfMotion: lambda world: world.other_record().charted.range_of_motion,
    PressurePainThreshold: lambda world: world.other_record().charted.pressure_pain_threshold,
    AdverseEvent: lambda world: world.other_record().charted.adverse_event,
    AdverseEventReview: lambda world: world.other_record().charted.review,
    Addendum: lambda world: world.other_record().charted.addendum,
    RecallNotice: lambda world: world.other_record().charted.recall_notice,
    # Booked at the minute it starts: never sent, and saying so.
    Reminder: lambda world: Reminder.objects.get(session=world.other_record().session),
    ChartTemplate: lambda world: world.other_record().charted.chart_template,
    OrganizationMuscle: lambda world: world.other_record().charted.organization_muscle,
    AftercareTemplate: lambda world: world.other_record().aftercare.template,
    AftercareSettings: lambda world: world.other_record().aftercare.settings,
    AftercarePlan: lambda world: world.other_record().aftercare.plan,
    PlanExercise: lambda world: world.other_record().aftercare.exercise,
    PlanRead: lambda world: world.other_record().aftercare.read,
    CheckIn: lambda world: world.other_record().aftercare.check_in,
    EmailAttempt: lambda world: world.other_record().aftercare.email,
    CheckInAnswer: lambda world: world.other_record().aftercare.answer,
    Alert: lambda world: world.other_record().aftercare.alert,
    AlertNote: lambda world: world.other_record().aftercare.note,
    EmergencyAccess: lambda world: an_emergency_access_at_harbourside(world),
    FhirExport: lambda world: world.other_export(),
    PatientImport: lambda world: world.other_import(),
    PatientImportFile: lambda world: world.other_import_file(),
    FhirExportFile: lambda world: world.other_export().files.order_by("resource_type").first(),
    AppointmentType: lambda world: world.other_schedule().appointment_type,
    WorkingHours: lambda world: world.other_schedule().working_hours,
    ScheduleChange: lambda world: world.other_schedule().schedule_change,
    BookingSettings: lambda world: world.other_schedule().booking_settings,
    CalendarFeed: lambda world: world.other_schedule().calendar_feed,
}

WRITE_BODY = {"name": "Taken over", "role": Role.THERAPIST, "email": "x@example.test"}
# Valid for the detail actions, so that a refusal comes from the scoping, not the body.
ACTION_BODY = {
    **WRITE_BODY,
    "note": "Taken over",
    "reason": "Taken over",
    "presenting_complaint": "Taken over",
    "activity_level": "light",
}


DETAIL_METHODS = {
    "get": "retrieve",
    "put": "update",
    "patch": "partial_update",
    "delete": "destroy",
}


def api_detail_routes():
    for prefix, viewset, basename in router.registry:
        methods = [method for method, action in DETAIL_METHODS.items() if hasattr(viewset, action)]
        yield pytest.param(basename, viewset.queryset.model, methods, id=prefix)


def api_detail_actions():
    """Every `@action(detail=True)` of every router viewset, once per HTTP method it answers."""
    for prefix, viewset, basename in router.registry:
        for extra in viewset.get_extra_actions():
            if not extra.detail:
                continue
            for method in extra.mapping:
                yield pytest.param(
                    basename,
                    viewset.queryset.model,
                    extra.url_name,
                    method,
                    id=f"{prefix}-{extra.url_name}-{method}",
                )


def admin_pages():
    for model, model_admin in admin.site._registry.items():
        if model in OTHER_ORGANIZATION_ROWS:
            yield pytest.param(model, model_admin, id=model._meta.label)


@pytest.fixture
def world(module_world, db):
    """One world for the whole matrix (its records are costly); each test's writes roll back."""
    return fresh(module_world)


def snapshot(world):
    return {
        model: list(model.objects.filter(pk=row(world).pk).values())
        for model, row in OTHER_ORGANIZATION_ROWS.items()
    }


def row_counts():
    return {model: model.objects.count() for model in OTHER_ORGANIZATION_ROWS if model not in LOGS}


def test_every_model_with_access_rules_is_in_the_matrix():
    assert set(access.registered_models()) == set(OTHER_ORGANIZATION_ROWS)


def test_every_api_resource_is_a_registered_model():
    for _, viewset, _ in router.registry:
        assert viewset.queryset.model in OTHER_ORGANIZATION_ROWS


@pytest.mark.parametrize(("basename", "model", "methods"), list(api_detail_routes()))
def test_api_refuses_every_role_every_method_on_another_organisations_row(
    world, client_of, basename, model, methods
):
    row = OTHER_ORGANIZATION_ROWS[model](world)
    url = reverse(f"{basename}-detail", kwargs={"pk": row.pk})
    before = snapshot(world)
    tried = refused = 0
    for role, person in world.staff_by_role().items():
        client = client_of(person)
        for method in methods:
            tried += 1
            response = getattr(client, method)(url, WRITE_BODY, content_type="application/json")
            if response.status_code == 404:
                refused += 1
                assert response.json()["detail"], (role, method)
        listing = client.get(reverse(f"{basename}-list"), {"page_size": 200}).json()
        assert str(row.pk) not in {item["id"] for item in listing["results"]}, role
    assert tried == 4 * len(methods) > 0
    assert refused == tried
    assert snapshot(world) == before


def test_the_detail_actions_are_found():
    assert {param.values[2] for param in api_detail_actions()} >= {"intake", "withdraw"}


@pytest.mark.parametrize(("basename", "model", "url_name", "method"), list(api_detail_actions()))
def test_api_actions_refuse_everyone_on_another_organisations_row(
    world,
    client_of,
    patient,
    django_capture_on_commit_callbacks,
    basename,
    model,
    url_name,
    method,
):
    row = OTHER_ORGANIZATION_ROWS[model](world)
    url = reverse(f"{basename}-{url_name}", kwargs={"pk": row.pk})
    before = snapshot(world)
    counts = row_counts()
    mail.outbox.clear()
    # Every staff role, and a patient of the first organisation (no role, their own record).
    people = {**world.staff_by_role(), "patient": patient.user}
    for role, person in people.items():
        with django_capture_on_commit_callbacks(execute=True):
            response = getattr(client_of(person), method)(
                url, ACTION_BODY, content_type="application/json"
            )
        assert response.status_code == 404, (role, response.content)
        assert response.json()["code"] == "not_found", role
    assert snapshot(world) == before
    assert row_counts() == counts
    assert mail.outbox == []


@pytest.mark.parametrize(("model", "model_admin"), list(admin_pages()))
def test_admin_refuses_every_role_every_page_of_another_organisations_row(
    world, client_of, model, model_admin
):
    row = OTHER_ORGANIZATION_ROWS[model](world)
    info = (model._meta.app_label, model._meta.model_name)
    pages = [
        reverse("admin:{}_{}_change".format(*info), args=[row.pk]),
        reverse("admin:{}_{}_delete".format(*info), args=[row.pk]),
        reverse("admin:{}_{}_history".format(*info), args=[row.pk]),
    ]
    before = snapshot(world)
    tried = refused = 0
    for role, person in world.staff_by_role().items():
        client = client_of(person)
        for page in pages:
            for method in ("get", "post"):
                tried += 1
                response = getattr(client, method)(
                    page, {"name": "Taken over", "post": "yes"}, follow=True
                )
                # Admins and managers get 404; other roles are not let into the admin at all.
                expected = 404 if role in access.MANAGERS else 403
                if response.status_code == expected:
                    refused += 1
        changelist = client.get(reverse("admin:{}_{}_changelist".format(*info)), follow=True)
        assert str(row.pk) not in changelist.content.decode(), role
    assert tried == 4 * len(pages) * 2
    assert refused == tried
    assert snapshot(world) == before


def create_at_another_organisation(client, world):
    """The Kelowna admin's two tries: a staff role at Halifax, a clinic in Halifax's
    organisation. Returns both answers."""
    staff_role = client.post(
        reverse("staff-role-list"),
        {
            "organization": str(world.organization.pk),
            "clinic": str(world.halifax.pk),
            "role": Role.THERAPIST,
            "email": "new@kelowna.test",
        },
        content_type="application/json",
    )
    clinic = client.post(
        reverse("clinic-list"),
        {"organization": str(world.other_organization.pk), "name": "Annex"},
        content_type="application/json",
    )
    return staff_role, clinic


def test_creating_at_another_organisations_clinic_is_refused_and_creates_nothing(world, client_of):
    before = Membership.objects.count()
    staff_role, clinic = create_at_another_organisation(client_of(world.org_admin), world)
    assert staff_role.status_code == 400
    assert staff_role.json()["fields"]["clinic"] == [
        f"No clinic with id {world.halifax.pk} that you can see."
    ]
    assert clinic.status_code == 400
    assert "organization" in clinic.json()["fields"]
    assert Membership.objects.count() == before
    assert not Clinic.objects.filter(name="Annex").exists()


# --- Inside the organisation: a patient's record, from the access rules -----------------


def patient_lookup(model) -> str | None:
    """The lookup from a row of `model` to the patient whose record it is, read off its rule.

    A patient's record reaches its clinic through the patient ("home_clinic",
    "patient__home_clinic", "response__patient__home_clinic"), or through a row
    that names its patient on the way (a session's chart row: "session__clinic",
    the session has a patient; an exercise: "plan__clinic", the plan has one).
    Rows of the whole organisation (questionnaires, consent texts, the clinical
    policy, the access log, aftercare advice: no clinic lookup) and clinics and
    staff roles (a clinic, no patient) have none.
    """
    lookup = access.rule_for(model).clinic
    if lookup is None:
        return None
    path, current = [], model
    for part in lookup.split("__"):
        if current is Patient:
            return "__".join(path) or "pk"
        if _names_its_patient(current):
            return "__".join([*path, "patient"])
        path.append(part)
        current = current._meta.get_field(part).related_model
    return None


def _names_its_patient(model) -> bool:
    try:
        return model._meta.get_field("patient").related_model is Patient
    except FieldDoesNotExist:
        return False


PATIENT_RECORDS = {
    model: lookup
    for model in access.registered_models()
    if (lookup := patient_lookup(model)) is not None
}
"""Each model of a patient's record, with the lookup from its rows to the patient."""

CLINICAL_ANSWERS = frozenset(
    model
    for model in PATIENT_RECORDS
    if Role.FRONT_DESK not in access.rule_for(model).roles["view"]
)
"""The parts of a patient's record the front desk does not read."""


def rows_of(record, model):
    return model.objects.filter(**{PATIENT_RECORDS[model]: record.patient.pk}).order_by("pk")


def test_every_part_of_a_patients_record_names_its_patient_for_emergency_access():
    """Break-glass reaches a row through its rule's `patient` lookup: every model of a
    patient's record declares one, leading to the patient its clinic lookup runs through."""
    for model, lookup in PATIENT_RECORDS.items():
        assert access.rule_for(model).patient == lookup, model.__name__
    for model in set(access.registered_models()) - set(PATIENT_RECORDS):
        assert access.rule_for(model).patient is None, model.__name__


def another_patients_login(world) -> User:
    """The portal login of Kit Oduya, another patient of the Kelowna clinic."""
    kit = PatientFactory(home_clinic=world.kelowna, first_name="Kit", last_name="Oduya")
    return with_portal_login(kit).user


def kept_out_of(world, model) -> dict[str, User]:
    """The people of Kelowna Physio who must not reach `model`'s rows of a Kelowna patient."""
    people = {
        "therapist at Vernon": world.vernon_therapist,
        "another patient": another_patients_login(world),
    }
    if model in CLINICAL_ANSWERS:
        people["front desk"] = world.front_desk
    return people


def api_routes_of_patient_records():
    for prefix, viewset, basename in router.registry:
        if viewset.queryset.model in PATIENT_RECORDS:
            yield pytest.param(basename, viewset, viewset.queryset.model, id=prefix)


def api_actions_on_patient_records():
    return [param for param in api_detail_actions() if param.values[1] in PATIENT_RECORDS]


def test_a_patients_record_and_its_clinical_answers_are_read_off_the_access_rules():
    assert set(PATIENT_RECORDS) >= {
        Patient,
        PatientInvitation,
        Intake,
        Surgery,
        ScreeningResponse,
        ScreeningAnswer,
        ConsentSignature,
        ConsentWithdrawal,
    }
    organisation_wide = {Organization, Clinic, Membership, ClinicalPolicy, Questionnaire}
    organisation_wide |= {Question, ConsentTemplate, RecordRead}
    assert not set(PATIENT_RECORDS) & organisation_wide
    assert {Intake, Surgery, ScreeningResponse, ScreeningAnswer} <= CLINICAL_ANSWERS
    assert not CLINICAL_ANSWERS & {
        Patient,
        PatientInvitation,
        FormsRequest,
        ConsentSignature,
        ConsentWithdrawal,
    }


def test_the_kelowna_record_has_a_row_of_every_part_of_a_patients_record(world):
    record = world.kelowna_record()
    for model in PATIENT_RECORDS:
        assert rows_of(record, model).exists(), f"full_record() makes no {model.__name__}"


@pytest.mark.parametrize(("basename", "viewset", "model"), list(api_routes_of_patient_records()))
def test_api_keeps_every_method_of_others_off_a_kelowna_patients_record(
    world, client_of, django_capture_on_commit_callbacks, basename, viewset, model
):
    record = world.kelowna_record()
    rows = rows_of(record, model)
    url = reverse(f"{basename}-detail", kwargs={"pk": rows.first().pk})
    people = kept_out_of(world, model)
    before, counts = organisation_rows(world.organization), row_counts()
    mail.outbox.clear()
    for who, person in people.items():
        client = client_of(person)
        for method, action in DETAIL_METHODS.items():
            with django_capture_on_commit_callbacks(execute=True):
                response = getattr(client, method)(
                    url, ACTION_BODY, content_type="application/json"
                )
            if hasattr(viewset, action):
                assert response.status_code == 404, (who, method, response.content)
                assert response.json()["code"] == "not_found", (who, method)
            else:  # no such route: refused before any row is looked for
                assert response.status_code == 405, (who, method, response.content)
        listing = client.get(reverse(f"{basename}-list"), {"page_size": 200})
        assert listing.status_code == 200, who
        listed = {item["id"] for item in listing.json()["results"]}
        assert not listed & {str(pk) for pk in rows.values_list("pk", flat=True)}, who
    assert organisation_rows(world.organization) == before
    assert row_counts() == counts
    assert mail.outbox == []


@pytest.mark.parametrize(
    ("basename", "model", "url_name", "method"), api_actions_on_patient_records()
)
def test_api_actions_keep_others_off_a_kelowna_patients_record(
    world, client_of, django_capture_on_commit_callbacks, basename, model, url_name, method
):
    record = world.kelowna_record()
    url = reverse(f"{basename}-{url_name}", kwargs={"pk": rows_of(record, model).first().pk})
    people = kept_out_of(world, model)
    before, counts = organisation_rows(world.organization), row_counts()
    mail.outbox.clear()
    for who, person in people.items():
        with django_capture_on_commit_callbacks(execute=True):
            response = getattr(client_of(person), method)(
                url, ACTION_BODY, content_type="application/json"
            )
        assert response.status_code == 404, (who, response.content)
        assert response.json()["code"] == "not_found", who
    assert organisation_rows(world.organization) == before
    assert row_counts() == counts
    assert mail.outbox == []


# --- The front desk on a patient they see: no clinical answers --------------------------

THEIRS = "theirs"
"""The front desk uses this action; what it shows holds no clinical answer."""

# Every detail action on a part of a patient's record the front desk sees, with what
# the front desk gets: the refusal where the action reads or records clinical answers.
FRONT_DESK_ACTIONS = {
    ("patient", "intake", "get"): 403,
    ("patient", "intake", "put"): 403,
    ("patient", "invite", "post"): THEIRS,
    ("patient", "send-forms", "post"): THEIRS,  # names the forms, never an answer
    ("patient", "report-change", "post"): THEIRS,
    ("patient", "screening-questionnaire", "get"): THEIRS,
    ("patient", "consent-template", "get"): THEIRS,
    ("patient", "merge", "post"): 403,  # organisation admins only
    ("patient", "fhir", "get"): THEIRS,  # as FHIR, what the front desk reads: no answer
    ("consent-signature", "withdraw", "post"): 403,  # the patient or clinical staff
    # The booking is the front desk's: cancelling or marking a no-show of the
    # record's session (signed) is refused as for anyone, in tests/sessions.
    ("session", "cancel", "post"): THEIRS,
    ("session", "no-show", "post"): THEIRS,
    ("session", "reschedule", "post"): THEIRS,
    **{
        ("session", action, method): 403  # the chart and its rows are clinical
        for action, method in (
            ("start", "post"),
            ("chart", "get"),
            ("chart", "patch"),
            ("chart-template", "post"),
            ("needle-sites", "post"),
            ("range-of-motion", "post"),
            ("pressure-pain-thresholds", "post"),
            ("adverse-events", "post"),
            ("sign", "post"),
            ("addenda", "get"),
            ("addenda", "post"),
        )
    },
    # An alert the front desk sees exists; acting on it is clinical.
    ("alert", "acknowledge", "post"): 403,
    ("alert", "resolve", "post"): 403,
}


def front_desk_actions():
    """The detail actions on the parts of a patient's record that the front desk sees."""
    for param in api_actions_on_patient_records():
        basename, model, url_name, method = param.values
        if model not in CLINICAL_ANSWERS:
            yield (basename, url_name, method), param


def test_every_action_on_what_the_front_desk_sees_says_what_the_front_desk_gets():
    found = {key for key, _ in front_desk_actions()}
    assert not found - set(FRONT_DESK_ACTIONS), "add these to FRONT_DESK_ACTIONS"
    assert not set(FRONT_DESK_ACTIONS) - found, "these are gone: remove them"


@pytest.mark.parametrize(
    ("basename", "model", "url_name", "method"),
    [param for key, param in front_desk_actions() if FRONT_DESK_ACTIONS.get(key) != THEIRS],
)
def test_the_front_desk_neither_reads_nor_records_clinical_answers_through_an_action(
    world, client_of, django_capture_on_commit_callbacks, basename, model, url_name, method
):
    record = world.kelowna_record()
    url = reverse(f"{basename}-{url_name}", kwargs={"pk": rows_of(record, model).first().pk})
    before, counts = organisation_rows(world.organization), row_counts()
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = getattr(client_of(world.front_desk), method)(
            url, ACTION_BODY, content_type="application/json"
        )
    assert response.status_code == FRONT_DESK_ACTIONS[(basename, url_name, method)]
    assert response.json()["detail"]
    assert not [answer for answer in record.clinical_answers() if answer in response.text]
    assert organisation_rows(world.organization) == before
    assert row_counts() == counts
    assert mail.outbox == []


def test_what_the_front_desk_reads_of_a_kelowna_patient_holds_no_clinical_answer(world, client_of):
    record = world.kelowna_record()
    client = client_of(world.front_desk)
    urls = []
    for _, viewset, basename in router.registry:
        model = viewset.queryset.model
        if model not in PATIENT_RECORDS or model in CLINICAL_ANSWERS:
            continue
        row = rows_of(record, model).first()
        urls.append(reverse(f"{basename}-list"))
        if hasattr(viewset, "retrieve"):
            urls.append(reverse(f"{basename}-detail", kwargs={"pk": row.pk}))
        for extra in viewset.get_extra_actions():
            if extra.detail and FRONT_DESK_ACTIONS.get((basename, extra.url_name, "get")) == THEIRS:
                urls.append(reverse(f"{basename}-{extra.url_name}", kwargs={"pk": row.pk}))
    assert len(urls) >= 6
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        leaked = [answer for answer in record.clinical_answers() if answer in response.text]
        assert not leaked, (url, leaked)


# --- The admin ------------------------------------------------------------------------


def admin_pages_of_patient_records():
    for param in admin_pages():
        if param.values[0] in PATIENT_RECORDS:
            yield param


@pytest.mark.parametrize(("model", "model_admin"), list(admin_pages_of_patient_records()))
def test_admin_keeps_out_those_who_must_not_reach_a_kelowna_patients_record(
    world, client_of, model, model_admin
):
    record = world.kelowna_record()
    row = rows_of(record, model).first()
    info = (model._meta.app_label, model._meta.model_name)
    pages = [
        reverse("admin:{}_{}_changelist".format(*info)),
        reverse("admin:{}_{}_change".format(*info), args=[row.pk]),
        reverse("admin:{}_{}_delete".format(*info), args=[row.pk]),
        reverse("admin:{}_{}_history".format(*info), args=[row.pk]),
    ]
    people = {**kept_out_of(world, model), "front desk": world.front_desk}
    before, counts = organisation_rows(world.organization), row_counts()
    for who, person in people.items():
        # None of them holds a role that enters the admin (access.admin_site_permission).
        assert not access.holds_role(person, access.MANAGERS), who
        client = client_of(person)
        for page in pages:
            for method in ("get", "post"):
                response = getattr(client, method)(
                    page, {"name": "Taken over", "post": "yes"}, follow=True
                )
                assert response.status_code == 403, (who, page, method)
                assert str(row.pk) not in response.content.decode(), (who, page, method)
    assert organisation_rows(world.organization) == before
    assert row_counts() == counts


def a_merge_at_halifax(world) -> PatientMerge:
    """Two records of one Halifax patient, merged by Harbourside's admin (made once)."""
    if not hasattr(world, "_other_merge"):
        kept, merged = (
            PatientFactory(home_clinic=world.halifax),
            PatientFactory(home_clinic=world.halifax),
        )
        world._other_merge = merge_patients(
            keep=kept, merge_away=merged, by=world.other_admin, reason="Registered twice"
        )
    return world._other_merge


def an_emergency_access_at_harbourside(world) -> EmergencyAccess:
    """A therapist at Harbourside's other site, Dartmouth, opening a Halifax patient's record
    in an emergency (made once)."""
    if not hasattr(world, "_other_emergency_access"):
        dartmouth = ClinicFactory(organization=world.other_organization, name="Dartmouth")
        world._other_emergency_access = grant_emergency_access(
            patient=world.other_record().patient,
            by=staff(Role.THERAPIST, clinic=dartmouth),
            reason="Fainted in the waiting room at Dartmouth",
        )
    return world._other_emergency_access


def an_event_at_harbourside(world) -> SecurityEvent:
    """A login of Harbourside's therapist, in its security log (made once)."""
    if not hasattr(world, "_other_event"):
        [world._other_event] = security_log.record(
            SecurityEventKind.LOGIN, user=world.other_therapist
        )
    return world._other_event
