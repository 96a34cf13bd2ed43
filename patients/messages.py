"""The e-mails sent to a patient, listed on the patient page: each app contributes its own.

An app registers a source in its AppConfig.ready(): a function of (user,
patient) that returns the `Message`s of one or more kinds that `user` may see
(scoped by clinics.access), in one query per kind, never one per row. Patients
itself registers the forms it sends (sessions adds its appointment reminders and
recall notices; aftercare its check-ins). The page shows the newest first.
"""

import datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from clinics import access
from patients.models import FormsRequest, FormsSentAs, Patient, PatientForm


@dataclass(frozen=True)
class Message:
    """One e-mail to the patient, as staff read it in the list (never its content)."""

    at: datetime.datetime
    """When it went, or was last tried."""
    kind: str
    """What it was: "Appointment reminder", "Recall notice", ..."""
    status: str
    """"Sent", or why not ("Not sent: ...")."""
    about: str = ""
    """What it was about, in a few words (the session's date, the forms asked)."""
    sent: bool = True


Source = Callable[..., Iterable[Message]]

_sources: list[Source] = []

LIMIT = 100
"""The newest messages shown: each source gives at most this many."""


def register(source: Source) -> None:
    if source not in _sources:
        _sources.append(source)


def messages_of(user, patient: Patient) -> list[Message]:
    """Every message to `patient` that `user` may see, newest first (at most LIMIT)."""
    messages = [message for source in _sources for message in source(user, patient)]
    messages.sort(key=lambda message: message.at, reverse=True)
    return messages[:LIMIT]


def forms_sent(user, patient: Patient) -> list[Message]:
    """The forms asked of the patient by e-mail (a reminder of them, or a portal invitation)."""
    requests = access.visible_to(
        user, FormsRequest.objects.filter(patient=patient).select_related("invitation")
    ).order_by("-sent_at")[:LIMIT]
    messages = []
    for request in requests:
        failed = (
            request.invitation.send_failed_at is not None
            if request.invitation is not None
            else request.send_failed_at is not None
        )
        messages.append(
            Message(
                at=request.sent_at,
                kind="Portal invitation"
                if request.sent_as == FormsSentAs.INVITATION
                else "Forms to fill in",
                status="Not sent: the mail server refused it" if failed else "Sent",
                about=" and ".join(PatientForm(form).label for form in request.forms),
                sent=not failed,
            )
        )
    return messages


register(forms_sent)
