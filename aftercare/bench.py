"""`manage.py seed_bench`: the aftercare of every signed session (clinics.bench says how).

Made in the database from the sessions already seeded, a statement each, as
signing makes them: an issued plan with the organisation's advice and the
muscles needled; a check-in at each of the organisation's hours after the
needling ended, sent when it was due; the answers of most patients with a
portal login, within the triage rules' course (soreness fading by 72 h, not
worse from 48 h), a few of them raising an alert (signs of infection),
acknowledged and resolved by the therapist unless raised in the last two days.
Which answers, and what they say, is drawn from each row's id and the seed
(`hashtextextended`), so the same seed gives the same aftercare; each id is a
hash of its source row's.
"""

from aftercare import triage
from aftercare.models import (
    AftercarePlan,
    AftercareTemplate,
    Alert,
    AlertNote,
    CheckIn,
    CheckInAnswer,
)
from aftercare.services.check_ins import OPEN_FOR
from aftercare.services.plans import current_template, settings_of
from clinics.bench import Seeding
from patients.models import Patient
from sessions.models import Chart, NeedleSite, TreatmentSession

ANSWERED = 0.7
"""The share of the check-ins sent to a patient with a login that were answered."""
ALERTED = 0.01
"""The share of answers that report signs of infection, raising an alert."""
INFECTION = triage.assess(
    triage.Answers(
        *(0, 0, "better", False, False),
        infection_signs=True,
        nerve_symptoms=False,
        hours_after=24,
    )
).reasons[0]
"""The reason triage gives for signs of infection after needling."""
ACKNOWLEDGED = "Seen; calling the patient."
RESOLVED = "Called the patient: settling with ice and rest; review at the next visit."


def seed(seeding: Seeding) -> None:
    tables = {
        model.__name__: model._meta.db_table
        for model in (
            TreatmentSession,
            Chart,
            NeedleSite,
            Patient,
            AftercareTemplate,
            CheckIn,
            CheckInAnswer,
            Alert,
        )
    }
    for done, organization in enumerate(seeding.organizations, start=1):
        template = current_template(organization)
        hours = list(settings_of(organization).check_in_hours)
        given = {
            "seed": seeding.seed,
            "organization": organization.pk,
            "template": template.pk,
            "hours": hours,
            "now": seeding.now,
            "open_for": OPEN_FOR,
            "answered": round(ANSWERED * 1024),
            "alerted": round(ALERTED * 1024),
            "infection": INFECTION,
            "acknowledged": ACKNOWLEDGED,
            "resolved": RESOLVED,
            "worsening_from": triage.WORSENING_FROM_HOURS,
            "fade_by": triage.SORENESS_SHOULD_FADE_BY_HOURS,
            "still_high": triage.SORENESS_STILL_HIGH,
        }
        _plans(seeding, tables, given)
        _check_ins(seeding, tables, given)
        _answers(seeding, tables, given)
        _alerts(seeding, tables, given)
        seeding.progress("aftercare", done, len(seeding.organizations))


def _plans(seeding: Seeding, tables: dict, given: dict) -> None:
    seeding.write_select(
        AftercarePlan,
        [
            *("id", "organization_id", "clinic_id", "patient_id", "session_id", "status"),
            *("heat_or_ice", "activity_limits", "next_visit", "other_advice", "updated_at"),
            *("updated_by_id", "template_id", "template_version", "title", "advice"),
            *("needled_muscles", "issued_at", "issued_by_id"),
        ],
        f"""
        SELECT md5(concat(%(seed)s, ':plan:', s.id))::uuid, s.organization_id, s.clinic_id,
            s.patient_id, s.id, 'issued',
            (ARRAY['', 'heat', 'ice', 'both'])[1 + (hashtextextended(s.id::text, %(seed)s) & 3)],
            '', 'In one week', '', s.signed_at, s.signed_by_id, t.id, t.version, t.title, t.body,
            coalesce(needled.muscles, '{{}}'), s.signed_at, s.signed_by_id
        FROM {tables["TreatmentSession"]} s
        JOIN {tables["AftercareTemplate"]} t ON t.id = %(template)s
        LEFT JOIN (
            -- Each muscle once, in the order first charted, as signing lists them.
            SELECT session_id, array_agg(muscle ORDER BY first_at) AS muscles
            FROM (
                SELECT session_id, muscle_name || ' (' || side || ')' AS muscle,
                    min(recorded_at) AS first_at
                FROM {tables["NeedleSite"]} WHERE organization_id = %(organization)s
                GROUP BY session_id, muscle
            ) charted
            GROUP BY session_id
        ) needled ON needled.session_id = s.id
        WHERE s.organization_id = %(organization)s AND s.status = 'signed'
        """,  # noqa: S608 (the tables' names)
        given,
    )


