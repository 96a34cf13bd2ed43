"""The access log: reads of a patient's record are kept, and cannot be changed or erased."""

import pytest
from django.db import ProgrammingError, transaction

from clinics import access
from patients import services
from patients.models import ReadVia, RecordPart, RecordRead
from tests.patients.factories import PatientFactory


def test_a_read_is_logged_with_who_what_and_how(world, patient):
    services.record_read(
        reader=world.therapist, patient=patient, part=RecordPart.INTAKE, via=ReadVia.API
    )
    read = RecordRead.objects.get()
    assert (read.organization, read.patient, read.reader) == (
        world.organization,
        patient,
        world.therapist,
    )
    assert (read.part, read.via) == ("intake", "api")


def test_the_log_cannot_be_changed_or_erased(world, patient):
    services.record_read(
        reader=world.therapist, patient=patient, part=RecordPart.DETAILS, via=ReadVia.PAGE
    )
    with pytest.raises(ProgrammingError), transaction.atomic():
        RecordRead.objects.update(reader=world.org_admin)
    with pytest.raises(ProgrammingError), transaction.atomic():
        RecordRead.objects.all().delete()
    assert RecordRead.objects.get().reader == world.therapist


def test_only_organisation_admins_read_the_log(world, patient):
    services.record_read(
        reader=world.therapist, patient=patient, part=RecordPart.DETAILS, via=ReadVia.PAGE
    )
    readers = {
        role: access.visible_to(person, RecordRead.objects.all()).count()
        for role, person in world.staff_by_role().items()
    }
    assert readers == {"org_admin": 1, "clinic_manager": 0, "therapist": 0, "front_desk": 0}
    assert access.visible_to(world.other_admin, RecordRead.objects.all()).count() == 0
    assert access.visible_to(patient.user, RecordRead.objects.all()).count() == 0


def test_a_list_of_records_is_one_read_naming_each_patient_once(
    world, patient, django_assert_num_queries
):
    others = [PatientFactory(home_clinic=world.kelowna) for _ in range(3)]
    with django_assert_num_queries(1):
        services.record_reads(
            reader=world.therapist,
            patients=[patient, *others, patient],
            part=RecordPart.SCREENING,
            via=ReadVia.API,
        )
    (listed,) = RecordRead.objects.filter(part="screening")
    assert sorted(listed.patient_ids) == sorted(p.pk for p in [patient, *others])
    assert RecordRead.objects.of_patients([others[1].pk]).get() == listed
