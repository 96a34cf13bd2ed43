"""The sessions app's part of a patient's own record: their bookings, never the chart."""

from clinics import access
from patients.own_record import Item, Part
from sessions.models import TreatmentSession


def sessions(user, patient) -> list[Item]:
    """Every session of the patient, newest first: when, where, with whom, and where it stands."""
    booked = (
        access.visible_to(user, TreatmentSession.objects.filter(patient=patient))
        .select_related("clinic", "therapist")
        .order_by("-starts_at")
    )
    return [
        {
            "starts_at": session.starts_at,
            "ends_at": session.ends_at,
            "clinic": session.clinic.name,
            "therapist": session.therapist.get_full_name(),
            "status": session.get_status_display(),
        }
        for session in booked
    ]


PARTS = (Part(key="sessions", title="Your sessions", items=sessions),)
