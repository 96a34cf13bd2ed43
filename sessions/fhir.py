"""The sessions app's FHIR resources: each session as an Encounter; its chart as a
ClinicalImpression (SOAP notes and addenda), a Procedure (dry needling, one bodySite per
needle site), Observations (pain before and after, range of motion, pressure-pain
threshold) and AdverseEvents with their review.

SNOMED CT codes are given only where HL7's published R4 value sets hold one that fits
(docs/fhir.md names the sources); every needle site also carries Fascia's muscle code and
the muscle's name, so nothing depends on a SNOMED code being there.
"""

import uuid
from collections.abc import Iterator

from django.db.models import Prefetch

from clinics import access
from clinics.fhir import (
    HL7,
    LOINC,
    SNOMED,
    Referenced,
    Resource,
    code_system,
    coding,
    concept,
    extension,
    extension_url,
    fascia_concept,
    identifier,
    instant,
    pruned,
    quantity,
    reference,
)
from patients.contraindications import Contraindication
from patients.fhir import Section
from patients.models import Patient, RecordPart
from sessions.models import (
    Addendum,
    AdverseEvent,
    Chart,
    NeedleSite,
    PressurePainThreshold,
    RangeOfMotion,
    Status,
    TreatmentSession,
)
from sessions.models.chart import AdverseEventKind, Joint, MeasuredSide, Movement, Side

# Checked against HL7's R4 (4.0.1) value-set expansions: body-site, bodysite-laterality and
# encounter-reason. Broader concepts are marked; a muscle missing here has none that fits.
MUSCLE_STRUCTURES = {
    "splenius-capitis": ("1600003", "Splenius capitis muscle"),
    "semispinalis-capitis": ("2666009", "Structure of semispinalis capitis muscle"),
    "cervical-multifidus": ("5709001", "Multifidus muscles"),  # broader
    "thoracic-multifidus": ("5709001", "Multifidus muscles"),  # broader
    "lumbar-multifidus": ("5709001", "Multifidus muscles"),  # broader
    "supraspinatus": ("6423006", "Supraspinatus muscle"),
    "infraspinatus": ("7885001", "Rotator cuff including muscles and tendons"),  # broader
    "teres-minor": ("7885001", "Rotator cuff including muscles and tendons"),  # broader
    "subscapularis": ("7885001", "Rotator cuff including muscles and tendons"),  # broader
    "teres-major": ("1193009", "Teres major muscle"),
    "pectoralis-major-clavicular": ("2192001", "Clavicular part of pectoralis major muscle"),
    "sternalis": ("6623004", "Sternal muscle"),
    "quadratus-lumborum": ("6001004", "Quadratus lumborum muscle"),
    "gluteus-maximus": ("206007", "Gluteus maximus muscle"),
    "vastus-lateralis": ("1403006", "Vastus lateralis muscle"),
    "vastus-medialis": ("3478008", "Structure of vastus medialis muscle"),
    "gracilis": ("2577006", "Structure of gracilis muscle"),
}
JOINT_STRUCTURES = {
    Joint.WRIST: ("8205005", "Wrist"),
    Joint.ANKLE: ("344001", "Ankle"),
}
LATERALITY = {
    "left": ("419161000", "Unilateral left"),
    "right": ("419465000", "Unilateral right"),
    "both": ("51440002", "Bilateral"),
}
ADVERSE_EVENT_FINDINGS = {
    AdverseEventKind.BRUISING: ("164332005", "O/E - ecchymoses present"),
    AdverseEventKind.NAUSEA: ("162057007", "Nausea present"),
}
PAIN_SCORE = coding(
    LOINC, "72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported"
)
SURVEY = concept(coding(f"{HL7}/observation-category", "survey", "Survey"))
EXAM = concept(coding(f"{HL7}/observation-category", "exam", "Exam"))
AMBULATORY = coding(f"{HL7}/v3-ActCode", "AMB", "ambulatory")
PRIMARY_PERFORMER = concept(coding(f"{HL7}/v3-ParticipationType", "PPRF", "primary performer"))
DRY_NEEDLING = fascia_concept("procedure", "dry-needling", "Dry needling")

ENCOUNTER_STATUS = {
    Status.BOOKED: "planned",
    Status.IN_PROGRESS: "in-progress",
    Status.SIGNED: "finished",
    Status.CANCELLED: "cancelled",
    Status.NO_SHOW: "cancelled",
}


def _snomed(table: dict, key) -> dict | None:
    found = table.get(key)
    return coding(SNOMED, *found) if found else None


