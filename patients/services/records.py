"""Registering patients, keeping their details, and inviting them to the portal."""

import datetime
import hashlib
import logging
import secrets
import smtplib

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, connection, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.models import User, UserManager
from clinics import access, row_security
from clinics.models import Clinic
from patients import selectors
from patients.exceptions import (
    Conflict,
    EditConflict,
    InvitationInvalid,
    LikelyDuplicate,
    NotPermitted,
    SubmissionKeyReused,
)
from patients.models import Patient, PatientInvitation
from patients.selectors import DuplicateReason, in_words

PATIENT_FIELDS = (
    "first_name",
    "last_name",
    "date_of_birth",
    "email",
    "phone",
    "address",
    "emergency_contact_name",
    "emergency_contact_relationship",
    "emergency_contact_phone",
    "preferred_language",
)

logger = logging.getLogger(__name__)

INVITATION_LIFETIME = datetime.timedelta(days=14)
RESEND_AFTER = datetime.timedelta(minutes=5)
"""A second invitation within this time is the first again (a double click), not a new e-mail."""


@transaction.atomic
def register_patient(
    *,
    home_clinic: Clinic,
    by,
    allow_duplicate: bool = False,
    submission_key=None,
    **fields,
) -> Patient:
    """A new patient of the clinic's organisation.

    Refused with LikelyDuplicate when the organisation already has someone
    who may be this person (a similar name and the same date of birth, the same
    phone or the same e-mail: selectors.likely_duplicates), unless the caller
    confirms it is another person. The same `submission_key` twice (a double click, a retried
    request) returns the patient the first one registered; the same key with
    other details is refused (SubmissionKeyReused).
    """
    organization = home_clinic.organization
    if not access.can_add(by, Patient, organization=organization, clinic=home_clinic):
        raise NotPermitted(
            f"Your role does not allow you to register patients at {home_clinic.name}.",
            field="home_clinic",
        )
    _check_open(home_clinic)
    patient = Patient(
        organization=organization,
        home_clinic=home_clinic,
        created_by=by,
        submission_key=submission_key,
        **_normalized(_only(fields)),
    )
    # The key's uniqueness is answered below, as a replay, not as an error.
    patient.full_clean(exclude=["created_by", "user", "submission_key"])
    # Two desks registering the same person at once, or one desk clicking
    # twice: the second waits here, then finds the first one's patient.
    _lock_name(organization.pk, patient)
    earlier = _registered_with(submission_key, patient, by)
    if earlier is not None:
        return earlier
    _refuse_likely_duplicate(patient, by, allow_duplicate)
    try:
        with transaction.atomic():
            patient.save()
    except IntegrityError:  # the same key, committed a moment ago under another name
        return _registered_with(submission_key, patient, by)
    return patient


def _check_open(clinic: Clinic) -> None:
    if not clinic.is_active:
        raise ValidationError(
            {"home_clinic": f"{clinic.name} is closed (inactive): choose an open clinic."}
        )


def _registered_with(submission_key, patient: Patient, by) -> Patient | None:
    """The patient an earlier submission with this key registered, if it is this one."""
    if submission_key is None:
        return None
    earlier = (
        Patient.all_records.filter(
            organization_id=patient.organization_id, submission_key=submission_key
        )
        .select_related("merged_into")
        .first()
    )
    if earlier is None:
        return None
    # Merged into another record since: the form's patient is that record now.
    current = earlier.merged_into if earlier.is_merged else earlier
    same = (earlier.search_key(), earlier.date_of_birth) == (
        patient.search_key(),
        patient.date_of_birth,
    )
    if not same or not access.can(by, "view", current):
        raise SubmissionKeyReused()
    return current


