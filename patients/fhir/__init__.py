"""A patient's record as FHIR R4: each app adds its sections, without patients importing it.

Like `own_record`, an app registers its sections in its AppConfig.ready()
(`register(*SECTIONS)`). A section has a key, the parts of the record it shows
(for the access log) and a function of (reader, patients, referenced) that
yields FHIR resources as dicts: every row of those patients that `reader` may
see, read through `clinics.access.visible_to`, in a fixed number of queries
however many patients there are. The same sections serve one patient's bundle
and an organisation's bulk export.

So a patient's own login gets what the portal shows them (no chart notes, no
needle sites, no alert notes), a therapist the whole record, the front desk the
patient, their consents and their sessions.

The clinics and staff the resources point at (`clinics.fhir.Referenced`) come
once each, with the Organization, at the start of the bundle.
"""

import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from clinics.fhir import Referenced, Resource, instant
from patients.models import Patient, ReadVia, RecordPart
from patients.services import audit

Resources = Callable[[Any, list[Patient], Referenced], Iterable[Resource]]


@dataclass(frozen=True)
class Section:
    """Some of a record's resources: a key, the parts of the record they show, the mapping."""

    key: str
    parts: tuple[RecordPart, ...]
    types: tuple[str, ...]
    """The resource types it writes: a bulk export asked for other types skips it."""
    resources: Resources


_sections: list[Section] = []


def register(*sections: Section) -> None:
    """Add sections to every FHIR export (after those registered before)."""
    for section in sections:
        known = next((known for known in _sections if known.key == section.key), None)
        if known is None:
            _sections.append(section)
        elif known != section:
            raise ValueError(f"Another FHIR section is registered as {section.key!r}.")


def sections() -> list[Section]:
    return list(_sections)


def patient_bundle(reader, patient: Patient, *, via: ReadVia) -> Resource:
    """Everything about `patient` that `reader` may see, as a Bundle of type "collection".

    Each part of the record the bundle shows is written to the access log.
    """
    referenced = Referenced()
    found: list[Resource] = []
    shown: list[RecordPart] = []
    for section in _sections:
        resources = list(section.resources(reader, [patient], referenced))
        if resources:
            found += resources
            shown += [part for part in section.parts if part not in shown]
    for part in shown:
        audit.record_read(reader=reader, patient=patient, part=part, via=via)
    return bundle([*referenced.resources(reader, patient.organization), *found])


def bundle(resources: list[Resource]) -> Resource:
    """A Bundle of `resources`, each with a `urn:uuid:` full URL that its references use."""
    present = {(resource["resourceType"], resource["id"]) for resource in resources}
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"lastUpdated": instant(timezone.now())},
        "type": "collection",
        "timestamp": instant(timezone.now()),
        "entry": [
            {"fullUrl": f"urn:uuid:{resource['id']}", "resource": _within(resource, present)}
            for resource in resources
        ],
    }


_RELATIVE = re.compile(r"^([A-Za-z]+)/([0-9a-f-]{36})$")


def _within(value, present: set):
    """`value` with its references to resources of the bundle written as their full URLs,
    so a receiver resolves them without a server to ask."""
    if isinstance(value, dict):
        copied = {key: _within(inner, present) for key, inner in value.items()}
        target = copied.get("reference")
        match = _RELATIVE.match(target) if isinstance(target, str) else None
        if match and (match[1], match[2]) in present:
            copied["reference"] = f"urn:uuid:{match[2]}"
            copied["type"] = match[1]
        return copied
    if isinstance(value, list):
        return [_within(inner, present) for inner in value]
    return value


# --- A whole organisation (bulk export) ---------------------------------------------

STAFF_TYPES = ("Organization", "Location", "Practitioner", "PractitionerRole")
"""The clinics and staff that the patients' resources point at (`Referenced`)."""
SHARED_TYPES = frozenset({*STAFF_TYPES, "Questionnaire"})
"""Types whose resources many patients' resources share: a bulk export writes each once."""


def resource_types() -> list[str]:
    """Every type a record's export may hold, in the order a reader would want them."""
    known = list(STAFF_TYPES)
    for section in _sections:
        known += [kind for kind in section.types if kind not in known]
    return known


def chunk(reader, organization, patients: list[Patient], *, types=()) -> list[Resource]:
    """The resources of `patients` (a chunk of an organisation's) and of the clinics and staff
    they point at; only the sections that write one of `types`, when there are any."""
    wanted = set(types)
    referenced = Referenced()
    found: list[Resource] = []
    for section in _sections:
        if wanted and not wanted & {*section.types, *STAFF_TYPES}:
            continue
        found += section.resources(reader, patients, referenced)
    return [*referenced.resources(reader, organization), *found]
