"""Check-ins: scheduling them when a plan is issued, e-mailing them, and taking the answers."""

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from aftercare import questions, tasks, triage
from aftercare.exceptions import (
    AftercareInvalid,
    CheckInAlreadyAnswered,
    CheckInClosed,
    CheckInIncomplete,
    CheckInLinkInvalid,
    NotPermitted,
    SubmissionKeyReused,
)
from aftercare.models import (
    Bruising,
    CheckIn,
    CheckInAnswer,
    EmailPurpose,
    Fatigue,
    Trend,
    Triage,
)
from aftercare.models.check_ins import COMMENTS_LIMIT
from aftercare.services import emails
from aftercare.services.plans import settings_of
from clinics import access, jobs
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
    A session without needling gets the same check-ins, counted from its
    signature (its chart asks no end of needling): the soreness after manual
    therapy or exercise follows the same days, and the red flags are asked
    all the same; only the questions differ (aftercare.questions).
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
        jobs.run_at(tasks.send_check_in, check_in.due_at, check_in_id=str(check_in.pk))
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

    One sender at a time (aftercare.services.emails): the attempt is recorded
    before the e-mail goes and its answer after, beside `sent_at`, so a worker
    killed half-way never loses the e-mail and sends it twice only when the
    mail server may already have it. When the server refuses, the check-in
    stays unsent and a retry is scheduled.
    """
    with emails.one_sender(check_in_id, EmailPurpose.CHECK_IN) as mine:
        if not mine:
            jobs.run_at(
                tasks.send_check_in, timezone.now() + BUSY_RETRY, check_in_id=str(check_in_id)
            )
            return "busy: will look again"
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
                jobs.run_at(tasks.send_check_in, now + BUSY_RETRY, check_in_id=str(check_in_id))
                return "busy: will look again"
            if check_in.sent_at is not None:
                return "already sent"
            if CheckInAnswer.objects.filter(check_in=check_in).exists():
                return "already answered"
            if now >= check_in.closes_at:
                return "closed unsent"
            if now < check_in.due_at:
                jobs.run_at(tasks.send_check_in, check_in.due_at, check_in_id=str(check_in.pk))
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
            check_in.save(update_fields=["send_attempts"])
            attempt = emails.begin(check_in, EmailPurpose.CHECK_IN, [check_in.patient.email])
            subject = f"[Fascia] How are you feeling after your session at {check_in.clinic.name}?"
            body = render_to_string(
                "aftercare/email/check_in.txt",
                {"check_in": check_in, "link": link_to(check_in), "clinic": check_in.clinic},
            )
        delivery = emails.deliver(attempt, subject=subject, body=body)
        with transaction.atomic():
            emails.finish(attempt, delivery)
            check_in = CheckIn.objects.select_for_update(of=("self",)).get(pk=check_in.pk)
            now = timezone.now()
            if delivery.accepted:
                check_in.sent_at, check_in.next_attempt_at, check_in.last_send_error = now, None, ""
                check_in.save(update_fields=["sent_at", "next_attempt_at", "last_send_error"])
                return "sent"
            logger.warning("check-in %s could not be e-mailed: %s", check_in.pk, delivery.error)
            wait = RETRY_AFTER[min(check_in.send_attempts, len(RETRY_AFTER)) - 1]
            check_in.next_attempt_at = now + wait
            check_in.last_send_error = delivery.error[:500]
            check_in.save(update_fields=["next_attempt_at", "last_send_error"])
            jobs.run_at(tasks.send_check_in, check_in.next_attempt_at, check_in_id=str(check_in.pk))
            return "failed, will retry"


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


def _yes_no(field: str, value) -> bool:
    if not isinstance(value, bool):
        raise AftercareInvalid(f"{field}: answer yes or no.", field=field)
    return value


def _comments(value) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise AftercareInvalid("comments: write them as text.", field="comments")
    comments = value.strip()
    if len(comments) > COMMENTS_LIMIT:
        raise AftercareInvalid(
            f"comments: at most {COMMENTS_LIMIT:,} characters; these are {len(comments):,}. "
            "Nothing was cut: shorten them, or call the clinic to tell them the rest.",
            field="comments",
        )
    return comments


_READERS = {
    "chest_pain": lambda value: _yes_no("chest_pain", value),
    "short_of_breath": lambda value: _yes_no("short_of_breath", value),
    "infection_signs": lambda value: _yes_no("infection_signs", value),
    "nerve_symptoms": lambda value: _yes_no("nerve_symptoms", value),
    "soreness": lambda value: _score("soreness", value),
    "pain": lambda value: _score("pain", value),
    "trend": lambda value: _choice("trend", value, Trend),
    "bruising": lambda value: _choice("bruising", value, Bruising),
    "fatigue": lambda value: _choice("fatigue", value, Fatigue),
    "comments": _comments,
}
"""How each answer is read, in CheckInAnswer.ANSWERS's order (red flags first)."""


