"""The patient sees, in the portal, who at the clinic opened their record and when."""

import datetime

import time_machine
from django.urls import reverse

from clinics.models import Membership
from patients.models import ReadVia, RecordPart
from patients.services import record_read, record_reads
from tests.patients.factories import PatientFactory, with_portal_login

READS = reverse("portal:record_reads")
SOON = datetime.datetime(2026, 3, 2, 9, 30, tzinfo=datetime.UTC)


def test_the_patient_sees_each_staff_read_with_name_role_and_clinic_newest_first(
    world, patient, patient_user, client_of
):
    with time_machine.travel(SOON, tick=False):
        client_of(world.therapist).get(reverse("patients:detail", args=[patient.pk]))
    with time_machine.travel(SOON + datetime.timedelta(hours=2), tick=False):
        record_read(
            reader=world.org_admin, patient=patient, part=RecordPart.INTAKE, via=ReadVia.ADMIN
        )
    page = client_of(patient_user).get(READS)
    assert page.status_code == 200
    reads = list(page.context["page"].object_list)
    assert [read.reader for read in reads[:1]] == [world.org_admin.get_full_name()]
    assert reads[0].roles == "Organisation admin, all clinics"
    assert reads[0].part == "Intake"
    therapist = [read for read in reads if read.reader == world.therapist.get_full_name()]
    assert therapist and therapist[0].roles == "Therapist, Kelowna"
    assert all(read.read_at <= reads[0].read_at for read in reads)
    text = page.content.decode()
    assert world.therapist.get_full_name() in text and "2 Mar 2026" in text


def test_the_patients_own_reads_are_not_listed_and_former_staff_say_so(
    world, patient, patient_user, client_of
):
    client_of(patient_user).get(reverse("portal:record"))  # logs the patient's own reads
    record_read(reader=world.manager, patient=patient, part=RecordPart.DETAILS, via=ReadVia.PAGE)
    Membership.objects.filter(user=world.manager).delete()
    reads = list(client_of(patient_user).get(READS).context["page"].object_list)
    assert [(read.reader, read.roles) for read in reads] == [
        (world.manager.get_full_name(), "No longer on staff")
    ]


def test_a_list_that_showed_the_patient_among_others_is_one_read_of_theirs(
    world, patient, patient_user, client_of
):
    others = PatientFactory.create_batch(2, home_clinic=world.kelowna)
    record_reads(
        reader=world.front_desk, patients=[*others, patient], part=RecordPart.LIST, via="page"
    )
    reads = list(client_of(patient_user).get(READS).context["page"].object_list)
    assert [(read.reader, read.part) for read in reads] == [
        (world.front_desk.get_full_name(), "Patient list")
    ]
    record_reads(reader=world.front_desk, patients=others, part=RecordPart.LIST, via="page")
    assert len(client_of(patient_user).get(READS).context["page"].object_list) == 1


def test_another_patient_sees_only_reads_of_their_own_record(world, patient, client_of):
    record_read(reader=world.therapist, patient=patient, part=RecordPart.DETAILS, via=ReadVia.PAGE)
    kit = with_portal_login(PatientFactory(home_clinic=world.kelowna))
    page = client_of(kit.user).get(READS)
    assert list(page.context["page"].object_list) == []
    assert "Nobody at the clinic has opened your record yet." in page.content.decode()


def test_the_page_costs_the_same_queries_however_many_reads(
    world, patient, patient_user, client_of, django_assert_max_num_queries
):
    client = client_of(patient_user)
    record_read(reader=world.therapist, patient=patient, part=RecordPart.DETAILS, via=ReadVia.PAGE)
    with django_assert_max_num_queries(30) as few:
        client.get(READS)
    for reader in (world.manager, world.org_admin, world.front_desk, world.vernon_therapist) * 5:
        record_read(reader=reader, patient=patient, part=RecordPart.DETAILS, via=ReadVia.PAGE)
    with django_assert_max_num_queries(len(few)):
        client.get(READS)
