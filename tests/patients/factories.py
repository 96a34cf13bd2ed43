import datetime
import zoneinfo
from dataclasses import dataclass

import factory
import time_machine
from django.utils import timezone

from patients import services
from patients.models import (
    ClinicalPolicy,
    ConsentSignature,
    ConsentWithdrawal,
    Intake,
    Patient,
    PatientInvitation,
    ReadVia,
    RecordPart,
    RecordRead,
    ScreeningResponse,
)
from sessions.models import ContraindicationOverride, TreatmentSession
from sessions.services import book_session, start_session
from tests.accounts.factories import UserFactory
from tests.aftercare.factories import AftercareRecord, aftercare_record, draft_plan
from tests.clinics.factories import ClinicFactory
from tests.sessions.factories import ChartRecord, chart_and_sign, this_minute


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    home_clinic = factory.SubFactory(ClinicFactory)
    organization = factory.LazyAttribute(lambda patient: patient.home_clinic.organization)
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    date_of_birth = datetime.date(1985, 6, 15)
    email = factory.Sequence(lambda n: f"patient{n}@example.test")
    phone = "+1 250 555 0199"


def with_portal_login(patient: Patient) -> Patient:
    """`patient` with a portal login at their e-mail address, as accepting an invitation does."""
    patient.user = UserFactory(email=patient.email)
    patient.save(update_fields=["user"])
    return patient


def born_years_ago(years: int, *, days: int = 0, zone: str = "America/Vancouver"):
    """A date of birth that makes someone `years` old today where they are treated.

    `days` moves it later: a birthday that many days ahead. Today is the
    clinic's (ClinicFactory's default timezone unless told), as the rules count it.
    """
    today = timezone.localdate(timezone=zoneinfo.ZoneInfo(zone))
    try:
        born = today.replace(year=today.year - years)
    except ValueError:  # 29 February
        born = today.replace(year=today.year - years, day=28)
    return born + datetime.timedelta(days=days)


def _free_half_hour_tomorrow(therapist, clinic) -> datetime.datetime:
    """The first half hour from 07:00 tomorrow at which `therapist` has no session yet: each
    record of one test gets its own, whatever other tests made before it in the process."""
    slot = tomorrow_at(7, clinic=clinic)
    taken = set(
        TreatmentSession.objects.filter(
            therapist=therapist,
            starts_at__gte=slot,
            starts_at__lt=slot + datetime.timedelta(days=1),
        ).values_list("starts_at", flat=True)
    )
    while slot in taken:
        slot += datetime.timedelta(minutes=30)
    return slot


@dataclass
class PatientRecord:
    """A patient with one of everything: intake, surgery, screening, consent and its withdrawal."""

    patient: Patient
    intake: Intake
    screening: ScreeningResponse
    consent: ConsentSignature
    withdrawal: ConsentWithdrawal
    invitation: PatientInvitation
    policy: ClinicalPolicy
    read: RecordRead
    session: TreatmentSession
    override: ContraindicationOverride
    charted: ChartRecord
    aftercare: AftercareRecord

    def clinical_answers(self) -> list[str]:
        """What only clinical staff and the patient may read: to look for where it must not be."""
        return [
            self.intake.presenting_complaint,
            *self.patient.surgeries.values_list("description", flat=True),
            str(self.intake.pk),
            str(self.screening.pk),
            self.charted.chart.complaint,
            self.charted.addendum.text,
            self.charted.needle_site.lot_number,
            self.aftercare.answer.comments,
            self.aftercare.note.text,
        ]


def answers_for(questionnaire, *yes: str) -> dict:
    """Answers to every question: yes to the keys named, no to the rest."""
    return {question: question.key in yes for question in questionnaire.questions.all()}


def full_record(*, clinic, therapist, admin, **patient_fields) -> PatientRecord:
    """Everything a patient can have, made through the services as a clinic would."""
    organization = clinic.organization
    patient = PatientFactory(home_clinic=clinic, **patient_fields)
    intake = services.save_intake(
        patient=patient,
        by=therapist,
        presenting_complaint="Stiff neck after long days at the desk",
        pain_areas=["neck", "upper_back"],
        activity_level="light",
        surgeries=[("Appendectomy", datetime.date(2015, 3, 1))],
    )
    screening = services.submit_screening(
        patient=patient,
        by=therapist,
        answers=answers_for(services.current_questionnaire(organization), "needle_phobia"),
    )
    consent = services.sign_consent(
        patient=patient,
        by=therapist,
        template=services.current_consent_template(organization),
        signer_name=patient.full_name,
    )
    # A session started while consent stood (needle phobia: a reason to proceed),
    # charted and signed; then the patient withdrew. Each record's session has its own
    # half hour tomorrow (the therapist may be shared), booked, started and signed with
    # the clock there: a session is started on its own day only.
    with time_machine.travel(_free_half_hour_tomorrow(therapist, clinic)):
        session = book_session(
            clinic=clinic,
            therapist=therapist,
            patient=patient,
            starts_at=this_minute(),
            by=therapist,
        )
        session = start_session(
            session=session, by=therapist, override_reason="Lying down, few needles, talked through"
        )
        exercise = draft_plan(session, therapist=therapist)
        charted = chart_and_sign(session, therapist=therapist, admin=admin)
    withdrawal = services.withdraw_consent(signature=consent, by=therapist)
    invitation = services.invite_patient(patient=patient, by=therapist)
    # The patient took up the invitation, read the aftercare and answered a check-in.
    login = with_portal_login(patient).user
    # Consent withdrawn: the therapist sent the patient the consent form to sign again.
    services.send_forms(patient=patient, by=therapist)
    aftercare = aftercare_record(
        charted.session, exercise=exercise, therapist=therapist, admin=admin, login=login
    )
    policy = services.save_policy(organization=organization, by=admin, screening_valid_days=60)
    services.record_read(
        reader=therapist, patient=patient, part=RecordPart.DETAILS, via=ReadVia.PAGE
    )
    return PatientRecord(
        patient=patient,
        intake=intake,
        screening=screening,
        consent=consent,
        withdrawal=withdrawal,
        invitation=invitation,
        policy=policy,
        read=RecordRead.objects.get(patient=patient),
        session=charted.session,
        override=session.override,
        charted=charted,
        aftercare=aftercare,
    )


def tomorrow_at(hour: int, minute: int = 0, *, clinic) -> datetime.datetime:
    """Tomorrow at `hour`:`minute` on the clinic's clock: a time to book, not to start now.

    A session booked for it is started on that day only: move the clock there
    first (time_machine), or book for `tests.sessions.factories.this_minute()`.
    """
    return day_at(1, hour, minute, clinic=clinic)


def day_at(days: int, hour: int, minute: int = 0, *, clinic) -> datetime.datetime:
    """`days` from today (0 for today) at `hour`:`minute` on the clinic's clock."""
    day = timezone.localdate(timezone=clinic.zone) + datetime.timedelta(days=days)
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=clinic.zone)