def _still_reported(check_in: CheckIn, question: str, value) -> bool:
    """A red flag reported before the rest stays: left out, it is taken as reported."""
    if value is None or value is True:
        return True
    local = timezone.localtime(check_in.red_flags_reported_at, check_in.clinic.zone)
    reason = triage.URGENT_QUESTIONS[question].lower()
    raise AftercareInvalid(
        f"{question}: you reported {reason} on {local:%-d %B at %H:%M}; that answer stays on "
        "this check-in. Answer yes, or leave it out.",
        field=question,
    )


def _read(check_in: CheckIn, given: dict) -> tuple[dict, dict[str, str]]:
    """The answers that read well, and what is wrong with each of the others (None: missing).

    Only the questions the check-in asks are read: an answer to one it does not ask (the
    bruising where needles went in, after a session without needling) is not kept."""
    values: dict = {}
    problems: dict[str, str] = {}
    reported = check_in.red_flags_reported
    for field in questions.asked(check_in):
        value = given.get(field)
        try:
            if field in reported:
                values[field] = _still_reported(check_in, field, value)
            else:
                values[field] = _READERS[field](value)
        except AftercareInvalid as refusal:
            problems[field] = refusal.message
    return values, problems


def _same_answers(answer: CheckInAnswer, values: dict) -> bool:
    """Is `values` the answer already filed, sent again?"""
    return all(getattr(answer, name) == value for name, value in values.items())


@dataclass(frozen=True)
class Submitted:
    """What became of a check-in the patient sent."""

    check_in: CheckIn
    answer: CheckInAnswer | None
    """The answers, filed and triaged; None while only the red flags are filed."""
    still_to_answer: dict[str, str]
    """Each answer missing or not valid, with what is wrong: empty once answered."""


def _locked(check_in: CheckIn, by) -> CheckIn:
    """The check-in, its row locked, once `by` is known to be its patient."""
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
    return check_in


def _refuse_unless_open(check_in: CheckIn, now: datetime) -> None:
    if now < check_in.due_at:
        raise CheckInClosed("This check-in is not open yet: we will e-mail you when it is.")
    if now >= check_in.closes_at:
        raise CheckInClosed(
            "This check-in has closed. If you are worried about how you feel, call the clinic"
            + (f" on {check_in.clinic.phone}." if check_in.clinic.phone else ".")
        )