def _refuse_likely_duplicate(
    patient: Patient, by, allow_duplicate: bool, *, signals=("name", "phone", "email")
) -> None:
    """LikelyDuplicate when the organisation has a record that may be this person.

    `signals` are what to compare: the name and date of birth, the phone, the
    e-mail (an edit compares what it changed). Records the user may open are
    named with why they look alike; of the others the user learns only that
    they exist, since their name is not the user's to read.
    """
    if allow_duplicate:
        return
    matches = selectors.likely_duplicates(
        organization=patient.organization,
        first_name=patient.first_name,
        last_name=patient.last_name,
        date_of_birth=patient.date_of_birth,
        phone=patient.phone if "phone" in signals else "",
        email=patient.email if "email" in signals else "",
        exclude=patient if patient.pk and not patient._state.adding else None,
    )
    if "name" not in signals:
        matches = [m for m in matches if set(m.duplicate_reasons) - NAME_REASONS]
        for match in matches:
            match.duplicate_reasons = [r for r in match.duplicate_reasons if r not in NAME_REASONS]
    if not matches:
        return
    visible = set(
        access.visible_to(by, Patient.objects.filter(pk__in=[m.pk for m in matches])).values_list(
            "pk", flat=True
        )
    )
    raise LikelyDuplicate(
        _duplicate_message(
            [match for match in matches if match.pk in visible],
            elsewhere=sum(match.pk not in visible for match in matches),
        ),
        matches=matches,
        visible=visible,
    )


NAME_REASONS = frozenset({DuplicateReason.SAME_NAME, DuplicateReason.SIMILAR_NAME})


def _duplicate_message(shown: list[Patient], *, elsewhere: int) -> str:
    sentences = []
    alike = [
        (f"{match.full_name} at {match.home_clinic.name}", in_words(match.duplicate_reasons))
        for match in shown
    ]
    if len(alike) == 1:
        ((name, why),) = alike
        sentences.append(f"This organisation already has a patient with {why} ({name}).")
    elif alike:
        names = "; ".join(f"{name} ({why})" for name, why in alike)
        sentences.append(f"This organisation already has patients who may be this person: {names}.")
    if elsewhere == 1:
        sentences.append(
            "A record at another clinic may be the same person; ask an organisation admin."
        )
    elif elsewhere:
        sentences.append(
            f"{elsewhere} records at other clinics may be the same person; ask an organisation "
            "admin."
        )
    opening = "Open that record, or confirm" if shown else "Confirm"
    sentences.append(f"{opening} that this is a different person.")
    return " ".join(sentences)


@transaction.atomic
def update_patient(
    *,
    patient: Patient,
    by,
    expected_version: int | None = None,
    allow_duplicate: bool = False,
    **changes,
) -> Patient:
    """Change a patient's details; with `expected_version`, never overwrite a newer save.

    A new name or date of birth, phone or e-mail that makes the patient look
    like another one is refused with LikelyDuplicate, unless the caller
    confirms it.
    """
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    if not access.can(by, "change", patient):
        raise NotPermitted("Your role does not allow you to change this patient's details.")
    if expected_version is not None and expected_version != patient.version:
        raise EditConflict(
            "Someone else changed this patient's details after you opened them. "
            "Reload to see their changes, then make yours again.",
            field="version",
        )
    changes = _normalized(_only(changes))
    home_clinic = changes.pop("home_clinic", None)
    if home_clinic is not None and home_clinic.pk != patient.home_clinic_id:
        if home_clinic.organization_id != patient.organization_id or not access.can_add(
            by, Patient, organization=patient.organization, clinic=home_clinic
        ):
            raise NotPermitted(
                f"Your role does not allow you to move patients to {home_clinic.name}.",
                field="home_clinic",
            )
        _check_open(home_clinic)
        patient.home_clinic = home_clinic
    before = _signals(patient)
    for name, value in changes.items():
        setattr(patient, name, value)
    patient.full_clean(exclude=["created_by", "user"])
    after = _signals(patient)
    changed = tuple(signal for signal in after if after[signal] != before[signal])
    if changed:
        _lock_name(patient.organization_id, patient)
        _refuse_likely_duplicate(patient, by, allow_duplicate, signals=changed)
    patient.version += 1
    patient.save()
    return patient


def _only(fields: dict) -> dict:
    unknown = set(fields) - set(PATIENT_FIELDS) - {"home_clinic"}
    if unknown:
        raise TypeError(f"unexpected fields: {', '.join(sorted(unknown))}")
    return dict(fields)


def _normalized(fields: dict) -> dict:
    for name, value in fields.items():
        if isinstance(value, str):
            fields[name] = " ".join(value.split()) if name != "address" else value.strip()
    if "email" in fields:
        fields["email"] = UserManager.normalize_email(fields["email"])
    return fields