def _check_ins(seeding: Seeding, tables: dict, given: dict) -> None:
    """At each hour after the needling ended (as charted), open for OPEN_FOR; sent when due."""
    seeding.write_select(
        CheckIn,
        [
            *("id", "organization_id", "clinic_id", "patient_id", "session_id", "hours_after"),
            *("due_at", "closes_at", "created_at", "sent_at", "send_attempts"),
            *("last_send_error", "chest_pain_reported", "short_of_breath_reported"),
        ],
        f"""
        SELECT md5(concat(%(seed)s, ':check-in:', s.id, ':', hours))::uuid, s.organization_id,
            s.clinic_id, s.patient_id, s.id, hours, due.at, due.at + %(open_for)s, s.signed_at,
            CASE WHEN due.at <= %(now)s THEN due.at END,
            CASE WHEN due.at <= %(now)s THEN 1 ELSE 0 END, '', false, false
        FROM {tables["TreatmentSession"]} s
        JOIN {tables["Chart"]} c ON c.session_id = s.id
        CROSS JOIN unnest(%(hours)s::int[]) AS hours
        CROSS JOIN LATERAL (
            SELECT coalesce(c.needling_ended_at, s.signed_at) + make_interval(hours => hours) AS at
        ) due
        WHERE s.organization_id = %(organization)s AND s.status = 'signed'
        """,  # noqa: S608 (the tables' names)
        given,
    )


def _answers(seeding: Seeding, tables: dict, given: dict) -> None:
    """Most check-ins sent to a patient with a login answered, within five hours."""
    seeding.write_select(
        CheckInAnswer,
        [
            *("id", "organization_id", "check_in_id", "patient_id", "answered_at"),
            *("answered_by_id", "soreness", "pain", "bruising", "fatigue", "trend"),
            *("chest_pain", "short_of_breath", "infection_signs", "nerve_symptoms"),
            *("comments", "triage", "triage_reasons"),
        ],
        f"""
        SELECT md5(concat(%(seed)s, ':answer:', k.id))::uuid, k.organization_id, k.id,
            k.patient_id, k.due_at + make_interval(mins => (30 + (draw.bits & 255))::int),
            p.user_id,
            CASE WHEN k.hours_after >= %(fade_by)s
                THEN least((draw.bits >> 8) & 7, %(still_high)s - 1)
                ELSE (draw.bits >> 8) & 7 END::int,
            ((draw.bits >> 11) & 7)::int,
            (ARRAY['none', 'some', 'none', 'a_lot'])[1 + ((draw.bits >> 14) & 3)],
            (ARRAY['none', 'some', 'none', 'a_lot'])[1 + ((draw.bits >> 16) & 3)],
            CASE WHEN k.hours_after >= %(worsening_from)s
                THEN (ARRAY['better', 'same'])[1 + ((draw.bits >> 18) & 1)]
                ELSE (ARRAY['better', 'same', 'better', 'worse'])[1 + ((draw.bits >> 18) & 3)]
            END,
            false, false, draw.alerted, false, '',
            CASE WHEN draw.alerted THEN 'alert' ELSE 'filed' END,
            CASE WHEN draw.alerted THEN ARRAY[%(infection)s] ELSE '{{}}' END
        FROM {tables["CheckIn"]} k
        JOIN {tables["Patient"]} p ON p.id = k.patient_id
        CROSS JOIN LATERAL (
            SELECT hashtextextended(k.id::text, %(seed)s) AS bits
        ) hashed
        CROSS JOIN LATERAL (
            SELECT hashed.bits AS bits, (hashed.bits >> 40) & 1023 < %(alerted)s AS alerted
        ) draw
        WHERE k.organization_id = %(organization)s AND p.user_id IS NOT NULL
            AND k.due_at + interval '5 hours' <= %(now)s
            AND (draw.bits >> 20) & 1023 < %(answered)s
        """,  # noqa: S608 (the tables' names)
        given,
    )


def _alerts(seeding: Seeding, tables: dict, given: dict) -> None:
    """An alert for each answer that raised one, resolved by the therapist within a day
    unless raised in the last two days, with the note that resolved it."""
    seeding.write_select(
        Alert,
        [
            *("id", "organization_id", "clinic_id", "patient_id", "session_id", "therapist_id"),
            *("check_in_id", "level", "raised_at", "acknowledged_at", "acknowledged_by_id"),
            *("resolved_at", "resolved_by_id"),
        ],
        f"""
        SELECT md5(concat(%(seed)s, ':alert:', a.id))::uuid, a.organization_id, k.clinic_id,
            k.patient_id, k.session_id, s.therapist_id, k.id, 'alert', a.answered_at,
            CASE WHEN old THEN a.answered_at + interval '1 hour' END,
            CASE WHEN old THEN s.therapist_id END,
            CASE WHEN old THEN a.answered_at + interval '1 day' END,
            CASE WHEN old THEN s.therapist_id END
        FROM {tables["CheckInAnswer"]} a
        JOIN {tables["CheckIn"]} k ON k.id = a.check_in_id
        JOIN {tables["TreatmentSession"]} s ON s.id = k.session_id
        CROSS JOIN LATERAL (SELECT a.answered_at < %(now)s - interval '2 days' AS old) age
        WHERE a.organization_id = %(organization)s AND a.triage = 'alert'
        """,  # noqa: S608 (the tables' names)
        given,
    )
    seeding.write_select(
        AlertNote,
        ["id", "organization_id", "alert_id", "kind", "text", "written_at", "written_by_id"],
        f"""
        SELECT md5(concat(%(seed)s, ':', note.kind, ':', id))::uuid, organization_id, id,
            note.kind, note.text, note.written_at, note.written_by_id
        FROM {tables["Alert"]}
        CROSS JOIN LATERAL (
            VALUES ('acknowledged', %(acknowledged)s, acknowledged_at, acknowledged_by_id),
                ('resolved', %(resolved)s, resolved_at, resolved_by_id)
        ) note(kind, text, written_at, written_by_id)
        WHERE organization_id = %(organization)s AND resolved_at IS NOT NULL
        """,  # noqa: S608 (the tables' names)
        given,
    )
