"""Reads about patients that pages, the API and later apps share.

`clinical_statuses` is the one place that says whether a patient's screening
and consent stand and which contraindications they have; the patient page
shows it, and starting a treatment session (sessions app) is gated on it.
"""

import datetime
import re
import uuid
from dataclasses import dataclass, field
from functools import cached_property

from django.contrib.postgres.search import TrigramSimilarity, TrigramWordSimilarity
from django.db import connection, transaction
from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet, Value
from django.utils import timezone

from clinics import access
from clinics.lookups import IdList
from patients import merging
from patients.contraindications import MINIMUM_AGE, Contraindication, Severity, severity_of
from patients.models import (
    ClinicalPolicy,
    ConsentSignature,
    ConsentTemplate,
    ConsentWithdrawal,
    Patient,
    PatientMerge,
    ScreeningResponse,
)
from patients.models.records import sounds_like

SEARCH_LIMIT = 50
PHONE_LIKE = re.compile(r"\+?[0-9 ().-]+")
NAME_SIMILARITY = 0.3
"""How alike a typed name must be (0 to 1): low enough that "Jonh Smiht" finds John Smith."""
SWAPPED_FROM_LETTERS = 4
"""Words this long or longer also match with two letters side by side swapped back."""


def may(user, action: access.Action, model, patient: Patient) -> bool:
    """May `user` `action` `model` rows of `patient`'s record (their own, for a patient's login)?

    The patient must be one the user sees at all; then the model's rule decides,
    at the patient's home clinic.
    """
    return access.can(user, "view", patient) and access.can_at(
        user,
        action,
        model,
        organization=patient.organization,
        clinic=patient.home_clinic,
        owner=patient.user,
        patient=patient,
    )


def portal_records(user) -> QuerySet:
    """The patient records connected to this login (one per organisation that treats them)."""
    return access.visible_to(
        user,
        Patient.objects.filter(user=user).select_related("home_clinic", "organization", "user"),
    ).order_by("created_at")


NAME_MATCH = 0.5
"""How alike two full names must be (trigram similarity, 0 to 1) to look like one person."""
PHONE_DIGITS_COMPARED = 10
"""The last digits of two phone numbers compared: "+1 250 555 0101" is "(250) 555-0101"."""
PHONE_DIGITS_NEEDED = 7


class DuplicateReason:
    """Why a patient may be the one being registered, in the words the warning uses."""

    SAME_NAME = "this name and date of birth"
    SIMILAR_NAME = "a name like this one and this date of birth"
    SAME_PHONE = "this phone number"
    SAME_EMAIL = "this e-mail address"


def likely_duplicates(
    *,
    organization,
    first_name: str,
    last_name: str,
    date_of_birth,
    phone: str = "",
    email: str = "",
    exclude=None,
) -> list[Patient]:
    """Patients of the organisation who may be this person, each with `duplicate_reasons`.

    Alike are: the same date of birth and a similar name (trigram similarity of
    the full name, or both names sounding alike, as search compares them); or
    the same phone number (its last ten digits); or the same e-mail address
    (any case). Across the whole organisation, whoever asks: the caller decides
    what the user may be shown. One query, on the (organization, ...) indexes:
    the date-of-birth index, and the trigram index for phone and e-mail.
    """
    name = " ".join(f"{first_name} {last_name}".lower().split())
    first, last = (" ".join(part.split()) for part in (first_name, last_name))
    similar_name = (
        Q(search_name=name)
        | Q(name_similarity__gte=NAME_MATCH)
        | Q(first_sound=sounds_like(Value(first)), last_sound=sounds_like(Value(last)))
    )
    arms = {"same_birth": Q(organization=organization, date_of_birth=date_of_birth) & similar_name}
    digits = phone_key(phone)
    if digits:
        arms["same_phone"] = Q(organization=organization, phone_digits__endswith=digits)
    if email and email.strip():
        arms["same_email"] = Q(organization=organization, email__iexact=email.strip())
    anywhere = Q()
    for arm in arms.values():
        anywhere |= arm
    matches = (
        Patient.objects.annotate(
            name_similarity=TrigramSimilarity("search_name", Value(name)),
            first_sound=sounds_like("first_name"),
            last_sound=sounds_like("last_name"),
        )
        .annotate(
            same_name=ExpressionWrapper(Q(search_name=name), output_field=BooleanField()),
            **{
                reason: ExpressionWrapper(arm, output_field=BooleanField())
                for reason, arm in arms.items()
            },
        )
        .filter(anywhere)
        .select_related("home_clinic")
        .order_by("last_name", "first_name", "pk")
    )
    if exclude is not None:
        matches = matches.exclude(pk=exclude.pk)
    found = list(matches[:SEARCH_LIMIT])
    for patient in found:
        patient.duplicate_reasons = _reasons(patient)
    return found


