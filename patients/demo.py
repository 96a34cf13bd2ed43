"""Demo patients: one for each case the patient page and the session gate must show.

Runs after clinics.demo.load, whose organisations, clinics and staff it uses.
Everything is made through the services, by the therapist of the patient's
clinic, as a clinic would. Idempotent: a patient the demo already has is left
as they are, so a second run adds nothing.
"""

import datetime
import secrets

from django.utils import timezone

from accounts.models import User
from clinics.demo import DEMO_PASSWORD
from clinics.models import Clinic
from patients import services
from patients.models import Patient, PatientInvitation, ScreeningResponse, sha256_of

DEMO = "Fascia Demo Physiotherapy"
HARBOURSIDE = "Harbourside Needling Co."

PORTAL_EMAIL = "patient@demo.fascia.test"

CONSENT_V2_ADDITION = """

Photographs
My therapist may photograph the treated area to follow my progress. The photographs are \
kept with my record and are never shared without my written permission."""

EXPIRED_AFTER = datetime.timedelta(days=120)
"""How long ago the expired demo screening was answered (the default policy keeps one 90 days)."""


def load() -> list[tuple[str, str]]:
    """Create the demo patients; return (who, e-mail) for the patient's portal login."""
    kelowna, toronto = _clinic(DEMO, "Kelowna"), _clinic(DEMO, "Toronto")
    halifax = _clinic(HARBOURSIDE, "Halifax")
    priya = User.objects.get(email="therapist@demo.fascia.test")
    daniel = User.objects.get(email="therapist2@demo.fascia.test")
    liam = User.objects.get(email="therapist@harbourside.fascia.test")
    olivia = User.objects.get(email="admin@demo.fascia.test")

    # Consent outdated: Noah signed version 1, then the organisation published
    # version 2. He comes first, so everyone after him signs version 2.
    noah = _new_patient(
        kelowna,
        by=priya,
        first_name="Noah",
        last_name="Fischer",
        date_of_birth=datetime.date(1991, 8, 23),
        phone="+1 250 555 0164",
    )
    if noah is not None:
        _intake(
            noah, by=priya, complaint="Tight calves since starting to run again", pain=["lower_leg"]
        )
        _screening(noah, by=priya)
        _consent(noah, by=priya)
    first_consent = services.current_consent_template(kelowna.organization)
    if first_consent.version == 1:
        services.publish_consent_template(
            organization=kelowna.organization,
            by=olivia,
            title=first_consent.title,
            body=first_consent.body + CONSENT_V2_ADDITION,
        )

    # Clean: screened, consented, intake done, and a portal login.
    emma = _new_patient(
        kelowna,
        by=priya,
        first_name="Emma",
        last_name="Clarke",
        date_of_birth=datetime.date(1988, 4, 12),
        email=PORTAL_EMAIL,
        phone="+1 250 555 0131",
    )
    if emma is not None:
        _intake(emma, by=priya, complaint="Neck and shoulder pain from desk work", pain=["neck"])
        _screening(emma, by=priya)
        _consent(emma, by=priya)
        _portal_login(emma, by=priya)

    # Relative contraindication: blood thinners (the therapist records a reason to proceed).
    walter = _new_patient(
        kelowna,
        by=priya,
        first_name="Walter",
        last_name="Brooks",
        date_of_birth=datetime.date(1952, 1, 30),
        phone="+1 250 555 0178",
    )
    if walter is not None:
        _intake(
            walter,
            by=priya,
            complaint="Lower back pain after gardening",
            pain=["lower_back", "hip"],
            medications=["Apixaban 5 mg twice a day"],
            activity="light",
        )
        _screening(walter, by=priya, yes=["blood_thinners"])
        _consent(walter, by=priya)

    # Absolute contraindication: a child of 9 (under 12: refused), her mother signed consent.
    lily = _new_patient(
        kelowna,
        by=priya,
        first_name="Lily",
        last_name="Tremblay",
        date_of_birth=_born_years_ago(9, clinic=kelowna),
        phone="+1 250 555 0155",
        emergency_contact_name="Claire Tremblay",
        emergency_contact_relationship="Mother",
        emergency_contact_phone="+1 250 555 0156",
    )
    if lily is not None:
        _intake(lily, by=priya, complaint="Knee pain after gymnastics", pain=["knee"])
        _screening(lily, by=priya)
        _consent(lily, by=priya, signer_name="Claire Tremblay", relationship="Mother")

    # Screening expired, at Toronto: answered four months ago.
    sofia = _new_patient(
        toronto,
        by=daniel,
        first_name="Sofia",
        last_name="Alvarez",
        date_of_birth=datetime.date(1979, 11, 2),
        phone="+1 416 555 0122",
    )
    if sofia is not None:
        _intake(sofia, by=daniel, complaint="Tennis elbow", pain=["arm"], activity="active")
        screening = _screening(sofia, by=daniel)
        _consent(sofia, by=daniel)
        # Only demo data moves a record back in time; no service does.
        submitted_at = screening.submitted_at - EXPIRED_AFTER
        ScreeningResponse.objects.filter(pk=screening.pk).update(
            submitted_at=submitted_at,
            valid_until=submitted_at + (screening.valid_until - screening.submitted_at),
        )

    # The other organisation: its staff never see the patients above, nor ours theirs.
    aidan = _new_patient(
        halifax,
        by=liam,
        first_name="Aidan",
        last_name="MacLeod",
        date_of_birth=datetime.date(1984, 6, 5),
        phone="+1 902 555 0147",
    )
    if aidan is not None:
        _intake(aidan, by=liam, complaint="Plantar heel pain", pain=["ankle_foot"])
        _screening(aidan, by=liam)
        _consent(aidan, by=liam)

    return [(f"Patient portal, {DEMO} (Kelowna): Emma Clarke", PORTAL_EMAIL)]


