"""The seeded world the API fuzz runs in (tests/fuzz/conftest.py makes it): an
organisation with two clinics, its staff, patients with every record, a signed session, one
in progress and one booked; and another organisation whose rows must stay out of reach."""

import datetime
from dataclasses import dataclass

from aftercare.models import (
    AftercarePlan,
    AftercareSettings,
    AftercareTemplate,
    Alert,
    CheckIn,
    PlanExercise,
)
from clinics import access, security_log
from clinics.models import Clinic, Membership, Organization, SecurityEvent, SecurityEventKind
from patients.models import (
    ConsentSignature,
    ConsentTemplate,
    FhirExport,
    FhirExportFile,
    Patient,
    Questionnaire,
    ScreeningResponse,
)
from patients.services import fhir_export
from sessions import services as session_services
from sessions.models import (
    AdverseEvent,
    AppointmentType,
    CalendarFeed,
    ChartTemplate,
    NeedleSite,
    PressurePainThreshold,
    RangeOfMotion,
    Reminder,
    ScheduleChange,
    TreatmentSession,
    WorkingHours,
)
from sessions.services import feeds
from tests.accounts.factories import api_token_for
from tests.aftercare.factories import draft_plan
from tests.conftest import World, make_world
from tests.patients.factories import PatientFactory, tomorrow_at
from tests.sessions.factories import ready_to_needle, schedule_at, site_fields, started_session

FUZZ_CLOCK = datetime.datetime(2027, 5, 12, 16, 30, tzinfo=datetime.UTC)
"""A Wednesday, 09:30 in Kelowna, when the world is made and the fuzz runs (the clock
ticking from there): the same requests meet the same world on any day."""

RESOURCES = {
    "clinics": Clinic,
    "staff-roles": Membership,
    "security-events": SecurityEvent,
    "patients": Patient,
    "screening-questionnaires": Questionnaire,
    "screening-responses": ScreeningResponse,
    "consent-templates": ConsentTemplate,
    "consent-signatures": ConsentSignature,
    "sessions": TreatmentSession,
    "chart-templates": ChartTemplate,
    "adverse-events": AdverseEvent,
    "aftercare-templates": AftercareTemplate,
    "aftercare-settings": AftercareSettings,
    "aftercare-plans": AftercarePlan,
    "check-ins": CheckIn,
    "alerts": Alert,
    "needle-sites": NeedleSite,
    "range-of-motion": RangeOfMotion,
    "pressure-pain-thresholds": PressurePainThreshold,
    "exercises": PlanExercise,
    "appointment-types": AppointmentType,
    "availability": WorkingHours,
    "availability-changes": ScheduleChange,
    "reminders": Reminder,
    "calendar-feeds": CalendarFeed,
    "exports": FhirExport,
}
"""The rows an id in a path names, by the path segment before it (/sessions/{id}/,
/sessions/{id}/needle-sites/{row_id}/)."""

REFERENCES = {
    "organization": Organization,
    "clinic": Clinic,
    "home_clinic": Clinic,
    "patient": Patient,
    "patients": Patient,
    "merge_away": Patient,
    "session": TreatmentSession,
    "questionnaire": Questionnaire,
    "template": ConsentTemplate,
    "appointment_type": AppointmentType,
}
"""The rows a body field or filter of that name refers to (`therapist`: the staff)."""

CHART_TEMPLATE_PATH = "/api/v1/sessions/{id}/chart/template/"
"""Where `template` names a chart template rather than a consent template."""


@dataclass
class FuzzWorld:
    world: World
    booked: TreatmentSession
    """Tomorrow at Vernon, not started."""
    tokens: dict[str, str]
    """The API token of each persona the fuzz acts as."""
    ids: dict[str, list[str]]
    """The seeded rows' ids, by path segment (RESOURCES) or field name (REFERENCES)."""

    def reference_ids(self, path: str, name: str) -> list[str]:
        if name == "template" and path == CHART_TEMPLATE_PATH:
            return self.ids["chart-templates"]
        return self.ids.get(name, [])


def path_segment_before(path: str, parameter: str) -> str:
    segments = path.strip("/").split("/")
    return segments[segments.index("{" + parameter + "}") - 1]


def seed() -> FuzzWorld:
    """The rows, the ids the fuzz draws from, and a token for each persona it acts as."""
    world = make_world(mailbox="fuzz")
    world.kelowna_record()  # signed: chart rows, addendum, plan, check-ins, an alert
    world.other_record()  # the other organisation's: never to be reached
    _session_in_progress(world)
    booked = _session_booked(world)
    schedule_at(world.kelowna, admin=world.org_admin, manager=world.manager)
    world.other_schedule()
    feeds.create_calendar_feed(  # the therapist's own, to revoke
        organization=world.organization, therapist=world.therapist, by=world.therapist
    )
    world.other_export()  # never to be reached
    fhir_export.run_export(  # Kelowna's, whole: its status, files and cancel
        export_id=fhir_export.start_export(organization=world.organization, by=world.org_admin).pk
    )
    for therapist in (world.therapist, world.other_therapist):  # the security log's rows
        security_log.record(SecurityEventKind.LOGIN, user=therapist)
    ids = {name: _ids(model, world) for name, model in {**RESOURCES, **REFERENCES}.items()}
    ids["files"] = list(  # an export's files are named by their resource type
        FhirExportFile.objects.values_list("resource_type", flat=True).distinct()
    )
    ids["therapist"] = [
        str(person.pk)
        for person in (world.therapist, world.vernon_therapist, world.other_therapist)
    ]
    tokens = {role: api_token_for(getattr(world, role)) for role in ("org_admin", "therapist")}
    return FuzzWorld(world=world, booked=booked, tokens=tokens, ids=ids)


def _ids(model, world: World) -> list[str]:
    """Every row's id, those the therapist sees first: the fuzz's simplest draw (the first
    it sends) reaches a row as either persona."""
    everyone = model.objects.all()
    seen = access.visible_to(world.therapist, everyone).values_list("pk", flat=True)
    return [str(pk) for pk in [*seen, *everyone.exclude(pk__in=seen).values_list("pk", flat=True)]]


def _session_in_progress(world: World) -> TreatmentSession:
    """Started this morning and not signed: its chart, rows and plan can still change."""
    patient = PatientFactory(home_clinic=world.kelowna, first_name="Noor", last_name="Haddad")
    ready_to_needle(patient, by=world.therapist)
    session = started_session(patient=patient, therapist=world.therapist)
    draft_plan(session, therapist=world.therapist)
    by = {"session": session, "by": world.therapist}
    session_services.add_needle_site(**by, **site_fields())
    session_services.add_range_of_motion(
        **by, joint="cervical_spine", movement="rotation", side="left", degrees=60
    )
    session_services.add_pressure_pain_threshold(
        **by, site="Upper trapezius", side="right", kg_per_cm2="2.5"
    )
    session_services.add_adverse_event(
        **by, kind="bruising", severity="mild", action_taken="Pressure for a minute"
    )
    return session


def _session_booked(world: World) -> TreatmentSession:
    """Booked for tomorrow at Vernon: to start, cancel or mark a no-show."""
    patient = PatientFactory(home_clinic=world.vernon, first_name="Eli", last_name="Brandt")
    ready_to_needle(patient, by=world.vernon_therapist)
    return session_services.book_session(
        clinic=world.vernon,
        therapist=world.vernon_therapist,
        patient=patient,
        starts_at=tomorrow_at(10, clinic=world.vernon),
        by=world.vernon_therapist,
    )
