"""Check-ins: scheduling them when a plan is issued, e-mailing them, and taking the answers."""

import logging
import smtplib
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from aftercare import tasks, triage
from aftercare.exceptions import (
    AftercareInvalid,
    CheckInAlreadyAnswered,
    CheckInClosed,
    CheckInLinkInvalid,
    NotPermitted,
    SubmissionKeyReused,
)
from aftercare.models import Bruising, CheckIn, CheckInAnswer, Fatigue, Trend, Triage
from aftercare.services.plans import settings_of
from clinics import access
from sessions import clock
from sessions.models import TreatmentSession

logger = logging.getLogger(__name__)

OPEN_FOR = timedelta(days=3)
"""How long a check-in takes answers (and its link works) after it is due."""

RETRY_AFTER = [timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2)]
"""Waits between attempts when the e-mail cannot be sent; the last repeats until it closes."""

LINK_SALT = "aftercare.check-in-link"


BUSY_RETRY = timedelta(minutes=1)
"""When another worker or the patient's answer holds the row, look again after this."""


def schedule_check_ins(*, session: TreatmentSession, signed_at: datetime) -> list[CheckIn]:
    """Create the session's check-ins at the organisation's hours; e-mail each when due.

    The hours count from when the needling ended (sessions.clock): as the
    therapist charted it, or the signature when no end is charted. Soreness
    and the red flags run on that clock; the booked times say when the
    session was planned, not when the needles came out. Each check-in is open
    OPEN_FOR from its time. A chart signed late (its needling's end charted
    earlier) asks at once the latest check-in still open (until it would have
    closed), and the ones to come at their times; the others are not asked.
    """
    ended = clock.needling_ended_at(session) or signed_at
    times = [
        (hours, ended + timedelta(hours=hours))
        for hours in settings_of(session.organization).check_in_hours
    ]
    still_open = [
        (hours, due_at) for hours, due_at in times if due_at <= signed_at < due_at + OPEN_FOR
    ]
    asked = [(*still_open[-1], signed_at)] if still_open else []
    asked += [(hours, due_at, due_at) for hours, due_at in times if due_at > signed_at]
    check_ins = []
    for hours, natural, due_at in asked:
        check_in, _ = CheckIn.objects.get_or_create(
            organization_id=session.organization_id,
            session=session,
            hours_after=hours,
            defaults={
                "clinic_id": session.clinic_id,
                "patient_id": session.patient_id,
                "due_at": due_at,
                "closes_at": natural + OPEN_FOR,
            },
        )
        tasks.run_at(tasks.send_check_in, check_in.due_at, check_in_id=str(check_in.pk))
        check_ins.append(check_in)
    return check_ins