def _clinic(organization: str, name: str) -> Clinic:
    return Clinic.objects.select_related("organization").get(
        organization__name=organization, name=name
    )


def _new_patient(clinic: Clinic, *, by, **details) -> Patient | None:
    """Register a demo patient; None when the demo already has them."""
    if Patient.objects.filter(
        organization=clinic.organization,
        first_name=details["first_name"],
        last_name=details["last_name"],
    ).exists():
        return None
    return services.register_patient(home_clinic=clinic, by=by, **details)


def _intake(
    patient: Patient,
    *,
    by,
    complaint: str,
    pain: list[str],
    medications: list[str] = (),
    activity: str = "moderate",
) -> None:
    services.save_intake(
        patient=patient,
        by=by,
        presenting_complaint=complaint,
        pain_areas=pain,
        medications=list(medications),
        activity_level=activity,
        goals="Move without pain again.",
    )


def _screening(patient: Patient, *, by, yes: list[str] = ()) -> ScreeningResponse:
    questionnaire = services.current_questionnaire(patient.organization)
    answers = {question: question.key in yes for question in questionnaire.questions.all()}
    return services.submit_screening(patient=patient, by=by, answers=answers)


def _consent(patient: Patient, *, by, signer_name: str = "", relationship: str = "") -> None:
    services.sign_consent(
        patient=patient,
        by=by,
        template=services.current_consent_template(patient.organization),
        signer_name=signer_name or patient.full_name,
        guardian_relationship=relationship,
    )


def _portal_login(patient: Patient, *, by) -> None:
    """A portal login with the demo password, made the way an accepted invitation makes it.

    invite_patient sends its link only by e-mail, so the demo writes the
    invitation with a token it knows, then accepts it through the service
    (which also marks the e-mail address verified). A login left from an
    earlier demo accepts it instead.
    """
    token = secrets.token_urlsafe(32)
    PatientInvitation.objects.create(
        organization=patient.organization,
        patient=patient,
        email=patient.email,
        token_sha256=sha256_of(token),
        created_by=by,
        expires_at=timezone.now() + datetime.timedelta(days=14),
    )
    existing = User.objects.filter(email=patient.email).first()
    if existing is not None:  # kept from an earlier demo whose patients were removed
        services.accept_invitation(token=token, user=existing)
        return
    services.create_login_from_invitation(
        token=token, password=DEMO_PASSWORD, full_name=patient.full_name
    )


def _born_years_ago(years: int, *, clinic: Clinic) -> datetime.date:
    """A date of birth `years` (and two months) ago, so the age holds for a while after loading."""
    day = timezone.localdate(timezone=clinic.zone) - datetime.timedelta(days=61)
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)
