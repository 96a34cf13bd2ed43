"""Who opened a patient's record: the access log as the patient sees it in the portal.

Each read by someone else (staff, or the platform operator through the admin), of
this record or one merged into it, with the reader's name, their roles in the
patient's organisation and where they hold them, newest first. Roles are the
reader's current ones: the log keeps who read, and a role removed since shows as
"no longer on staff".
"""

import datetime
from collections import defaultdict
from dataclasses import dataclass

from django.core.paginator import Page, Paginator

from clinics.models import Membership
from patients.models import Patient, RecordRead

PAGE_SIZE = 50


@dataclass(frozen=True)
class Read:
    read_at: datetime.datetime
    reader: str
    roles: str
    part: str


def reads_by_others(patient: Patient, *, page_number) -> Page:
    """One page of the reads of `patient`'s record by anyone but the patient's own login."""
    # A record merged into this one keeps its reads (the chain covers the patient).
    merged = Patient.all_records.filter(merged_into=patient).values_list("pk", flat=True)
    reads = (
        RecordRead.objects.filter(organization_id=patient.organization_id)
        .of_patients([patient.pk, *merged])
        .exclude(reader_id=patient.user_id)
        .select_related("reader")
        .order_by("-read_at", "-id")
    )
    page = Paginator(reads, PAGE_SIZE).get_page(page_number)
    roles = _roles_of({read.reader_id for read in page.object_list}, patient.organization_id)
    page.object_list = [
        Read(
            read_at=read.read_at,
            reader=read.reader.get_full_name(),
            roles=roles.get(read.reader_id)
            or ("Platform operator" if read.reader.is_superuser else "No longer on staff"),
            part=read.get_part_display(),
        )
        for read in page.object_list
    ]
    return page


def _roles_of(readers: set, organization_id) -> dict:
    held = defaultdict(list)
    for membership in (
        Membership.objects.filter(organization_id=organization_id, user_id__in=readers)
        .select_related("clinic")
        .order_by("role", "clinic__name")
    ):
        where = membership.clinic.name if membership.clinic_id else "all clinics"
        held[membership.user_id].append(f"{membership.get_role_display()}, {where}")
    return {reader: "; ".join(roles) for reader, roles in held.items()}
