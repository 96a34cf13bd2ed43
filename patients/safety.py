"""Before the needle: what staff see about a patient wherever a session is opened, and what
stops a session from starting.

One place gathers it, so the day list, the start gate, the chart, the patient
page and the API say the same thing:

- `summaries_for(user, patients)`: one line per fact, each with a link, in the
  order a therapist must read them: open alerts (urgent first), adverse events
  still under review, contraindications (absolute first), screening, consent.
  A user who reads clinical answers sees the facts; the front desk sees only
  whether the patient is ready and, if not, what to do next ("send the
  screening", "see the therapist"), never a contraindication or an answer.
  `Summary.marks` says the same in a few words for a line of a list (ready,
  screening needed, consent needed, contraindication, open alert).
- `start_blockers(patient, therapist)`: what refuses the start beyond screening,
  consent and contraindications (which the session gate reads itself): an urgent
  alert this therapist has not acknowledged with a note, a suspected
  pneumothorax not yet reviewed.

The facts of the patient's own record come from `selectors.clinical_statuses`.
Apps above patients add theirs without patients importing them: in
AppConfig.ready(), `register(notices=..., blockers=...)`, where `notices` is a
function of (user, patients) returning {patient id: [Notice, ...]} in a fixed
number of queries (`patients` is a `selectors.PatientList`: ask with
`patient_id__any_of=patients.ids`, written out once for every source), and
`blockers` a function of (patient, therapist) returning [Blocker, ...]. Sources
see only what the access rules let the user see; a blocker is found whatever
the therapist may see, because a danger at another clinic is still a danger.
"""

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from enum import IntEnum
from functools import cached_property
from urllib.parse import urlencode

from clinics import access
from clinics.routes import url_maker
from patients.models import ConsentSignature, Patient, ScreeningResponse
from patients.selectors import (
    ClinicalStatus,
    ConsentState,
    PatientList,
    ScreeningState,
    clinical_statuses,
)


class Kind(IntEnum):
    """What a notice is about, in the order they are read."""

    ALERT = 1
    ADVERSE_EVENT = 2
    CONTRAINDICATION = 3
    SCREENING = 4
    CONSENT = 5


@dataclass(slots=True)
class Notice:
    """One line about a patient: what it is, how serious, where to act on it.

    Read, never changed; not frozen only because a week's calendar builds thousands and a
    frozen dataclass takes five times as long to build (so does Summary)."""

    kind: Kind
    level: str
    """"danger" (needling waits for it) or "warning" (needling may go on, knowingly)."""
    text: str
    mark: str
    """The line in a few words, for a list's badge: "Open alert", "Consent needed"."""
    url: str = ""
    link_text: str = ""

    def as_dict(self) -> dict:
        return {
            "kind": self.kind.name.lower(),
            "level": self.level,
            "text": self.text,
            "mark": self.mark,
            "url": self.url or None,
            "link_text": self.link_text or None,
        }


@dataclass(frozen=True)
class Blocker:
    """Why a session may not start yet, and where to clear it."""

    text: str
    url: str = ""
    link_text: str = ""
    forms: bool = False
    """Cleared by the patient's forms (screening, consent): they can be sent or opened."""

    def as_dict(self) -> dict:
        return {"text": self.text, "url": self.url or None, "link_text": self.link_text or None}

    def returning_to(self, path: str) -> "Blocker":
        """The same, its link bringing the user back to `path` once it is cleared."""
        if not self.url:
            return self
        separator = "&" if "?" in self.url else "?"
        return replace(self, url=f"{self.url}{separator}{urlencode({'next': path})}")


READY = "Ready"
WITHOUT_NEEDLING = "Without needling"


@dataclass(slots=True)
class Summary:
    """What one user sees about one patient before the needle."""

    notices: list[Notice]
    clinical: bool
    """Whether the user reads clinical facts (else: readiness and next steps only)."""
    needling: bool = True
    """False for a session without needling: screening, consent and contraindications to
    needling do not apply to it; alerts and reviews still do."""

    @property
    def marks(self) -> list[tuple[str, str, str]]:
        marks = marks_for(self.notices)
        if self.needling:
            return marks
        return [mark for mark in marks if mark[1] != READY] + [("ok", WITHOUT_NEEDLING, "")]

    @property
    def record_in_order(self) -> str:
        """The line to show when screening, consent and contraindications raise nothing."""
        if not self.needling:
            return "Without needling: screening and consent to needling are not needed."
        if any(notice.kind >= Kind.CONTRAINDICATION for notice in self.notices):
            return ""
        if self.clinical:
            return "Screening and consent are in order, with no contraindication."
        return "Screening and consent are in order."

    def without_needling(self) -> "Summary":
        """What still applies to a session without needling: alerts and reviews."""
        return Summary(
            [notice for notice in self.notices if notice.kind < Kind.CONTRAINDICATION],
            self.clinical,
            needling=False,
        )

    def for_session(self, session) -> "Summary":
        return self if session.needling else self.without_needling()