def in_words(reasons: list[str]) -> str:
    """Why a record looks like this person, as one phrase: "this phone number, and ..."."""
    if len(reasons) < 2:
        return "".join(reasons)
    return f"{', '.join(reasons[:-1])}, and {reasons[-1]}"


def phone_key(phone: str) -> str:
    """The digits two numbers of one phone share: its last ten, or "" for too few to tell."""
    digits = re.sub(r"\D", "", phone or "")
    return digits[-PHONE_DIGITS_COMPARED:] if len(digits) >= PHONE_DIGITS_NEEDED else ""


def _reasons(patient: Patient) -> list[str]:
    reasons = []
    if getattr(patient, "same_birth", False):
        same = patient.same_name
        reasons.append(DuplicateReason.SAME_NAME if same else DuplicateReason.SIMILAR_NAME)
    if getattr(patient, "same_phone", False):
        reasons.append(DuplicateReason.SAME_PHONE)
    if getattr(patient, "same_email", False):
        reasons.append(DuplicateReason.SAME_EMAIL)
    return reasons


def duplicates_of(patient: Patient) -> list[Patient]:
    """The other records of `patient`'s organisation that may be the same person."""
    return likely_duplicates(
        organization=patient.organization,
        first_name=patient.first_name,
        last_name=patient.last_name,
        date_of_birth=patient.date_of_birth,
        phone=patient.phone,
        email=patient.email,
        exclude=patient,
    )


def may_merge(user, patient: Patient) -> bool:
    """May `user` merge records of `patient`'s organisation (its organisation admins)?

    The merge service asks this too, and that the user sees both records.
    """
    return access.can_add(user, PatientMerge, organization=patient.organization)


def moved_to(user, patient_id) -> Patient | None:
    """Where a merged record went, when `user` may see that record; else None."""
    merged = (
        Patient.all_records.filter(pk=patient_id, merged_into__isnull=False)
        .values_list("merged_into_id", flat=True)
        .first()
    )
    if merged is None:
        return None
    return (
        access.visible_to(user, Patient.objects.select_related("home_clinic"))
        .filter(pk=merged)
        .first()
    )


def search_patients(user, query: str, *, limit: int = SEARCH_LIMIT) -> list[Patient]:
    """The patients `user` may see that match `query`, best first.

    A date (2001-04-30 or 30/04/2001) matches the date of birth, text with an
    @ the e-mail, four or more digits the phone; anything else is a name,
    matched word by word by trigram similarity or by sound, so that
    misspellings still find the patient. Search is a staff tool: it looks in
    the organisations where the user's roles let them see patients.
    """
    organizations = list(
        access.organizations_for(user, Patient, "view").values_list("pk", flat=True)
    )
    # The tenant key as a plain condition beside the access rule lets
    # PostgreSQL use the (organization, ...) indexes in every arm of the search.
    patients = access.visible_to(
        user, Patient.objects.filter(organization__in=organizations).select_related("home_clinic")
    )
    return _matching(patients, query, limit=limit)