def encounters(reader, patients: list[Patient], referenced: Referenced) -> Iterator[Resource]:
    """Every session of the patients `reader` may see, booked, held, cancelled or missed."""
    visits = (
        access.visible_to(reader, TreatmentSession.objects.filter(patient__in=patients))
        .select_related("clinic", "therapist", "appointment_type")
        .order_by("starts_at", "pk")
    )
    # Why a session was cancelled or missed is the desk's note: the portal shows the patient
    # that it was, not the note.
    own = {patient.pk for patient in patients if patient.user_id and patient.user_id == reader.pk}
    for session in visits:
        yield encounter(session, referenced, with_notes=session.patient_id not in own)


def encounter(
    session: TreatmentSession, referenced: Referenced, *, with_notes: bool = True
) -> Resource:
    held = session.started_at is not None
    return pruned(
        {
            "resourceType": "Encounter",
            "id": str(session.pk),
            "identifier": [identifier("session", session.pk)],
            "status": ENCOUNTER_STATUS[session.status],
            "class": AMBULATORY,
            "type": [concept(text=session.appointment_type.name)]
            if session.appointment_type_id
            else [],
            "serviceType": DRY_NEEDLING if session.needling else None,
            "subject": reference("Patient", session.patient_id),
            "participant": [
                {
                    "type": [PRIMARY_PERFORMER],
                    "individual": referenced.practitioner(session.therapist),
                }
            ],
            "period": {
                "start": instant(session.started_at if held else session.starts_at),
                "end": instant(session.signed_at or session.ends_at) if held else None,
            },
            "location": [{"location": referenced.location(session.clinic)}],
            "serviceProvider": reference("Organization", session.organization_id),
            "extension": [
                extension(
                    "session-status",
                    valueCoding=coding(
                        code_system("session-status"), session.status, session.get_status_display()
                    ),
                ),
                extension("booked-at", valueDateTime=instant(session.booked_at)),
                extension(
                    "cancellation-reason",
                    valueString=session.cancellation_reason or session.no_show_reason,
                )
                if with_notes
                else None,
            ],
        }
    )


def charts(reader, patients: list[Patient], referenced: Referenced) -> Iterator[Resource]:
    """What each session's chart holds, for the roles that read charts."""
    charted = list(
        access.visible_to(reader, Chart.objects.filter(session__patient__in=patients))
        .select_related("session__therapist", "session__override", "session__signed_by")
        .prefetch_related(
            Prefetch(
                "session__needle_sites",
                queryset=access.visible_to(reader, NeedleSite.objects.all())
                .select_related("muscle", "organization_muscle", "risk_acknowledged_by")
                .order_by("recorded_at", "pk"),
            ),
            Prefetch(
                "session__range_of_motion",
                queryset=access.visible_to(reader, RangeOfMotion.objects.all()).order_by(
                    "recorded_at", "pk"
                ),
            ),
            Prefetch(
                "session__pressure_pain_thresholds",
                queryset=access.visible_to(reader, PressurePainThreshold.objects.all()).order_by(
                    "recorded_at", "pk"
                ),
            ),
            Prefetch(
                "session__adverse_events",
                queryset=access.visible_to(reader, AdverseEvent.objects.all())
                .select_related("recorded_by", "review__reviewed_by")
                .order_by("recorded_at", "pk"),
            ),
            Prefetch(
                "session__addenda",
                queryset=access.visible_to(reader, Addendum.objects.all())
                .select_related("author")
                .order_by("written_at", "pk"),
            ),
        )
        .order_by("session__starts_at", "pk")
    )
    for chart in charted:
        session = chart.session
        yield clinical_impression(chart, referenced)
        sites = list(session.needle_sites.all())
        if sites:
            yield procedure(chart, sites, referenced)
        yield from pain_scores(chart, referenced)
        for measured in session.range_of_motion.all():
            yield range_of_motion(session, measured, referenced)
        for measured in session.pressure_pain_thresholds.all():
            yield pressure_pain_threshold(session, measured, referenced)
        for event in session.adverse_events.all():
            yield adverse_event(session, event, referenced)


def _final(session: TreatmentSession) -> bool:
    return session.status == Status.SIGNED