NoticeSource = Callable[[object, PatientList], dict[uuid.UUID, list[Notice]]]
BlockerSource = Callable[[Patient, object], list[Blocker]]

_notice_sources: list[NoticeSource] = []
_blocker_sources: list[BlockerSource] = []


def register(*, notices: NoticeSource | None = None, blockers: BlockerSource | None = None):
    """Add an app's notices and start blockers (called from its AppConfig.ready())."""
    if notices is not None and notices not in _notice_sources:
        _notice_sources.append(notices)
    if blockers is not None and blockers not in _blocker_sources:
        _blocker_sources.append(blockers)


def summaries_for(
    user,
    patients: Iterable[Patient],
    *,
    statuses: dict[uuid.UUID, ClinicalStatus] | None = None,
    clinic=None,
) -> dict[uuid.UUID, Summary]:
    """Each patient's notices for `user`, in a fixed number of queries however many patients.

    The caller has checked that `user` may see these patients (or their sessions at
    `clinic`); `statuses` saves reading the clinical statuses again when the caller
    has them. `clinic` is where the sessions are: clinical staff there read the
    contraindications of a patient from another site, whom they are about to needle.
    """
    patients = PatientList({patient.pk: patient for patient in patients}.values())
    if not patients:
        return {}
    statuses = statuses or clinical_statuses(patients)
    asked = _Asked(user, clinic)
    clinical = {patient.pk: asked.reads_clinical(patient) for patient in patients}
    shown: dict[uuid.UUID, list[Notice]] = {
        patient.pk: _own_notices(asked, patient, statuses[patient.pk], clinical[patient.pk])
        for patient in patients
    }
    for source in _notice_sources:
        for patient_id, notices in source(user, patients).items():
            shown[patient_id].extend(notices)
    for notices in shown.values():
        if len(notices) > 1:
            notices.sort(key=lambda notice: (notice.kind, notice.level != "danger"))
    return {
        patient_id: Summary(notices, clinical[patient_id]) for patient_id, notices in shown.items()
    }


def summary_of(
    user, patient: Patient, *, status: ClinicalStatus | None = None, clinic=None
) -> Summary:
    statuses = {patient.pk: status} if status is not None else None
    return summaries_for(user, [patient], statuses=statuses, clinic=clinic)[patient.pk]


def marks_for(notices: list[Notice]) -> list[tuple[str, str, str]]:
    """A list row's readiness in a few words: (level, mark, link) for each kind of line once,
    the most serious first; ("ok", "Ready", "") when nothing stands in the way."""
    marks: dict[str, tuple[str, str, str]] = {}
    for notice in notices:
        if notice.mark not in marks or (
            notice.level == "danger" and marks[notice.mark][0] != "danger"
        ):
            marks[notice.mark] = (notice.level, notice.mark, notice.url)
    return list(marks.values()) or [("ok", READY, "")]


def start_blockers(patient: Patient, therapist) -> list[Blocker]:
    """What keeps `therapist` from starting a session of `patient`, from the apps above."""
    return [blocker for source in _blocker_sources for blocker in source(patient, therapist)]


class _Asked:
    """What the notices of many patients ask once each, not once per patient: who may
    read what at each home clinic (the same for every patient of it; the clinic names the
    organisation too) and the links' routes."""

    def __init__(self, user, clinic):
        self.user, self.clinic = user, clinic
        self._reads: dict = {}
        self._takes: dict = {}

    @cached_property
    def screening(self):
        return url_maker("patients:screening_detail", 2)

    @cached_property
    def patient(self):
        return url_maker("patients:detail")

    @cached_property
    def screen_now(self):
        return url_maker("patients:screening_new")

    @cached_property
    def forms(self):
        return url_maker("patients:forms_on_tablet")

    @cached_property
    def consent(self):
        return url_maker("patients:consent_sign")

    def reads_clinical(self, patient: Patient) -> bool:
        own = patient.user_id is not None and patient.user_id == self.user.pk
        key = (patient.home_clinic_id, own) if own else patient.home_clinic_id
        found = self._reads.get(key)
        if found is None:
            found = self._reads[key] = reads_clinical(self.user, patient, clinic=self.clinic)
        return found

    def may_take_consent(self, patient: Patient) -> bool:
        found = self._takes.get(patient.home_clinic_id)
        if found is None:
            found = self._takes[patient.home_clinic_id] = access.can_at(
                self.user,
                "add",
                ConsentSignature,
                organization=patient.organization,
                clinic=patient.home_clinic,
            )
        return found


