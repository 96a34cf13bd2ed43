"""FHIR R4 building blocks that every app's mapping uses, and the clinics app's resources.

Each app maps its own rows (patients/fhir, sessions/fhir.py, aftercare/fhir.py) to
plain dicts in FHIR R4's JSON form; the tests parse every one with the R4B classes
of `fhir.resources`. docs/fhir.md lists every resource, element and code.

Codes come from published code systems (SNOMED CT, LOINC, UCUM, HL7's
terminology) where one fits; the rest from Fascia's own code systems, named
`https://fascia.health/fhir/CodeSystem/<name>` (a canonical name: it need not
resolve). Resource ids are Fascia's UUIDs, so an export names the same row the
same way every time.

`Referenced` collects the clinics and staff that a patient's resources point at,
so that the bundle carries each Location and Practitioner once.
"""

import datetime
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from clinics import access
from clinics.models import Clinic, Membership, Organization, Role

Resource = dict[str, Any]

FASCIA = "https://fascia.health/fhir"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
HL7 = "http://terminology.hl7.org/CodeSystem"
TIMEZONE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/timezone"
"""The core extension that carries an IANA timezone (a clinic's clock)."""


def code_system(name: str) -> str:
    """The canonical URL of one of Fascia's own code systems."""
    return f"{FASCIA}/CodeSystem/{name}"


def extension_url(name: str) -> str:
    """The canonical URL of one of Fascia's extensions."""
    return f"{FASCIA}/StructureDefinition/{name}"


def identifier(kind: str, value) -> dict:
    """Fascia's own identifier of a row (`kind` is "patient", "session"...)."""
    return {"system": f"{FASCIA}/sid/{kind}", "value": str(value)}


def coding(system: str, code: str, display: str | None = None) -> dict:
    return {"system": system, "code": code, "display": display}


def concept(*codings: dict | None, text: str | None = None) -> dict:
    """A CodeableConcept of the codings that are not None, and its text."""
    return {"coding": [one for one in codings if one], "text": text}


def fascia_concept(system_name: str, code: str, display: str) -> dict:
    """A CodeableConcept coded only in one of Fascia's code systems."""
    return concept(coding(code_system(system_name), code, display), text=display)


CLINICAL_FLAG = concept(coding(f"{HL7}/flag-category", "clinical", "Clinical"))


def answer_options(system_name: str, choices) -> list[dict]:
    """A Questionnaire item's answerOption: each of a TextChoices, coded in a Fascia system."""
    return [
        {"valueCoding": coding(code_system(system_name), value, str(label))}
        for value, label in choices.choices
    ]


def reference(resource_type: str, id, display: str | None = None) -> dict:
    return {"reference": f"{resource_type}/{id}", "display": display}


