"""Many ids in one array (`__any_of`, IdList) and many links from one reverse() (url_maker):
the calendars' shortcuts find the same rows and write the same links as the long way."""

import uuid

import pytest
from django.urls import reverse

from clinics.lookups import IdList
from clinics.routes import url_maker
from patients.models import Patient
from tests.patients.factories import PatientFactory


def test_any_of_finds_exactly_the_rows_named_however_the_ids_are_given(world):
    ada, ben, _cy = PatientFactory.create_batch(3, home_clinic=world.kelowna)
    wanted = {ada.pk, ben.pk}
    for ids in ([ada.pk, ben.pk], [str(ada.pk), ben.pk.hex], IdList([ada.pk, ben.pk])):
        assert set(Patient.objects.filter(pk__any_of=ids).values_list("pk", flat=True)) == wanted
    assert not Patient.objects.filter(pk__any_of=[])
    assert not Patient.objects.filter(pk__any_of=[uuid.uuid4()])


def test_one_id_list_serves_several_queries_and_refuses_what_is_not_an_id(world):
    ada = PatientFactory(home_clinic=world.kelowna)
    ids = IdList([ada.pk])
    assert Patient.objects.filter(pk__any_of=ids).get() == ada
    assert Patient.objects.filter(pk__any_of=ids, first_name=ada.first_name).get() == ada
    with pytest.raises(ValueError, match="hexadecimal"):
        list(Patient.objects.filter(pk__any_of=["1; DROP TABLE patients_patient"]))


def test_links_made_from_one_reverse_are_the_links_reverse_makes():
    first, second = uuid.uuid4(), uuid.uuid4()
    assert url_maker("sessions:detail")(first) == reverse("sessions:detail", args=[first])
    screening = url_maker("patients:screening_detail", 2)
    assert screening(first, second) == reverse("patients:screening_detail", args=[first, second])