def clinical_impression(chart: Chart, referenced: Referenced) -> Resource:
    """The SOAP notes; each addendum after signing is a note of its own, with author and time."""
    session = chart.session
    notes = [
        ("Subjective", chart.subjective_notes),
        ("Objective findings", chart.findings),
        ("Plan", chart.plan),
    ]
    return pruned(
        {
            "resourceType": "ClinicalImpression",
            "id": str(chart.pk),
            "identifier": [identifier("chart", chart.pk)],
            "status": "completed" if _final(session) else "in-progress",
            "subject": reference("Patient", session.patient_id),
            "encounter": reference("Encounter", session.pk),
            "effectiveDateTime": instant(session.started_at or session.starts_at),
            "date": instant(session.signed_at or chart.updated_at),
            "assessor": referenced.practitioner(session.signed_by or session.therapist),
            "description": chart.complaint,
            "summary": chart.assessment,
            "note": [
                *({"text": f"{label}: {text}"} for label, text in notes if text),
                *(
                    {
                        "authorReference": referenced.practitioner(addendum.author),
                        "time": instant(addendum.written_at),
                        "text": f"Addendum: {addendum.text}",
                    }
                    for addendum in session.addenda.all()
                ),
            ],
        }
    )


def procedure(chart: Chart, sites: list[NeedleSite], referenced: Referenced) -> Resource:
    session = chart.session
    override = getattr(session, "override", None)
    return pruned(
        {
            "resourceType": "Procedure",
            "id": str(uuid.uuid5(session.pk, "dry-needling")),
            "identifier": [identifier("session", session.pk)],
            "status": "completed" if _final(session) or chart.needling_ended_at else "in-progress",
            "code": DRY_NEEDLING,
            "subject": reference("Patient", session.patient_id),
            "encounter": reference("Encounter", session.pk),
            "performedPeriod": {
                "start": instant(session.started_at),
                "end": instant(chart.needling_ended_at),
            },
            "performer": [{"actor": referenced.practitioner(session.therapist)}],
            "location": referenced.location(session.clinic) if session.clinic_id else None,
            "bodySite": [needle_site(site, referenced) for site in sites],
            "note": [
                {
                    "text": "Relative contraindications overridden: "
                    + ", ".join(Contraindication(flag).label for flag in override.contraindications)
                    + f". Reason: {override.reason}"
                }
                if override
                else None
            ],
            "extension": [
                extension("needles-inserted", valueInteger=chart.needles_inserted),
                extension("needles-removed", valueInteger=chart.needles_removed),
            ],
        }
    )


def needle_site(site: NeedleSite, referenced: Referenced) -> dict:
    """One needle site: the muscle (SNOMED CT where one fits, and Fascia's code), the side,
    and how it was needled as the parts of one extension."""
    muscle = site.muscle or site.organization_muscle
    code = muscle.code if muscle else None
    side = Side(site.side)
    return pruned(
        {
            "coding": [
                _snomed(MUSCLE_STRUCTURES, code),
                coding(code_system("muscle"), code, site.muscle_name) if code else None,
            ],
            "text": f"{site.muscle_name} ({side.label.lower()})",
            "extension": [
                {
                    "url": extension_url("needle-site"),
                    "extension": [
                        {
                            "url": "laterality",
                            "valueCodeableConcept": concept(
                                _snomed(LATERALITY, site.side), text=side.label
                            ),
                        },
                        {"url": "needles", "valueInteger": site.needles},
                        {"url": "depth", "valueQuantity": quantity(site.depth_mm, "mm", "mm")},
                        {
                            "url": "needle-length",
                            "valueQuantity": quantity(site.needle_length_mm, "mm", "mm"),
                        },
                        {
                            "url": "needle-gauge",
                            "valueQuantity": quantity(site.needle_gauge_mm, "mm", "mm"),
                        },
                        {
                            "url": "technique",
                            "valueCoding": coding(
                                code_system("needling-technique"),
                                site.technique,
                                site.get_technique_display(),
                            )
                            if site.technique
                            else None,
                        },
                        {
                            "url": "twitch-response",
                            "valueCoding": coding(
                                code_system("twitch-response"),
                                site.twitch_response,
                                site.get_twitch_response_display(),
                            )
                            if site.twitch_response
                            else None,
                        },
                        {
                            "url": "retention",
                            "valueQuantity": quantity(site.retention_minutes, "min", "min"),
                        },
                        {"url": "lot-number", "valueString": site.lot_number},
                        {
                            "url": "pneumothorax-risk-acknowledged",
                            "valueDateTime": instant(site.risk_acknowledged_at),
                        }
                        if site.pneumothorax_risk
                        else None,
                    ],
                }
            ],
        }
    )


def _observation(session, *, id, category, code, value: dict, at, referenced, **more) -> Resource:
    return pruned(
        {
            "resourceType": "Observation",
            "id": str(id),
            "status": "final" if _final(session) else "preliminary",
            "category": [category],
            "code": code,
            "subject": reference("Patient", session.patient_id),
            "encounter": reference("Encounter", session.pk),
            "effectiveDateTime": instant(at),
            "performer": [referenced.practitioner(session.therapist)],
            **value,
            **more,
        }
    )


