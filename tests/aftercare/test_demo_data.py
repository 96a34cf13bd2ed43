"""The demo aftercare: Emma's plan to read and check-in to answer, answers filed, and alerts."""

import datetime

import time_machine
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from aftercare import selectors, services
from aftercare.demo import PORTAL_LOGINS
from aftercare.models import (
    AftercarePlan,
    Alert,
    AlertLevel,
    AlertNote,
    CheckIn,
    CheckInAnswer,
    NoteKind,
    PlanExercise,
    PlanRead,
    Triage,
)
from clinics.demo import DEMO_PASSWORD
from clinics.models import Clinic
from patients.demo import PORTAL_EMAIL
from patients.models import Patient
from sessions.models import Status, TreatmentSession

ROWS = (
    AftercarePlan,
    PlanExercise,
    PlanRead,
    CheckIn,
    CheckInAnswer,
    Alert,
    AlertNote,
    TreatmentSession,
    Patient,
    User,
)



def person(email: str) -> User:
    return User.objects.get(email=email)


def clinic(name: str) -> Clinic:
    return Clinic.objects.get(name=name)


def emma() -> Patient:
    return Patient.objects.get(user__email=PORTAL_EMAIL)


def test_emma_has_a_new_plan_with_her_therapists_additions_and_exercises(demo, client_of):
    login = person(PORTAL_EMAIL)
    plans = list(selectors.plans_of(login, emma()))
    current = plans[0]
    assert current.is_issued and len(plans) == 4  # three from the demo week, and this one
    session = current.session
    assert session.status == Status.SIGNED
    assert session.therapist == session.signed_by == person("therapist@demo.fascia.test")
    assert session.ends_at < timezone.now()
    assert (current.heat_or_ice, current.next_visit) == ("heat", "Tomorrow, as booked.")
    assert "overhead" in current.activity_limits
    assert current.needled_muscles and "Drink plenty of water" in current.advice
    exercises = list(current.exercises.all())
    assert [exercise.name for exercise in exercises] == ["Chin tucks", "Upper trapezius stretch"]
    for exercise in exercises:
        assert exercise.sets and exercise.reps and exercise.hold_seconds and exercise.frequency
    # Not read yet: the portal offers the button.
    assert not PlanRead.objects.filter(plan=current).exists()
    page = client_of(login).get(reverse("aftercare_portal:plan", args=[current.pk]))
    assert page.status_code == 200
    assert "I have read this" in page.content.decode()


def test_emma_has_her_24_hour_check_in_to_answer_now(demo, client_of):
    login = person(PORTAL_EMAIL)
    [check_in] = selectors.open_check_ins(login, emma())
    newest = selectors.plans_of(login, emma()).first().session
    assert (check_in.session, check_in.hours_after) == (newest, 24)
    assert check_in.closes_at - timezone.now() > datetime.timedelta(days=2)
    page = client_of(login).get(reverse("aftercare_portal:check_in", args=[check_in.pk]))
    assert page.status_code == 200
    assert "chest pain" in page.content.decode().lower()
    answer = services.answer_check_in(
        check_in=check_in,
        by=login,
        soreness=3,
        pain=1,
        bruising="none",
        fatigue="none",
        trend="better",
        chest_pain=False,
        short_of_breath=False,
        infection_signs=False,
        nerve_symptoms=False,
    )
    assert answer.triage == Triage.FILED


def test_an_urgent_alert_at_kelowna_waits_for_the_therapist_then_escalates(demo, mailoutbox):
    priya = person("therapist@demo.fascia.test")
    kelowna = clinic("Kelowna")
    alerts = list(selectors.alerts_at(priya, kelowna))
    urgent = alerts[0]
    assert (urgent.level, urgent.patient.full_name) == (AlertLevel.URGENT, "Walter Brooks")
    assert urgent.therapist == priya
    assert urgent.acknowledged_at is None and urgent.resolved_at is None
    assert [alert for alert in alerts if alert.is_open] == [urgent]
    assert selectors.open_alert_count(priya, kelowna) == {"urgent": 1, "alert": 0}
    answer = selectors.alert_view(priya, urgent).answer
    assert answer.chest_pain and "Chest pain" in answer.triage_reasons
    # Nobody acknowledges it: 30 minutes on it goes to the organisation admin, Kelowna
    # having no clinic manager.
    assert urgent.escalate_at == urgent.raised_at + datetime.timedelta(minutes=30)
    with time_machine.travel(urgent.escalate_at + datetime.timedelta(minutes=1)):
        assert services.escalate_alert(alert_id=urgent.pk) == "escalated"
    [mail] = [mail for mail in mailoutbox if "not acknowledged" in mail.subject]
    assert mail.to == ["admin@demo.fascia.test"]


def test_an_alert_was_acknowledged_and_resolved_with_the_therapists_notes(demo):
    daniel = person("therapist2@demo.fascia.test")
    [resolved] = selectors.alerts_at(daniel, clinic("Toronto"))
    assert (resolved.level, resolved.patient.full_name) == (AlertLevel.ALERT, "Amara Osei")
    assert resolved.resolved_by == resolved.acknowledged_by == daniel
    view = selectors.alert_view(daniel, resolved)
    assert view.answer.infection_signs and view.answer.check_in.hours_after == 48
    assert [note.kind for note in view.notes] == [NoteKind.ACKNOWLEDGED, NoteKind.RESOLVED]
    assert all(note.text and note.written_by == daniel for note in view.notes)


def test_most_answers_are_filed_and_a_patient_read_a_plan(demo):
    triage = sorted(CheckInAnswer.objects.values_list("triage", flat=True))
    assert triage == [Triage.ALERT, *[Triage.FILED] * 5, Triage.URGENT]
    for answer in CheckInAnswer.objects.select_related("patient", "check_in"):
        assert answer.answered_by == answer.patient.user
        assert answer.check_in.due_at <= answer.answered_at < answer.check_in.closes_at
    [read] = PlanRead.objects.select_related("plan__patient")
    assert read.read_by == read.plan.patient.user == person(PORTAL_EMAIL)


def test_the_patients_who_answer_have_portal_logins(demo):
    for name, (home, email) in PORTAL_LOGINS.items():
        user = person(email)
        assert user.check_password(DEMO_PASSWORD)
        patient = Patient.objects.get(user=user)
        assert (patient.full_name, patient.home_clinic.name) == (name, home)


def test_loading_the_demo_twice_adds_no_aftercare_row_or_history(demo):
    def counts():
        rows = {model: model.objects.count() for model in ROWS}
        for model in (AftercarePlan, CheckIn, Alert):
            rows[f"{model.__name__} history"] = model.pgh_event_model.objects.count()
        return rows

    first = counts()
    call_command("demo_data")
    assert counts() == first
    assert first[Alert] == 2 and first[CheckInAnswer] == 7
