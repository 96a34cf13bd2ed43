"""A patient's own record, to download: each app adds its part, without patients importing it.

Like `panels.py` does for page sections, an app registers its parts in its
AppConfig.ready() (`register(*PARTS)`). A part has a key ("intake"), a title
("Your intake") and a function of (user, patient) that returns its items: a
list of dicts with snake_case keys, whose values are str, int, bool, None,
dates and (aware) datetimes, lists of those, or lists of dicts (a plan's
exercises). `own_record` puts the parts together in the order they were
registered; `as_json` writes it with dates as ISO 8601 and times in UTC;
`for_page` lays it out for the printable page, in the home clinic's time.

A part reads only through `clinics.access.visible_to` with the patient's own
login, so it holds what the patient may see: their own rows. The chart rows
(SOAP notes, needle sites, addenda) and the staff's alert notes are
staff-only and never reach a part.

This module also holds the patients app's own parts: details, intake,
screening answers and consents.
"""

import datetime
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Prefetch
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import Promise

from clinics import access
from patients.contraindications import Contraindication
from patients.models import (
    ConsentSignature,
    ConsentWithdrawal,
    Intake,
    PainArea,
    Patient,
    ScreeningAnswer,
    ScreeningResponse,
    Surgery,
)

Item = dict[str, Any]
Items = Callable[[Any, Patient], list[Item]]


@dataclass(frozen=True)
class Part:
    """One part of the record: its key, the heading the patient reads, and its items."""

    key: str
    title: str
    items: Items


_parts: list[Part] = []


def register(*parts: Part) -> None:
    """Add parts to every patient's record (after those registered before)."""
    for part in parts:
        known = next((known for known in _parts if known.key == part.key), None)
        if known is None:
            _parts.append(part)
        elif known != part:
            raise ValueError(f"Another part of the record is registered as {part.key!r}.")


def own_record(user, patient: Patient) -> dict[str, Any]:
    """`patient`'s record as their own login `user` may read it, part by part."""
    if patient.user_id is None or patient.user_id != user.pk:
        # The parts read what `user` may see: for staff that is the clinic's
        # view of the patient, not the patient's own record.
        raise ValueError("A patient's own record is read with their own login.")
    return {
        "patient": {
            "name": patient.full_name,
            "date_of_birth": patient.date_of_birth,
            "organization": patient.organization.name,
            "home_clinic": patient.home_clinic.name,
        },
        "generated_at": timezone.now(),
        "parts": [
            {"key": part.key, "title": part.title, "items": part.items(user, patient)}
            for part in _parts
        ],
    }


# --- Writing it out --------------------------------------------------------------


def as_json(record: dict[str, Any]) -> str:
    """The record as JSON: dates as YYYY-MM-DD, times as ISO 8601 in UTC."""
    return json.dumps(_plain(record), indent=2, ensure_ascii=False)


def _plain(value):
    if isinstance(value, datetime.datetime):
        utc = value.astimezone(datetime.UTC).isoformat(timespec="seconds")
        return utc.replace("+00:00", "Z")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(key): _plain(inner) for key, inner in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(inner) for inner in value]
    if isinstance(value, Promise | Decimal):
        return str(value)
    if value is None or isinstance(value, str | int | float):
        return value
    raise TypeError(f"A record holds no {type(value).__name__}.")


@dataclass(frozen=True)
class Shown:
    """One line of an item on the printable page.

    `kind` is "text", "long" (text with line breaks), "hash" (a key ending in
    "sha256"), "list" (of texts) or "items" (nested items, each a list of Shown).
    """

    label: str
    kind: str
    value: Any


_WORDS = {
    "sha256": "SHA-256",
    "email": "e-mail",
    "organization": "organisation",
    "seconds": "(seconds)",
}


def label_of(key: str) -> str:
    """A key as a label: "text_sha256" becomes "Text SHA-256"."""
    text = " ".join(_WORDS.get(word, word) for word in key.split("_"))
    return text[:1].upper() + text[1:]


def for_page(record: dict[str, Any], zone: datetime.tzinfo) -> list[dict[str, Any]]:
    """The parts with each item as labelled lines, times shown in `zone`."""
    return [
        {
            "key": part["key"],
            "title": part["title"],
            "items": [_lines(item, zone) for item in part["items"]],
        }
        for part in record["parts"]
    ]


def _lines(item: Item, zone, *, nested: bool = False) -> list[Shown]:
    return [_line(key, value, zone, nested=nested) for key, value in item.items()]


def _line(key: str, value, zone, *, nested: bool) -> Shown:
    label = label_of(key)
    if isinstance(value, list | tuple):
        if value and not nested and all(isinstance(inner, dict) for inner in value):
            return Shown(label, "items", [_lines(inner, zone, nested=True) for inner in value])
        # The page nests one level: deeper items are shown as lines of text.
        return Shown(label, "list", [_text(inner, zone) for inner in value])
    text = _text(value, zone)
    if key.endswith("sha256"):
        return Shown(label, "hash", text)
    return Shown(label, "long" if "\n" in text else "text", text)


