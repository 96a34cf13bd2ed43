"""What a patient is told to do after answering a check-in: one text for the page and the API.

The emergency advice follows the red flags in DESIGN.md: chest pain, shortness
of breath or pain on breathing after dry needling can be a pneumothorax, and
needs emergency care at once. After a session without needling they need
emergency care all the same, and the advice claims no cause.
"""

from dataclasses import dataclass

from django.utils import timezone

from aftercare.models import AftercarePlan, CheckIn, CheckInAnswer, Triage


@dataclass(frozen=True)
class NextSteps:
    heading: str
    points: list[str]
    emergency_number: str | None
    """The number to call now, when the answers are an emergency."""

    @property
    def text(self) -> str:
        return " ".join([f"{self.heading}.", *self.points])


def emergency_steps(check_in: CheckIn) -> NextSteps:
    """Get emergency care now: for an urgent answer, and for a red flag reported before the
    rest of the answers."""
    clinic = check_in.clinic
    session = check_in.session
    day = timezone.localtime(session.starts_at, clinic.zone)
    if session.needling:
        plan = AftercarePlan.objects.filter(session=session).only("needled_muscles").first()
        where = f", in: {', '.join(plan.needled_muscles)}" if plan and plan.needled_muscles else ""
        about_the_session = [
            f"Tell them you had dry needling on {day:%-d %B}{where}.",
            "Chest pain, shortness of breath or pain when breathing in after dry needling "
            "can be a collapsed lung (pneumothorax). It is rare, but it needs a doctor at "
            "once.",
        ]
    else:
        about_the_session = [
            f"Tell them you had physiotherapy on {day:%-d %B}, without needling.",
            "Chest pain, shortness of breath or pain when breathing in needs a doctor at once, "
            "whatever the cause.",
        ]
    return NextSteps(
        heading="Get emergency care now",
        points=[
            f"Call {clinic.emergency_number}, or have someone take you to the nearest "
            "emergency department now.",
            "Do not drive yourself.",
            *about_the_session,
            "Your therapist and the clinic have been alerted.",
        ],
        emergency_number=clinic.emergency_number,
    )


def next_steps(answer: CheckInAnswer, check_in: CheckIn) -> NextSteps:
    clinic = check_in.clinic
    call_the_clinic = "call the clinic" + (f" on {clinic.phone}." if clinic.phone else ".")
    if answer.triage == Triage.URGENT:
        return emergency_steps(check_in)
    if answer.triage == Triage.ALERT:
        return NextSteps(
            heading="Thank you: your therapist has been told",
            points=[
                "Some of your answers need your therapist's attention, and the clinic will "
                f"contact you. If you feel worse, {call_the_clinic}"
            ],
            emergency_number=None,
        )
    return NextSteps(
        heading="Thank you",
        points=[
            "Your answers are with your therapist. Soreness should ease over the next days; "
            f"if anything worries you, {call_the_clinic}"
        ],
        emergency_number=None,
    )