def search_other_sites(user, query: str, *, limit: int = SEARCH_LIMIT) -> list[Patient]:
    """The patients of the other sites of `user`'s organisations that match `query` by name or
    date of birth, for opening one in an emergency (break-glass), best first.

    Only clinical staff search here (the organisations where they may break the
    glass), and only patients they do not see already. Their pages show no more
    than the name, date of birth and home clinic; contact details are not searched
    (a phone number or an e-mail finds nothing here), so the search is not a way
    to learn who a number belongs to.
    """
    query = " ".join(query.split())
    organizations = access.emergency_organizations(user)
    contact = "@" in query or (_as_date(query) is None and _as_phone(query) is not None)
    if not organizations or contact:
        return []
    seen = access.visible_to(user, Patient.objects.all()).values("pk")
    patients = (
        Patient.objects.filter(organization__in=organizations)
        .exclude(pk__in=seen)
        .select_related("home_clinic")
    )
    return _matching(patients, query, limit=limit)


def patient_of_another_site(user, patient_id) -> Patient | None:
    """The patient `user` may open in an emergency (break-glass): one of an organisation where
    they may break the glass, whether or not they see it already; None for any other."""
    return (
        Patient.objects.filter(organization__in=access.emergency_organizations(user))
        .select_related("home_clinic")
        .filter(pk=patient_id)
        .first()
    )


def _as_phone(query: str) -> str | None:
    """The digits of `query` when it reads as a phone number (four digits or more)."""
    digits = re.sub(r"\D", "", query)
    return digits if PHONE_LIKE.fullmatch(query) and len(digits) >= 4 else None


def _swapped(word: str) -> list[str]:
    """`word` with each pair of letters side by side swapped, once each (the commonest typing
    slip after a wrong letter): "ntahan" gives "tnahan", "nathan", "nthaan", ...; none for a
    word of fewer than four letters, whose swaps match too much."""
    if len(word) < SWAPPED_FROM_LETTERS:
        return []
    swaps = (word[:at] + word[at + 1] + word[at] + word[at + 2 :] for at in range(len(word) - 1))
    return list(dict.fromkeys(swap for swap in swaps if swap != word))


def _matching(patients: QuerySet, query: str, *, limit: int) -> list[Patient]:
    """`patients` that match `query` (see search_patients), best first."""
    query = " ".join(query.split())
    if not query:
        return []
    birth_date = _as_date(query)
    if birth_date is not None:
        return list(patients.filter(date_of_birth=birth_date)[:limit])
    if "@" in query:
        return list(patients.filter(email__icontains=query)[:limit])
    digits = _as_phone(query)
    if digits is not None:
        return list(patients.filter(phone_digits__contains=digits)[:limit])
    name = query.lower()
    patients = patients.annotate(
        first_name_sound=sounds_like("first_name"), last_name_sound=sounds_like("last_name")
    )
    found = _named(patients, name, limit=limit, swapped=False)
    if not found and any(_swapped(word) for word in name.split()[:4]):
        # A second try, only when nothing matched: each arm more makes the search over an
        # organisation's patients many times slower (12 to 290 ms on 40,000).
        found = _named(patients, name, limit=limit, swapped=True)
    return found


def _named(patients: QuerySet, name: str, *, limit: int, swapped: bool) -> list[Patient]:
    """`patients` whose name is like every word of `name`: close in trigrams (Margret ~
    Margaret) or alike in sound (Jhon ~ John); `swapped`: or so once two letters side by
    side are swapped back (Ntahan ~ Nathan, which shares too few trigrams and sounds
    otherwise). Each arm uses the trigram index."""
    every_word = Q()
    for word in name.split()[:4]:
        sound = sounds_like(Value(word))
        alike = Q(first_name_sound=sound) | Q(last_name_sound=sound)
        for spelling in (word, *(_swapped(word) if swapped else ())):
            alike |= Q(search_name__trigram_word_similar=spelling)
        every_word &= alike
    with transaction.atomic(), connection.cursor() as cursor:
        # The %> operator (word similarity) uses the trigram index; its threshold
        # is a setting, lowered for this transaction only.
        cursor.execute(
            "SELECT set_config('pg_trgm.word_similarity_threshold', %s, true)",
            [str(NAME_SIMILARITY)],
        )
        return list(
            patients.filter(every_word)
            .annotate(similarity=TrigramWordSimilarity(name, "search_name"))
            .order_by("-similarity", "last_name", "first_name")[:limit]
        )


