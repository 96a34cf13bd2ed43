"""The intake: presenting complaint, pain areas, medical history, activity and goals."""

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from patients import selectors
from patients.exceptions import EditConflict, NotPermitted
from patients.models import Channel, Intake, Patient, Surgery

INTAKE_FIELDS = (
    "presenting_complaint",
    "pain_areas",
    "conditions",
    "medications",
    "allergies",
    "activity_level",
    "goals",
)


@transaction.atomic
def save_intake(
    *,
    patient: Patient,
    by,
    surgeries: list[tuple[str, datetime.date]] = (),
    expected_version: int | None = None,
    **fields,
) -> Intake:
    """Create or replace the patient's intake (one per patient).

    With `expected_version`, a save over someone else's newer one is refused
    (EditConflict), unless it says exactly what is already saved: then it was
    the same form sent twice, and the saved intake is the answer.
    """
    unknown = set(fields) - set(INTAKE_FIELDS)
    if unknown:
        raise TypeError(f"unexpected fields: {', '.join(sorted(unknown))}")
    patient = (
        Patient.objects.select_for_update(of=("self",))
        .select_related("home_clinic")
        .get(pk=patient.pk)
    )
    intake = Intake.objects.filter(patient=patient).first()
    action = "add" if intake is None else "change"
    if not selectors.may(by, action, Intake, patient):
        raise NotPermitted("Your role does not allow you to record this patient's intake.")
    fields = _cleaned(fields)
    surgeries = _cleaned_surgeries(
        surgeries, today=timezone.localdate(timezone=patient.home_clinic.zone)
    )
    if intake is not None and expected_version is not None and expected_version != intake.version:
        if _same(intake, fields, surgeries):
            return intake
        raise EditConflict(
            "Someone else saved this intake after you opened it. Reload to see their "
            "answers, then make your changes again.",
            field="version",
        )
    if intake is None:
        intake = Intake(organization_id=patient.organization_id, patient=patient, version=0)
    for name, value in fields.items():
        setattr(intake, name, value)
    intake.channel = Channel.PORTAL if patient.user_id == by.pk else Channel.CLINIC
    intake.updated_by = by
    intake.version += 1
    intake.full_clean(exclude=["patient", "updated_by"], validate_unique=False)
    intake.save()
    _replace_surgeries(patient, surgeries)
    return intake


def _cleaned(fields: dict) -> dict:
    for name in ("conditions", "medications", "allergies", "pain_areas"):
        if name in fields:
            fields[name] = _unique_lines(fields[name])
    for name in ("presenting_complaint", "goals"):
        if name in fields:
            fields[name] = (fields[name] or "").strip()
    return fields


def _unique_lines(values) -> list[str]:
    seen: dict[str, str] = {}
    for value in values or []:
        value = " ".join(str(value).split())
        if value and value.lower() not in seen:
            seen[value.lower()] = value
    return list(seen.values())


def _cleaned_surgeries(surgeries, *, today: datetime.date) -> list[tuple[str, datetime.date]]:
    cleaned = []
    for position, (description, performed_on) in enumerate(surgeries, start=1):
        description = " ".join((description or "").split())
        if not description:
            raise ValidationError({"surgeries": f"Surgery {position}: say what the operation was."})
        if not isinstance(performed_on, datetime.date):
            raise ValidationError({"surgeries": f"Surgery {position}: give the date it was done."})
        if performed_on > today:
            raise ValidationError(
                {"surgeries": f"Surgery {position} ({description}): the date is in the future."}
            )
        cleaned.append((description[:200], performed_on))
    return sorted(set(cleaned), key=lambda surgery: surgery[1], reverse=True)


def _same(intake: Intake, fields: dict, surgeries) -> bool:
    saved = sorted(
        intake.patient.surgeries.values_list("description", "performed_on"),
        key=lambda surgery: surgery[1],
        reverse=True,
    )
    return saved == surgeries and all(
        getattr(intake, name) == value for name, value in fields.items()
    )


def _replace_surgeries(patient: Patient, surgeries) -> None:
    saved = {(row.description, row.performed_on): row for row in patient.surgeries.all()}
    wanted = set(surgeries)
    Surgery.objects.filter(
        pk__in=[row.pk for key, row in saved.items() if key not in wanted]
    ).delete()
    Surgery.objects.bulk_create(
        Surgery(
            organization_id=patient.organization_id,
            patient=patient,
            description=description,
            performed_on=performed_on,
        )
        for description, performed_on in surgeries
        if (description, performed_on) not in saved
    )