def _signals(patient: Patient) -> dict[str, object]:
    """What the duplicate check compares, by signal (see _refuse_likely_duplicate)."""
    return {
        "name": (patient.search_key(), patient.date_of_birth),
        "phone": selectors.phone_key(patient.phone),
        "email": patient.email.lower(),
    }


def import_lock_key(organization_id) -> str:
    """The lock an import of the organisation's patients holds alone, and desks share."""
    return f"patient-import:{organization_id}"


def _lock_name(organization_id, patient: Patient) -> None:
    """Wait for anyone registering this date of birth, phone or e-mail right now.

    One lock per signal, taken in a fixed order. The name's lock is the date of
    birth alone: the duplicate check compares names (alike, not equal) only
    among records born the same day, so two desks registering one person,
    however differently they typed the name, find each other. Desks registering
    two people born on one day wait a moment for each other too.
    """
    signals = _signals(patient)
    with connection.cursor() as cursor:
        # An import of the organisation's patients checks a whole file against its patients
        # in one transaction (patients.services.imports holds this lock alone): a desk
        # registering meanwhile waits for it, and the import for the desks, so neither
        # misses the other's new patient.
        cursor.execute(
            "SELECT pg_advisory_xact_lock_shared(hashtextextended(%s, 0))",
            [import_lock_key(organization_id)],
        )
    keys = [f"{organization_id}:born:{signals['name'][1]}"]
    keys += [f"{organization_id}:{name}:{signals[name]}" for name in ("phone", "email")]
    keys = sorted(key for key in keys if not key.endswith(":"))
    with connection.cursor() as cursor:
        for key in keys:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [key])


# --- Invitations to the portal ----------------------------------------------


@transaction.atomic
def invite_patient(*, patient: Patient, by) -> PatientInvitation:
    """E-mail the patient a link to create their portal login, once the transaction commits.

    The link goes to the e-mail address on the patient's record, and only the
    newest link sent works: a new invitation, or a changed address, retires
    the ones before. Clicking twice within RESEND_AFTER sends one e-mail. When
    the e-mail cannot be sent, `send_failed_at` says so and the next click
    tries again.
    """
    patient = (
        Patient.objects.select_for_update(of=("self",))
        .select_related("home_clinic")
        .get(pk=patient.pk)
    )
    if not access.can(by, "view", patient) or not access.can_add(
        by, PatientInvitation, organization=patient.organization, clinic=patient.home_clinic
    ):
        raise NotPermitted("Your role does not allow you to invite this patient.")
    if patient.user_id is not None:
        raise Conflict("This patient already has a portal login.", field="email")
    if not patient.email:
        raise ValidationError(
            {"email": "Record the patient's e-mail address first: the invitation is sent there."}
        )
    now = timezone.now()
    # Sent or still being sent: a second click is the same invitation. One whose
    # e-mail failed is not: this click makes a new one.
    recent = PatientInvitation.objects.filter(
        patient=patient,
        email=patient.email,
        accepted_at__isnull=True,
        send_failed_at__isnull=True,
        created_at__gte=now - RESEND_AFTER,
    ).first()
    if recent is not None:
        return recent
    token = secrets.token_urlsafe(32)
    invitation = PatientInvitation(
        organization=patient.organization,
        patient=patient,
        email=patient.email,
        token_sha256=_digest(token),
        created_by=by,
        created_at=now,
        expires_at=now + INVITATION_LIFETIME,
    )
    invitation.full_clean(exclude=["created_by", "accepted_by", "token_sha256"])
    invitation.save()
    transaction.on_commit(lambda: _send_invitation(invitation, token))
    return invitation