def emergency_access_of(user, patient: Patient):
    """The emergency access through which `user` reads `patient`'s record now, if that is how
    (for the banner on the patient's pages); None when they see the patient anyway."""
    if patient.organization_id not in access.emergency_organizations(user):
        return None  # no clinical role at a site, or one reaching every site: no query
    held = (
        access.active_emergency_access(user, organization_id=patient.organization_id)
        .filter(patient=patient)
        .order_by("-expires_at")
        .first()
    )
    if held is None or access.can(user, "view", patient, emergency=False):
        return None
    return held


@dataclass(frozen=True)
class MergePreview:
    """What merging `merge_away` into `keep` would do, for the side-by-side page."""

    details: list[tuple[str, str, str, str]]
    """(label, the merged record's, the kept record's, the kept record's after the merge)."""
    rows: list[tuple[str, int, int]]
    """(kind of row, how many the merged record has, how many the kept one has)."""
    clashes: list[str]
    """What stops the merge, in words; empty when nothing does."""


def merge_preview(*, keep: Patient, merge_away: Patient) -> MergePreview:
    """A fixed number of queries: one per kind of row that names a patient, and the clashes."""
    filled = set(merging.filled_details(keep=keep, merge_away=merge_away))
    login_moves = keep.user_id is None and merge_away.user_id is not None
    details = []
    for label, names, shown in _DETAILS:
        theirs, ours = shown(merge_away), shown(keep)
        taken = filled & set(names) or (names == ("user",) and login_moves)
        details.append((label, theirs, ours, theirs if taken else ours))
    counts = merging.row_counts([merge_away, keep])
    return MergePreview(
        details=details,
        rows=[(kind, n.get(merge_away.pk, 0), n.get(keep.pk, 0)) for kind, n in counts],
        clashes=merging.clashes(keep=keep, merge_away=merge_away),
    )


def _emergency_contact(patient: Patient) -> str:
    name = patient.emergency_contact_name
    if patient.emergency_contact_relationship:
        name = f"{name} ({patient.emergency_contact_relationship})"
    return ", ".join(part for part in (name, patient.emergency_contact_phone) if part)


_DETAILS = [
    ("Name", (), lambda patient: patient.full_name),
    ("Date of birth", (), lambda patient: patient.date_of_birth.isoformat()),
    ("Home clinic", (), lambda patient: patient.home_clinic.name),
    ("E-mail", ("email",), lambda patient: patient.email),
    ("Phone", ("phone",), lambda patient: patient.phone),
    ("Address", ("address",), lambda patient: patient.address),
    ("Emergency contact", merging.EMERGENCY_CONTACT, _emergency_contact),
    ("Language", (), lambda patient: patient.get_preferred_language_display()),
    ("Portal login", ("user",), lambda patient: patient.user.email if patient.user else ""),
    ("Registered", (), lambda patient: f"{patient.created_at:%Y-%m-%d}"),
]


def _as_date(text: str) -> datetime.date | None:
    for pattern in ("%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y"):
        try:
            return datetime.datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    return None


# --- Clinical status: flags, screening and consent --------------------------


class ScreeningState:
    MISSING = "missing"
    VALID = "valid"
    EXPIRED = "expired"
    CHANGED = "changed"


class ConsentState:
    MISSING = "missing"
    VALID = "valid"
    OUTDATED = "outdated"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True)
class Flag:
    contraindication: str
    severity: str

    @property
    def label(self) -> str:
        return Contraindication(self.contraindication).label

    @property
    def absolute(self) -> bool:
        return self.severity == Severity.ABSOLUTE


@dataclass(frozen=True)
class Alert:
    level: str  # "danger" or "warning"
    message: str


