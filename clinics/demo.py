"""Demo organisations, sites and staff. Idempotent: a second run adds nothing."""

import datetime
import zlib

from allauth.account.models import EmailAddress
from django.utils import timezone

from accounts.models import User
from clinics.models import Clinic, Membership, Organization, Role

DEMO_PASSWORD = "fascia-demo-2026"  # noqa: S105  (printed for the local demo, by design)

ORGANIZATIONS = [
    {
        "name": "Fascia Demo Physiotherapy",
        "clinics": [
            {
                "name": "Kelowna",
                "address": "1450 Water Street\nKelowna, BC V1Y 1J4",
                "phone": "+1 250 555 0142",
                "timezone": "America/Vancouver",
            },
            {
                "name": "Toronto",
                "address": "220 King Street West\nToronto, ON M5H 1K4",
                "phone": "+1 416 555 0187",
                "timezone": "America/Toronto",
            },
        ],
        "staff": [
            ("admin@demo.fascia.test", "Olivia Marchand", Role.ORG_ADMIN, None),
            ("manager@demo.fascia.test", "Marcus Lee", Role.CLINIC_MANAGER, "Toronto"),
            ("therapist@demo.fascia.test", "Priya Natarajan", Role.THERAPIST, "Kelowna"),
            ("therapist2@demo.fascia.test", "Daniel Okafor", Role.THERAPIST, "Toronto"),
            ("frontdesk@demo.fascia.test", "Sam Fortier", Role.FRONT_DESK, "Kelowna"),
        ],
    },
    {
        "name": "Harbourside Needling Co.",
        "clinics": [
            {
                "name": "Halifax",
                "address": "1800 Lower Water Street\nHalifax, NS B3J 1S2",
                "phone": "+1 902 555 0110",
                "timezone": "America/Halifax",
            },
        ],
        "staff": [
            ("admin@harbourside.fascia.test", "Grace Whitman", Role.ORG_ADMIN, None),
            ("therapist@harbourside.fascia.test", "Liam Doucet", Role.THERAPIST, "Halifax"),
        ],
    },
]


def load() -> list[tuple[str, str]]:
    """Create the demo data; return (who, e-mail) for each demo login."""
    logins = []
    for spec in ORGANIZATIONS:
        organization, _ = Organization.objects.get_or_create(name=spec["name"])
        clinics = {}
        for clinic_spec in spec["clinics"]:
            fields = dict(clinic_spec)
            name = fields.pop("name")
            clinics[name], _ = Clinic.objects.get_or_create(
                organization=organization, name=name, defaults=fields
            )
        for email, full_name, role, clinic_name in spec["staff"]:
            user = _demo_user(email, full_name)
            Membership.objects.get_or_create(
                organization=organization,
                user=user,
                clinic=clinics.get(clinic_name),
                role=role,
                defaults=_credential(email) if role == Role.THERAPIST else {},
            )
            where = clinic_name or "all sites"
            logins.append((f"{Role(role).label}, {organization.name} ({where})", email))
    return logins


CREDENTIAL_DAYS_LEFT = {"therapist2@demo.fascia.test": 21}
"""Daniel's credential ends in three weeks: the sites page lists it to renew."""


def _credential(email: str) -> dict:
    days = CREDENTIAL_DAYS_LEFT.get(email, 400)
    return {
        "credential": f"Dry needling certificate DN-{zlib.crc32(email.encode()) % 9000 + 1000}",
        "credential_expires_on": timezone.localdate() + datetime.timedelta(days=days),
    }


def _demo_user(email: str, full_name: str) -> User:
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(email=email, password=DEMO_PASSWORD, full_name=full_name)
    EmailAddress.objects.get_or_create(
        user=user, email=email, defaults={"primary": True, "verified": True}
    )
    return user