def pain_scores(chart: Chart, referenced: Referenced) -> Iterator[Resource]:
    """Pain 0 to 10 as the patient reported it before and after needling (LOINC 72514-3)."""
    session = chart.session
    for key, label, score, at in (
        ("pain-before", "Pain before treatment", chart.pain_before, session.started_at),
        (
            "pain-after",
            "Pain after treatment",
            chart.pain_after,
            chart.needling_ended_at or session.signed_at or chart.updated_at,
        ),
    ):
        if score is None:
            continue
        yield _observation(
            session,
            id=uuid.uuid5(chart.pk, key),
            category=SURVEY,
            code=concept(
                PAIN_SCORE, coding(code_system("observation"), key, label), text=f"{label} (0-10)"
            ),
            value={"valueInteger": score},
            at=at or session.starts_at,
            referenced=referenced,
        )


def range_of_motion(session, measured: RangeOfMotion, referenced: Referenced) -> Resource:
    joint, movement = Joint(measured.joint), Movement(measured.movement)
    side = MeasuredSide(measured.side)
    sided = measured.side != MeasuredSide.NONE
    named = f"{joint.label} {movement.label.lower()}" + (
        f" ({side.label.lower()})" if sided else ""
    )
    return _observation(
        session,
        id=measured.pk,
        category=EXAM,
        code=concept(
            coding(
                code_system("range-of-motion"),
                f"{joint.value}.{movement.value}",
                f"{joint.label} {movement.label.lower()}",
            ),
            text=f"Range of motion: {named}",
        ),
        value={"valueQuantity": quantity(measured.degrees, "degrees", "deg")},
        at=measured.recorded_at,
        referenced=referenced,
        bodySite=concept(
            _snomed(JOINT_STRUCTURES, measured.joint),
            coding(code_system("joint"), joint.value, joint.label),
            text=named,
        ),
    )


def pressure_pain_threshold(
    session, measured: PressurePainThreshold, referenced: Referenced
) -> Resource:
    side = MeasuredSide(measured.side)
    where = measured.site + (
        f" ({side.label.lower()})" if measured.side != MeasuredSide.NONE else ""
    )
    return _observation(
        session,
        id=measured.pk,
        category=EXAM,
        code=concept(
            coding(
                code_system("observation"), "pressure-pain-threshold", "Pressure-pain threshold"
            ),
            text=f"Pressure-pain threshold: {where}",
        ),
        value={"valueQuantity": quantity(measured.kg_per_cm2, "kg/cm²", "kg/cm2")},
        at=measured.recorded_at,
        referenced=referenced,
        bodySite=concept(
            _snomed(LATERALITY, measured.side) if measured.side != MeasuredSide.NONE else None,
            text=where,
        ),
    )


def adverse_event(session, event: AdverseEvent, referenced: Referenced) -> Resource:
    """An adverse event in the session: what happened, how severe, what was done, its review."""
    kind = AdverseEventKind(event.kind)
    review = getattr(event, "review", None)
    return pruned(
        {
            "resourceType": "AdverseEvent",
            "id": str(event.pk),
            "identifier": identifier("adverse-event", event.pk),
            "actuality": "actual",
            "event": concept(
                _snomed(ADVERSE_EVENT_FINDINGS, event.kind),
                coding(code_system("adverse-event"), kind.value, kind.label),
                text=kind.label,
            ),
            "subject": reference("Patient", session.patient_id),
            "encounter": reference("Encounter", session.pk),
            "date": instant(event.recorded_at),
            "recordedDate": instant(event.recorded_at),
            "recorder": referenced.practitioner(event.recorded_by),
            "severity": concept(
                coding(
                    f"{HL7}/adverse-event-severity", event.severity, event.get_severity_display()
                )
            ),
            "extension": [
                extension("action-taken", valueString=event.action_taken),
                extension("adverse-event-notes", valueString=event.notes),
                extension("needs-review", valueBoolean=event.needs_review),
                {
                    "url": extension_url("adverse-event-review"),
                    "extension": [
                        {"url": "reviewed-at", "valueDateTime": instant(review.reviewed_at)},
                        {
                            "url": "reviewer",
                            "valueReference": referenced.practitioner(review.reviewed_by),
                        },
                        {"url": "note", "valueString": review.note},
                    ],
                }
                if review
                else None,
            ],
        }
    )


SECTIONS = (
    Section(
        key="sessions", parts=(RecordPart.DETAILS,), types=("Encounter",), resources=encounters
    ),
    Section(
        key="chart",
        parts=(RecordPart.CHART,),
        types=(
            "ClinicalImpression",
            "Procedure",
            "Observation",
            "AdverseEvent",
        ),
        resources=charts,
    ),
)