@dataclass
class ClinicalStatus:
    """Whether a patient may be needled today, and why not."""

    patient_id: uuid.UUID
    age: int
    flags: list[Flag] = field(default_factory=list)
    screening: ScreeningResponse | None = None
    screening_state: str = ScreeningState.MISSING
    screening_valid_until: datetime.datetime | None = None
    consent: ConsentSignature | None = None
    consent_state: str = ConsentState.MISSING
    consent_counts: bool = False
    current_consent_version: int | None = None

    @property
    def absolute_flags(self) -> list[Flag]:
        return [flag for flag in self.flags if flag.absolute]

    @property
    def relative_flags(self) -> list[Flag]:
        return [flag for flag in self.flags if not flag.absolute]

    @property
    def screening_valid(self) -> bool:
        return self.screening_state == ScreeningState.VALID

    @property
    def consent_valid(self) -> bool:
        return self.consent_state == ConsentState.VALID or (
            self.consent_state == ConsentState.OUTDATED and self.consent_counts
        )

    @property
    def alerts(self) -> list[Alert]:
        alerts = [
            Alert("danger", f"Absolute contraindication: {flag.label}. Needling is refused.")
            for flag in self.absolute_flags
        ]
        alerts += [
            Alert(
                "warning", f"Relative contraindication: {flag.label}. Record a reason to proceed."
            )
            for flag in self.relative_flags
        ]
        screening = {
            ScreeningState.MISSING: "No screening yet: the patient answers it before needling.",
            ScreeningState.EXPIRED: "The screening has expired: the patient answers it again.",
            ScreeningState.CHANGED: "The patient reported a change in health: screen again.",
        }.get(self.screening_state)
        if screening:
            alerts.append(Alert("danger", screening))
        if self.consent_state == ConsentState.MISSING:
            alerts.append(Alert("danger", "No signed consent to dry needling."))
        elif self.consent_state == ConsentState.WITHDRAWN:
            alerts.append(Alert("danger", "The patient withdrew consent: no needling."))
        elif self.consent_state == ConsentState.OUTDATED:
            version = self.consent.template_version
            if self.consent_counts:
                alerts.append(
                    Alert(
                        "warning",
                        f"Consent was signed on version {version}; version "
                        f"{self.current_consent_version} is current. Ask the patient to sign it.",
                    )
                )
            else:
                alerts.append(
                    Alert(
                        "danger",
                        f"Consent was signed on version {version}; version "
                        f"{self.current_consent_version} must be signed before needling.",
                    )
                )
        return alerts


def standing_consent(patient: Patient) -> ConsentSignature | None:
    """The signature treatment rests on: the latest, unless a withdrawal came after it.

    Withdrawing any signature withdraws consent: the patient said no.
    """
    latest = ConsentSignature.objects.filter(patient=patient).order_by("-signed_at").first()
    withdrawn = ConsentWithdrawal.objects.filter(patient=patient).order_by("-withdrawn_at").first()
    return _standing(latest, withdrawn)


def _standing(latest: ConsentSignature | None, withdrawal) -> ConsentSignature | None:
    if latest is None or (withdrawal is not None and withdrawal.withdrawn_at >= latest.signed_at):
        return None
    return latest


class SignatureState:
    STANDING = "standing"
    WITHDRAWN = "withdrawn"
    REPLACED = "replaced"


def consent_history(user, patient: Patient) -> list[tuple[ConsentSignature, str]]:
    """The signatures `user` may see, newest first, each with its state."""
    signatures = list(
        access.visible_to(
            user,
            ConsentSignature.objects.filter(patient=patient)
            .select_related("withdrawal")
            .order_by("-signed_at"),
        )
    )
    states = signature_states(signatures)
    return [(signature, states[signature.pk]) for signature in signatures]


def signature_states(signatures) -> dict[uuid.UUID, str]:
    """In force, withdrawn or replaced, for each signature; a fixed number of queries."""
    patients = {signature.patient_id for signature in signatures}
    latest = _newest_per_patient(ConsentSignature.objects, patients, "signed_at")
    withdrawals = _newest_per_patient(ConsentWithdrawal.objects, patients, "withdrawn_at")
    withdrawn = set(
        ConsentWithdrawal.objects.filter(
            signature_id__in=[signature.pk for signature in signatures]
        ).values_list("signature_id", flat=True)
    )
    states = {}
    for signature in signatures:
        newest = latest[signature.patient_id]
        standing = _standing(newest, withdrawals.get(signature.patient_id))
        if standing is not None and standing.pk == signature.pk:
            states[signature.pk] = SignatureState.STANDING
        elif signature.pk in withdrawn or signature.pk == newest.pk:
            # The latest signature without a withdrawal of its own fell with a later
            # withdrawal of an older one: the patient withdrew consent.
            states[signature.pk] = SignatureState.WITHDRAWN
        else:
            states[signature.pk] = SignatureState.REPLACED
    return states


