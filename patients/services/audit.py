"""The access log: every read of a patient's record is written down."""

from patients.models import Patient, ReadVia, RecordPart, RecordRead


def record_reads(*, reader, patients, part: RecordPart, via: ReadVia) -> None:
    """Log one read per patient of a list that showed `part` of their records (one insert).

    Rows go in by organisation: each organisation's chain is locked as its first row is
    chained (clinics/audit_chain.py), so two lists spanning the same organisations lock
    them in one order and never wait for each other in a circle.
    """
    unique = {patient.pk: patient for patient in patients}.values()
    RecordRead.objects.bulk_create(
        RecordRead(
            organization_id=patient.organization_id,
            patient=patient,
            reader=reader,
            part=part,
            via=via,
        )
        for patient in sorted(unique, key=lambda patient: str(patient.organization_id))
    )


def record_read(*, reader, patient: Patient, part: RecordPart, via: ReadVia, item=None) -> None:
    """Log that `reader` opened `part` of `patient`'s record (call after access was granted).

    `item` is the one read where the part has many (the session whose chart it was).
    """
    RecordRead.objects.create(
        organization_id=patient.organization_id,
        patient=patient,
        reader=reader,
        part=part,
        via=via,
        item_id=getattr(item, "pk", None),
    )