def _text(value, zone) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, datetime.datetime):
        return date_format(timezone.localtime(value, zone), "j F Y, H:i T")
    if isinstance(value, datetime.date):
        return date_format(value, "j F Y")
    if isinstance(value, dict):
        return "; ".join(f"{label_of(key)}: {_text(inner, zone)}" for key, inner in value.items())
    return str(value)


# --- The patients app's parts ----------------------------------------------------


def details(user, patient: Patient) -> list[Item]:
    """Who the patient is, how to reach them, and where they are treated."""
    own = (
        access.visible_to(user, Patient.objects.filter(pk=patient.pk))
        .select_related("home_clinic", "organization")
        .first()
    )
    if own is None:
        return []
    return [
        {
            "first_name": own.first_name,
            "last_name": own.last_name,
            "date_of_birth": own.date_of_birth,
            "email": own.email,
            "phone": own.phone,
            "address": own.address,
            "emergency_contact_name": own.emergency_contact_name,
            "emergency_contact_relationship": own.emergency_contact_relationship,
            "emergency_contact_phone": own.emergency_contact_phone,
            "preferred_language": own.get_preferred_language_display(),
            "home_clinic": own.home_clinic.name,
            "organization": own.organization.name,
        }
    ]


def intake(user, patient: Patient) -> list[Item]:
    """The intake as last saved, with the past surgeries."""
    saved = access.visible_to(user, Intake.objects.filter(patient=patient)).first()
    if saved is None:
        return []
    surgeries = access.visible_to(user, Surgery.objects.filter(patient=patient)).order_by(
        "-performed_on"
    )
    areas = dict(PainArea.choices)
    return [
        {
            "presenting_complaint": saved.presenting_complaint,
            "pain_areas": [str(areas.get(area, area)) for area in saved.pain_areas],
            "conditions": list(saved.conditions),
            "medications": list(saved.medications),
            "allergies": list(saved.allergies),
            "activity_level": saved.get_activity_level_display(),
            "goals": saved.goals,
            "surgeries": [
                {"description": surgery.description, "performed_on": surgery.performed_on}
                for surgery in surgeries
            ],
            "updated_at": saved.updated_at,
            "captured": saved.get_channel_display(),
        }
    ]


def screening(user, patient: Patient) -> list[Item]:
    """Every screening, newest first: each question with the answer and its details."""
    answers = access.visible_to(user, ScreeningAnswer.objects.select_related("question"))
    responses = (
        access.visible_to(user, ScreeningResponse.objects.filter(patient=patient))
        .select_related("questionnaire")
        .prefetch_related(Prefetch("answers", queryset=answers.order_by("question__position")))
        .order_by("-submitted_at")
    )
    flags = dict(Contraindication.choices)
    return [
        {
            "answered_at": response.submitted_at,
            "questionnaire_version": response.questionnaire.version,
            "captured": response.get_channel_display(),
            "contraindications": [str(flags.get(flag, flag)) for flag in response.flags],
            "health_change_reported_at": response.change_reported_at,
            "health_change": response.change_note,
            "answers": [
                {
                    "question": answer.question.text,
                    "answer": answer.answer,
                    "detail": answer.detail,
                }
                for answer in response.answers.all()
            ],
        }
        for response in responses
    ]


def consents(user, patient: Patient) -> list[Item]:
    """Every signature, newest first: the exact text signed, its hash, and any withdrawal."""
    signatures = (
        access.visible_to(user, ConsentSignature.objects.filter(patient=patient))
        .prefetch_related(
            Prefetch(
                "withdrawal", queryset=access.visible_to(user, ConsentWithdrawal.objects.all())
            )
        )
        .order_by("-signed_at")
    )
    items = []
    for signature in signatures:
        withdrawal = getattr(signature, "withdrawal", None)
        items.append(
            {
                "version": signature.template_version,
                "signed_at": signature.signed_at,
                "signer_name": signature.signer_name,
                "guardian_relationship": signature.guardian_relationship,
                "captured": signature.get_channel_display(),
                "text": signature.text,
                "text_sha256": signature.text_sha256,
                "withdrawn_at": withdrawal.withdrawn_at if withdrawal else None,
                "withdrawal_reason": withdrawal.reason if withdrawal else None,
                "withdrawal_captured": withdrawal.get_channel_display() if withdrawal else None,
            }
        )
    return items


PARTS = (
    Part(key="details", title="Your details", items=details),
    Part(key="intake", title="Your intake", items=intake),
    Part(key="screening", title="Your screening answers", items=screening),
    Part(key="consents", title="Your consents", items=consents),
)