def clinical_status(patient: Patient, *, now: datetime.datetime | None = None) -> ClinicalStatus:
    return clinical_statuses([patient], now=now)[patient.pk]


class PatientList(list):
    """Patients, with their ids written out once for the several queries that ask about all
    of them (`field__any_of=patients.ids`; clinics.lookups.IdList)."""

    @cached_property
    def ids(self) -> IdList:
        return IdList(patient.pk for patient in self)


def clinical_statuses(
    patients: list[Patient], *, now: datetime.datetime | None = None
) -> dict[uuid.UUID, ClinicalStatus]:
    """The status of each patient, in a fixed number of queries however many there are."""
    now = now or timezone.now()
    ids = patients.ids if isinstance(patients, PatientList) else IdList(p.pk for p in patients)
    organizations = {patient.organization_id for patient in patients}
    screenings = _newest_per_patient(ScreeningResponse.objects, ids, "submitted_at")
    consents = _newest_per_patient(
        ConsentSignature.objects.select_related("withdrawal"), ids, "signed_at"
    )
    current_versions = dict(
        ConsentTemplate.objects.filter(organization_id__in=organizations)
        .order_by("organization_id", "-version")
        .distinct("organization_id")
        .values_list("organization_id", "version")
    )
    withdrawals = _newest_per_patient(ConsentWithdrawal.objects, ids, "withdrawn_at")
    counts = dict(
        ClinicalPolicy.objects.filter(organization_id__in=organizations).values_list(
            "organization_id", "outdated_consent_counts"
        )
    )
    statuses = {}
    today_in: dict = {}  # today's date at each home clinic, worked out once each
    for patient in patients:
        patient_id = patient.id  # not .pk: a property, and this loop runs a thousand times
        today = today_in.get(patient.home_clinic_id)
        if today is None:
            zone = patient.home_clinic.zone
            today = today_in[patient.home_clinic_id] = timezone.localdate(now, timezone=zone)
        status = ClinicalStatus(patient_id=patient_id, age=patient.age_on(today))
        if status.age < MINIMUM_AGE:
            status.flags.append(Flag(Contraindication.UNDER_12, Severity.ABSOLUTE))
        screening = screenings.get(patient_id)
        if screening is not None:
            status.screening = screening
            status.flags += [Flag(flag, severity_of(flag)) for flag in screening.flags]
            status.screening_valid_until = screening.valid_until
            if screening.change_reported_at is not None:
                status.screening_state = ScreeningState.CHANGED
            elif status.screening_valid_until <= now:
                status.screening_state = ScreeningState.EXPIRED
            else:
                status.screening_state = ScreeningState.VALID
        consent = consents.get(patient_id)
        status.current_consent_version = current_versions.get(patient.organization_id)
        status.consent_counts = counts.get(patient.organization_id, False)
        if consent is not None:
            status.consent = consent
            if _standing(consent, withdrawals.get(patient_id)) is None:
                status.consent_state = ConsentState.WITHDRAWN
            elif (
                status.current_consent_version is not None
                and consent.template_version < status.current_consent_version
            ):
                status.consent_state = ConsentState.OUTDATED
            else:
                status.consent_state = ConsentState.VALID
        if len(status.flags) > 1:
            status.flags.sort(key=lambda flag: (not flag.absolute, flag.contraindication))
        statuses[patient_id] = status
    return statuses


def _newest_per_patient(rows, patient_ids, time_field: str) -> dict:
    """Each patient's newest row by `time_field`, in one query (DISTINCT ON)."""
    return {
        row.patient_id: row
        for row in rows.filter(patient_id__any_of=patient_ids)
        .order_by("patient_id", f"-{time_field}")
        .distinct("patient_id")
    }