def reads_clinical(user, patient: Patient, *, clinic=None) -> bool:
    """Does `user` read this patient's clinical facts (everyone but the front desk)?

    At the patient's home clinic, or at `clinic`, where a session of theirs is: a
    therapist needling a patient of another site must know their contraindications.
    """
    places = [patient.home_clinic]
    if clinic is not None and clinic.organization_id == patient.organization_id:
        places.append(clinic)
    return any(
        access.can_at(
            user,
            "view",
            ScreeningResponse,
            organization=patient.organization,
            clinic=place,
            # The patient's own login, without reading their user row (a query per patient).
            owner=user if patient.user_id is not None and patient.user_id == user.pk else None,
        )
        for place in places
    )


def _own_notices(
    asked: _Asked, patient: Patient, status: ClinicalStatus, clinical: bool
) -> list[Notice]:
    if clinical:
        notices = _clinical_facts(asked, patient, status)
    else:
        notices = _next_steps(asked, patient, status)
    return notices + _consent_notices(asked, patient, status)


def _clinical_facts(asked: _Asked, patient: Patient, status: ClinicalStatus) -> list[Notice]:
    notices = []
    for flag in status.flags:
        from_screening = flag.contraindication in getattr(status.screening, "flags", ())
        url = _screening_url(asked, patient, status) if from_screening else ""
        link_text = "See the screening" if from_screening else ""
        if flag.absolute:
            notices.append(
                Notice(
                    Kind.CONTRAINDICATION,
                    "danger",
                    f"Absolute contraindication: {flag.label}. Needling is refused.",
                    "Contraindication",
                    url,
                    link_text,
                )
            )
        else:
            notices.append(
                Notice(
                    Kind.CONTRAINDICATION,
                    "warning",
                    f"Relative contraindication: {flag.label}. Record a reason to proceed.",
                    "Relative contraindication",
                    url,
                    link_text,
                )
            )
    screening = {
        ScreeningState.MISSING: "No screening yet: the patient answers it before needling.",
        ScreeningState.EXPIRED: "The screening has expired: the patient answers it again.",
        ScreeningState.CHANGED: "The patient reported a change in health: screen again.",
    }.get(status.screening_state)
    if screening:
        notices.append(
            Notice(
                Kind.SCREENING,
                "danger",
                screening,
                "Screening needed",
                asked.screen_now(patient.pk),
                "Screen now",
            )
        )
    return notices


def _screening_url(asked: _Asked, patient: Patient, status: ClinicalStatus) -> str:
    if status.screening is not None:
        return asked.screening(patient.pk, status.screening.pk)
    return asked.patient(patient.pk) + "#details-heading"


def _next_steps(asked: _Asked, patient: Patient, status: ClinicalStatus) -> list[Notice]:
    """The front desk's view: what to do, never the clinical fact behind it."""
    notices = []
    if status.absolute_flags:
        notices.append(
            Notice(
                Kind.CONTRAINDICATION,
                "danger",
                "Not ready for needling: the therapist must see the patient first.",
                "See the therapist",
            )
        )
    if not status.screening_valid:
        notices.append(
            Notice(
                Kind.SCREENING,
                "danger",
                "Screening needed: send the patient the screening form, or open it on the "
                "clinic's tablet.",
                "Screening needed",
                asked.forms(patient.pk),
                "Send or open the forms",
            )
        )
    return notices


def _consent_notices(asked: _Asked, patient: Patient, status: ClinicalStatus) -> list[Notice]:
    state = status.consent_state
    if state == ConsentState.VALID:
        return []  # most patients of a calendar: nothing to say, and nothing to work out
    if state == ConsentState.MISSING:
        level, text, mark = "danger", "No signed consent to dry needling.", "Consent needed"
    elif state == ConsentState.WITHDRAWN:
        level, text, mark = (
            "danger",
            "The patient withdrew consent: no needling.",
            "Consent withdrawn",
        )
    elif state == ConsentState.OUTDATED:
        version, current = status.consent.template_version, status.current_consent_version
        if status.consent_counts:
            level, mark = "warning", "Consent outdated"
            text = (
                f"Consent was signed on version {version}; version {current} is current. "
                "Ask the patient to sign it."
            )
        else:
            level, mark = "danger", "Consent needed"
            text = (
                f"Consent was signed on version {version}; version {current} must be signed "
                "before needling."
            )
    else:
        return []
    may_take = asked.may_take_consent(patient)
    url = asked.consent(patient.pk) if may_take else ""
    return [Notice(Kind.CONSENT, level, text, mark, url, "Take consent" if may_take else "")]