def instant(moment: datetime.datetime | None) -> str | None:
    """A time as FHIR's dateTime/instant: ISO 8601 in UTC to the second."""
    if moment is None:
        return None
    return moment.astimezone(datetime.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def day(value: datetime.date | None) -> str | None:
    return value.isoformat() if value else None


def decimal(value: Decimal | int | None) -> float | int | None:
    """A number for JSON: FHIR decimals are JSON numbers."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def quantity(value, unit: str, ucum: str) -> dict | None:
    if value is None:
        return None
    return {"value": decimal(value), "unit": unit, "system": UCUM, "code": ucum}


def extension(name: str, **value) -> dict:
    """One of Fascia's extensions with its value (`valueString="..."`); None when empty."""
    (kind, inner), *_ = value.items()
    if inner in (None, "", [], {}):
        return None
    return {"url": extension_url(name), kind: inner}


_NOT_IN_A_STRING = re.compile(r"[^\S \t\r\n]|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
"""What a FHIR string may not hold: whitespace other than space, tab and line ends (a
no-break space), and control characters."""


def pruned(value):
    """`value` without its empty parts (FHIR allows no null, no "" and no empty list or
    object), its strings in FHIR's alphabet: a no-break space is a space, control characters
    go, and a string of spaces only is empty."""
    if isinstance(value, str):
        cleaned = _NOT_IN_A_STRING.sub(lambda found: " " if found[0].isspace() else "", value)
        return cleaned if cleaned.strip() else None
    if isinstance(value, dict):
        kept = {key: pruned(inner) for key, inner in value.items()}
        return {key: inner for key, inner in kept.items() if inner not in (None, "", [], {})}
    if isinstance(value, list):
        kept = [pruned(inner) for inner in value]
        return [inner for inner in kept if inner not in (None, "", [], {})]
    return value


# --- The clinics app's resources -------------------------------------------------

ROLE_CODES = {
    Role.ORG_ADMIN: "org-admin",
    Role.CLINIC_MANAGER: "clinic-manager",
    Role.THERAPIST: "therapist",
    Role.FRONT_DESK: "front-desk",
}


def organization(org: Organization) -> Resource:
    return pruned(
        {
            "resourceType": "Organization",
            "id": str(org.pk),
            "identifier": [identifier("organization", org.pk)],
            "active": True,
            "name": org.name,
        }
    )


def location(clinic: Clinic) -> Resource:
    """A clinic site: its address, phone and clock."""
    return pruned(
        {
            "resourceType": "Location",
            "id": str(clinic.pk),
            "identifier": [identifier("clinic", clinic.pk)],
            "status": "active" if clinic.is_active else "inactive",
            "name": clinic.name,
            "mode": "instance",
            "telecom": [{"system": "phone", "value": clinic.phone, "use": "work"}]
            if clinic.phone
            else [],
            "address": {"text": clinic.address},
            "managingOrganization": reference("Organization", clinic.organization_id),
            "extension": [{"url": TIMEZONE_EXTENSION, "valueCode": clinic.timezone}],
        }
    )


def practitioner(user, memberships: Iterable[Membership]) -> Resource:
    """A member of staff by name; their dry-needling credential as a qualification.

    Only the name and the credential: no e-mail, no login.
    """
    credentials = {
        (held.credential, held.credential_expires_on) for held in memberships if held.credential
    }
    return pruned(
        {
            "resourceType": "Practitioner",
            "id": str(user.pk),
            "identifier": [identifier("staff", user.pk)],
            "name": [{"text": user.full_name}] if user.full_name else [],
            "qualification": [
                {
                    "code": concept(
                        coding(code_system("qualification"), "dry-needling", "Dry needling"),
                        text=credential,
                    ),
                    "period": {"end": day(expires_on)},
                }
                for credential, expires_on in sorted(credentials, key=lambda held: held[0])
            ],
        }
    )


def practitioner_role(membership: Membership) -> Resource:
    """One role of one member of staff, at a clinic or across the organisation."""
    return pruned(
        {
            "resourceType": "PractitionerRole",
            "id": str(membership.pk),
            "active": True,
            "practitioner": reference("Practitioner", membership.user_id),
            "organization": reference("Organization", membership.organization_id),
            "location": [reference("Location", membership.clinic_id)]
            if membership.clinic_id
            else [],
            "code": [
                fascia_concept(
                    "staff-role", ROLE_CODES[membership.role], membership.get_role_display()
                )
            ],
        }
    )


@dataclass
class Referenced:
    """The clinics and staff that an export's resources point at, each kept once."""

    clinics: dict = field(default_factory=dict)
    staff: dict = field(default_factory=dict)

    def location(self, clinic: Clinic) -> dict:
        self.clinics[clinic.pk] = clinic
        return reference("Location", clinic.pk, clinic.name)

    def practitioner(self, user) -> dict | None:
        if user is None:
            return None
        self.staff[user.pk] = user
        return reference("Practitioner", user.pk, user.full_name or None)

    def resources(self, reader, org: Organization) -> list[Resource]:
        """The Organization, and a Location, Practitioner and PractitionerRoles for each one
        pointed at. The roles and credentials are those `reader` may see (none, for a
        patient's own login: their therapist is then a name)."""
        memberships = list(
            access.visible_to(
                reader,
                Membership.objects.filter(organization=org, user_id__in=list(self.staff))
                .select_related("clinic")
                .order_by("created_at", "pk"),
            )
        )
        held: dict = {}
        for membership in memberships:
            held.setdefault(membership.user_id, []).append(membership)
            if membership.clinic is not None:  # a role's clinic is a Location of the bundle too
                self.clinics.setdefault(membership.clinic_id, membership.clinic)
        return [
            organization(org),
            *(location(clinic) for clinic in self.clinics.values()),
            *(practitioner(user, held.get(user.pk, ())) for user in self.staff.values()),
            *(practitioner_role(membership) for membership in memberships),
        ]
