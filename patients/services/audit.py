"""The access log: every read of a patient's record is written down."""

from patients.models import Patient, ReadVia, RecordPart, RecordRead


def record_reads(*, reader, patients, part: RecordPart, via: ReadVia) -> None:
    """Log one read per patient of a list that showed `part` of their records (one insert)."""
    RecordRead.objects.bulk_create(
        RecordRead(
            organization_id=patient.organization_id,
            patient=patient,
            reader=reader,
            part=part,
            via=via,
        )
        for patient in {patient.pk: patient for patient in patients}.values()
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