def hours_since_session(check_in: CheckIn, now: datetime) -> int:
    """How long after the needling ended the patient answers: the triage reads this, since
    a check-in stays open for days after its nominal hour. At least the check-in's own."""
    ended = clock.needling_ended_at(check_in.session)
    if ended is None:  # not signed: no check-in is asked before signing
        return check_in.hours_after
    elapsed = int((now - ended).total_seconds() // 3600)
    return max(check_in.hours_after, elapsed)


def link_to(check_in: CheckIn) -> str:
    """The signed link in the check-in e-mail. It names the check-in and nothing else."""
    token = signing.dumps(str(check_in.pk), salt=LINK_SALT)
    return settings.FASCIA_BASE_URL + reverse("aftercare_portal:check_in_link", args=[token])


def checked_link(token: str) -> uuid.UUID:
    """The check-in id a link names, if the link is as it was sent; CheckInLinkInvalid if not.

    Reads only the signature, so the page can say so before asking for a login.
    """
    try:
        return uuid.UUID(signing.loads(token, salt=LINK_SALT))
    except (signing.BadSignature, ValueError, TypeError):
        raise CheckInLinkInvalid(
            "This check-in link is not valid: part of it may be missing or changed. Use the "
            "whole link from the e-mail, or open your check-ins in the portal."
        ) from None


def check_in_from_link(token: str, *, user) -> CheckIn:
    """The check-in a link names, for its own patient's login; CheckInLinkInvalid otherwise.

    A link to someone else's check-in gets the same kind of answer as an
    altered one, and says nothing about whose it is.
    """
    check_in_id = checked_link(token)
    mine = CheckIn.objects.filter(pk=check_in_id, patient__user=user)
    check_in = access.visible_to(user, mine).first()
    if check_in is None:
        raise CheckInLinkInvalid(
            "This check-in is not for the login you are using. Log out, and log in with "
            "the e-mail address the check-in was sent to."
        )
    return check_in


def send_check_in(*, check_in_id) -> str:
    """E-mail a due check-in to the patient, once. Returns what happened, for the task log.

    The row is locked while the e-mail goes out, so two workers never both
    send it; `sent_at` is written in the same transaction. When the mail
    server refuses, the check-in stays unsent and a retry is scheduled.
    """
    with transaction.atomic():
        check_in = (
            CheckIn.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("patient", "clinic", "clinic__organization", "session__therapist")
            .filter(pk=check_in_id)
            .first()
        )
        now = timezone.now()
        if check_in is None:
            if not CheckIn.objects.filter(pk=check_in_id).exists():
                return "gone"
            tasks.run_at(tasks.send_check_in, now + BUSY_RETRY, check_in_id=str(check_in_id))
            return "busy: will look again"
        if check_in.sent_at is not None:
            return "already sent"
        if CheckInAnswer.objects.filter(check_in=check_in).exists():
            return "already answered"
        if now >= check_in.closes_at:
            return "closed unsent"
        if now < check_in.due_at:
            tasks.run_at(tasks.send_check_in, check_in.due_at, check_in_id=str(check_in.pk))
            return "not due yet"
        if check_in.next_attempt_at is not None and now < check_in.next_attempt_at:
            return "waiting to try again"  # the job queued for that time sends it
        if not check_in.patient.email or check_in.patient.user_id is None:
            # The link asks for the patient's login: without one, nobody can answer.
            check_in.last_send_error = (
                "The patient's record has no e-mail address: call them."
                if not check_in.patient.email
                else "The patient has no portal login to answer with: call them, or invite "
                "them to the portal."
            )
            # Not tried again on every sweep: it stays on the portal and the session's page.
            check_in.next_attempt_at = check_in.closes_at
            check_in.save(update_fields=["last_send_error", "next_attempt_at"])
            return "cannot be answered by e-mail"
        check_in.send_attempts += 1
        try:
            send_mail(
                subject=f"[Fascia] How are you feeling after your session at "
                f"{check_in.clinic.name}?",
                message=render_to_string(
                    "aftercare/email/check_in.txt",
                    {"check_in": check_in, "link": link_to(check_in), "clinic": check_in.clinic},
                ),
                from_email=None,
                recipient_list=[check_in.patient.email],
            )
        except (smtplib.SMTPException, OSError) as error:
            logger.warning("check-in %s could not be e-mailed: %s", check_in.pk, error)
            wait = RETRY_AFTER[min(check_in.send_attempts, len(RETRY_AFTER)) - 1]
            check_in.next_attempt_at = now + wait
            check_in.last_send_error = f"{type(error).__name__}: {error}"[:500]
            check_in.save(update_fields=["send_attempts", "next_attempt_at", "last_send_error"])
            tasks.run_at(
                tasks.send_check_in, check_in.next_attempt_at, check_in_id=str(check_in.pk)
            )
            return "failed, will retry"
        check_in.sent_at, check_in.next_attempt_at, check_in.last_send_error = now, None, ""
        check_in.save(
            update_fields=["sent_at", "send_attempts", "next_attempt_at", "last_send_error"]
        )
        return "sent"


def _score(field: str, value) -> int:
    label = CheckInAnswer._meta.get_field(field).verbose_name
    text = (
        str(value).strip() if isinstance(value, int | str) and not isinstance(value, bool) else ""
    )
    if not text.lstrip("-").isdigit():
        raise AftercareInvalid(f"{field}: choose a number from 0 to 10 for {label}.", field=field)
    number = int(text)
    if not 0 <= number <= 10:
        raise AftercareInvalid(
            f"{field}: {label} is a number from 0 to 10, not {number}.", field=field
        )
    return number


def _choice(field: str, value, choices) -> str:
    if value not in choices.values:
        label = CheckInAnswer._meta.get_field(field).verbose_name
        options = ", ".join(f"{code} ({shown.lower()})" for code, shown in choices.choices)
        raise AftercareInvalid(f"{field}: answer {label} with one of {options}.", field=field)
    return value


def _same_answers(answer: CheckInAnswer, given: dict) -> bool:
    """Is `given` the answer already filed, sent again (scores may come as text)?"""
    return all(
        str(getattr(answer, name)).strip() == str(value).strip() for name, value in given.items()
    )


def _yes_no(field: str, value) -> bool:
    if not isinstance(value, bool):
        raise AftercareInvalid(f"{field}: answer yes or no.", field=field)
    return value


@transaction.atomic
def answer_check_in(
    *,
    check_in: CheckIn,
    by,
    soreness,
    pain,
    bruising: str,
    fatigue: str,
    trend: str,
    chest_pain: bool,
    short_of_breath: bool,
    infection_signs: bool,
    nerve_symptoms: bool,
    comments: str = "",
    submission_key: uuid.UUID | None = None,
) -> CheckInAnswer:
    """File the patient's answers, triage them, and raise an alert when a rule says so.

    Answering twice is refused, except the same submission sent again (a
    double click, a retry), which returns the first answer.
    """
    from aftercare.services.alerts import raise_alert

    given = {
        "chest_pain": chest_pain,
        "short_of_breath": short_of_breath,
        "infection_signs": infection_signs,
        "nerve_symptoms": nerve_symptoms,
        "soreness": soreness,
        "pain": pain,
        "trend": trend,
        "bruising": bruising,
        "fatigue": fatigue,
        "comments": (comments or "").strip(),
    }
    check_in = (
        CheckIn.objects.select_for_update(of=("self",))
        .select_related("patient", "organization", "clinic", "session")
        .get(pk=check_in.pk)
    )
    # The answers are the patient's own evidence: no role, not even the platform
    # operator's, answers for them.
    if (
        check_in.patient.user_id != by.pk
        or not access.can(by, "view", check_in)
        or not access.can_at(
            by,
            "add",
            CheckInAnswer,
            organization=check_in.organization,
            clinic=check_in.clinic,
            owner=check_in.patient.user,
        )
    ):
        raise NotPermitted("Only the patient answers their check-in.")
    earlier = CheckInAnswer.objects.filter(check_in=check_in).first()
    if earlier is not None:
        if submission_key is not None and earlier.submission_key == submission_key:
            if not _same_answers(earlier, given):
                raise SubmissionKeyReused()
            return earlier
        local = timezone.localtime(earlier.answered_at, check_in.clinic.zone)
        raise CheckInAlreadyAnswered(
            f"You already answered this check-in on {local:%-d %B at %H:%M}. If something "
            f"has changed, call the clinic"
            + (f" on {check_in.clinic.phone}." if check_in.clinic.phone else ".")
        )
    now = timezone.now()
    if now < check_in.due_at:
        raise CheckInClosed("This check-in is not open yet: we will e-mail you when it is.")
    if now >= check_in.closes_at:
        raise CheckInClosed(
            "This check-in has closed. If you are worried about how you feel, call the clinic"
            + (f" on {check_in.clinic.phone}." if check_in.clinic.phone else ".")
        )
    comments = (comments or "").strip()
    if len(comments) > 5000:
        raise AftercareInvalid("comments: at most 5,000 characters.", field="comments")
    answers = triage.Answers(
        soreness=_score("soreness", soreness),
        pain=_score("pain", pain),
        trend=_choice("trend", trend, Trend),
        chest_pain=_yes_no("chest_pain", chest_pain),
        short_of_breath=_yes_no("short_of_breath", short_of_breath),
        infection_signs=_yes_no("infection_signs", infection_signs),
        nerve_symptoms=_yes_no("nerve_symptoms", nerve_symptoms),
        hours_after=hours_since_session(check_in, now),
    )
    bruising = _choice("bruising", bruising, Bruising)
    fatigue = _choice("fatigue", fatigue, Fatigue)
    assessment = triage.assess(answers)
    try:
        with transaction.atomic():
            answer = CheckInAnswer.objects.create(
                organization_id=check_in.organization_id,
                check_in=check_in,
                patient=check_in.patient,
                answered_by=by,
                soreness=answers.soreness,
                pain=answers.pain,
                bruising=bruising,
                fatigue=fatigue,
                trend=answers.trend,
                chest_pain=answers.chest_pain,
                short_of_breath=answers.short_of_breath,
                infection_signs=answers.infection_signs,
                nerve_symptoms=answers.nerve_symptoms,
                comments=comments,
                triage=assessment.level,
                triage_reasons=list(assessment.reasons),
                submission_key=submission_key,
            )
    except IntegrityError:  # cannot happen under the row lock; said plainly if it does
        raise CheckInAlreadyAnswered("This check-in was answered a moment ago.") from None
    if assessment.level != Triage.FILED:
        raise_alert(check_in=check_in, level=assessment.level)
    return answer