@transaction.atomic
def submit_check_in(
    *, check_in: CheckIn, by, submission_key: uuid.UUID | None = None, **given
) -> Submitted:
    """Take what the patient sent: every answer, or a red flag with others still missing.

    `given` holds the answers by name (CheckInAnswer.ANSWERS); None, or left
    out, is not answered; one to a question the check-in does not ask
    (aftercare.questions) is not read. Every answer well given: filed, triaged, and an
    alert raised when a rule says so. Chest pain or shortness of breath
    answered yes, whatever else is missing or not valid: the red flag is
    filed on the check-in at once and the urgent alert raised (once per
    check-in, however often it is sent), and the rest is answered later on
    this same check-in; a red flag reported stays, and the answers that
    complete the check-in carry it, so their triage is urgent too and never
    raises a second alert. Missing answers and no red flag: CheckInIncomplete,
    naming each, and nothing is filed.

    A check-in is answered once, except the same submission sent again (a
    double click, a retry), which returns the first answer.
    """
    check_in = _locked(check_in, by)
    values, problems = _read(check_in, given)
    earlier = CheckInAnswer.objects.filter(check_in=check_in).first()
    if earlier is not None:
        if submission_key is not None and earlier.submission_key == submission_key:
            if problems or not _same_answers(earlier, values):
                raise SubmissionKeyReused()
            return Submitted(check_in=check_in, answer=earlier, still_to_answer={})
        local = timezone.localtime(earlier.answered_at, check_in.clinic.zone)
        raise CheckInAlreadyAnswered(
            f"You already answered this check-in on {local:%-d %B at %H:%M}. If something "
            f"has changed, call the clinic"
            + (f" on {check_in.clinic.phone}." if check_in.clinic.phone else ".")
        )
    now = timezone.now()
    # Said yes in this submission, not only carried from an earlier report.
    red_flags = [
        question
        for question in triage.URGENT_QUESTIONS
        if values.get(question) is True and given.get(question) is not None
    ]
    if red_flags and not check_in.due_at <= now < check_in.closes_at:
        # Chest pain sent a minute after the check-in closed (or before it opened) is
        # still chest pain: the alert is raised and the emergency advice shown; the
        # rest of the answers are not asked any more.
        _file_red_flags(check_in, red_flags, now)
        return Submitted(check_in=check_in, answer=None, still_to_answer={})
    _refuse_unless_open(check_in, now)
    if problems:
        if not red_flags:
            raise CheckInIncomplete(problems)
        _file_red_flags(check_in, red_flags, now)
        return Submitted(check_in=check_in, answer=None, still_to_answer=problems)
    answer = _file_answer(check_in, by, values, now, submission_key)
    return Submitted(check_in=check_in, answer=answer, still_to_answer={})


def _file_red_flags(check_in: CheckIn, questions: list[str], now: datetime) -> None:
    """Keep the red flags on the check-in (the first time, and any new one) and raise the
    urgent alert, which is raised once per check-in."""
    from aftercare.services.alerts import raise_alert

    changed = []
    if check_in.red_flags_reported_at is None:
        check_in.red_flags_reported_at = now
        changed.append("red_flags_reported_at")
    for question in questions:
        field = CheckIn.RED_FLAGS[question]
        if not getattr(check_in, field):
            setattr(check_in, field, True)
            changed.append(field)
    if changed:
        check_in.save(update_fields=changed)
    raise_alert(check_in=check_in, level=Triage.URGENT)


def _file_answer(
    check_in: CheckIn, by, values: dict, now: datetime, submission_key: uuid.UUID | None
) -> CheckInAnswer:
    from aftercare.services.alerts import raise_alert

    answers = triage.Answers(
        soreness=values["soreness"],
        pain=values["pain"],
        trend=values["trend"],
        chest_pain=values["chest_pain"],
        short_of_breath=values["short_of_breath"],
        infection_signs=values["infection_signs"],
        nerve_symptoms=values["nerve_symptoms"],
        hours_after=hours_since_session(check_in, now),
        needling=check_in.session.needling,
    )
    not_asked = {name: value for name, value in questions.NOT_ASKED.items() if name not in values}
    assessment = triage.assess(answers)
    try:
        with transaction.atomic():
            answer = CheckInAnswer.objects.create(
                organization_id=check_in.organization_id,
                check_in=check_in,
                patient=check_in.patient,
                answered_by=by,
                triage=assessment.level,
                triage_reasons=list(assessment.reasons),
                submission_key=submission_key,
                **values,
                **not_asked,
            )
    except IntegrityError:  # cannot happen under the row lock; said plainly if it does
        raise CheckInAlreadyAnswered("This check-in was answered a moment ago.") from None
    if assessment.level != Triage.FILED:
        # Once per check-in: after red flags reported ahead, this is the alert they raised.
        raise_alert(check_in=check_in, level=assessment.level)
    return answer


def answer_check_in(
    *, check_in: CheckIn, by, submission_key: uuid.UUID | None = None, **answers
) -> CheckInAnswer:
    """File every answer of a check-in (submit_check_in), and return them.

    Anything missing or not valid is refused (CheckInIncomplete, naming each);
    a red flag among such answers is filed all the same, as submit_check_in
    does, and the refusal says so.
    """
    submitted = submit_check_in(check_in=check_in, by=by, submission_key=submission_key, **answers)
    if submitted.answer is None:
        raise CheckInIncomplete(submitted.still_to_answer, red_flags_filed=True)
    return submitted.answer