def _send_invitation(invitation: PatientInvitation, token: str) -> None:
    link = settings.FASCIA_BASE_URL + reverse("portal:invitation", kwargs={"token": token})
    context = {
        "patient": invitation.patient,
        "organization": invitation.patient.home_clinic.organization,
        "clinic": invitation.patient.home_clinic,
        "link": link,
        "expires_at": invitation.expires_at,
    }
    try:
        send_mail(
            subject=f"[Fascia] {context['clinic'].name} invites you to your patient portal",
            message=render_to_string("patients/email/invitation.txt", context),
            from_email=None,
            recipient_list=[invitation.email],
        )
    except (smtplib.SMTPException, OSError):
        # The page says so, and the next click makes a new invitation.
        logger.exception("portal invitation %s could not be e-mailed", invitation.pk)
        invitation.send_failed_at = timezone.now()
        PatientInvitation.objects.filter(pk=invitation.pk).update(
            send_failed_at=invitation.send_failed_at
        )
        return
    invitation.sent_at = timezone.now()
    PatientInvitation.objects.filter(pk=invitation.pk).update(sent_at=invitation.sent_at)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_for(token: str, *, user: User | None = None) -> PatientInvitation:
    """The invitation behind a link, or InvitationInvalid saying why it cannot be used.

    A used link still answers its own patient's login (who is then simply sent
    to the portal); to anyone else it says only that it was used.
    """
    # Its holder may have no login yet: a usable link admits them to its organisation
    # (clinics/row_security.py), and to nothing else; an unusable one to nothing.
    with row_security.every_organization():
        invitation = _usable_invitation(token, user=user)
    row_security.admit(invitation.organization_id)
    return invitation


def _usable_invitation(token: str, *, user: User | None) -> PatientInvitation:
    invitation = (
        PatientInvitation.objects.select_related("patient", "patient__home_clinic")
        .filter(token_sha256=_digest(token))
        .first()
    )
    if invitation is None:
        raise InvitationInvalid(
            "This invitation link is not valid. Check that you copied all of it, or ask "
            "the clinic to send a new one."
        )
    patient = invitation.patient
    if patient.user_id is not None:
        if user is not None and patient.user_id == user.pk:
            return invitation
        raise InvitationInvalid(
            "This invitation has already been used. Log in with the account it created."
        )
    if invitation.expires_at <= timezone.now():
        raise InvitationInvalid(
            "This invitation has expired. Ask the clinic to send you a new one."
        )
    if invitation.email != patient.email:
        raise InvitationInvalid(
            "The clinic has changed the e-mail address on your record since sending this "
            "invitation. Ask them to send a new one."
        )
    newer = PatientInvitation.objects.filter(
        patient=patient, sent_at__isnull=False, created_at__gt=invitation.created_at
    )
    if newer.exists():
        raise InvitationInvalid(
            "A newer invitation has been sent to you: use the link in the latest e-mail."
        )
    return invitation


@transaction.atomic
def accept_invitation(*, token: str, user: User) -> Patient:
    """Connect the logged-in `user` to the invited patient record (again: the same answer)."""
    # Lock the patient first: two links of one patient, or two clicks, queue up here.
    found = invitation_for(token, user=user)
    patient = Patient.objects.select_for_update().get(pk=found.patient_id)
    invitation = invitation_for(token, user=user)
    if patient.user_id == user.pk:
        return patient
    if UserManager.normalize_email(user.email) != invitation.email:
        raise InvitationInvalid(
            f"This invitation was sent to {invitation.email}, but you are logged in as "
            f"{user.email}. Log out and open the link again."
        )
    if Patient.objects.filter(organization=patient.organization, user=user).exists():
        raise InvitationInvalid(
            "Your login already belongs to another patient record of this clinic. "
            "Ask the clinic to merge the records."
        )
    now = timezone.now()
    PatientInvitation.objects.filter(pk=invitation.pk).update(accepted_at=now, accepted_by=user)
    patient.user = user
    patient.save(update_fields=["user"])
    # Following the e-mailed link proves the address is theirs.
    EmailAddress.objects.update_or_create(
        user=user, email=user.email, defaults={"verified": True, "primary": True}
    )
    return patient


@transaction.atomic
def create_login_from_invitation(*, token: str, password: str, full_name: str = "") -> User:
    """A new portal login for the invited e-mail, verified by the link, connected to the patient."""
    invitation = invitation_for(token)
    if User.objects.filter(email=invitation.email).exists():
        raise InvitationInvalid(
            f"There is already a login for {invitation.email}: log in, then open the link again."
        )
    user = User(email=invitation.email, full_name=full_name.strip() or invitation.patient.full_name)
    try:
        validate_password(password, user)
    except ValidationError as error:
        raise ValidationError({"password": error.messages}) from None
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:  # the same form, sent twice
        raise InvitationInvalid(
            f"There is already a login for {invitation.email}: log in, then open the link again."
        ) from None
    accept_invitation(token=token, user=user)
    return user
