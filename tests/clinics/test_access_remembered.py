"""Within one request `access.can` asks the database each question once, and asks again
after any row is saved or deleted or the person's roles change."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from clinics import access
from clinics.models import Membership


def test_a_request_asks_once_whether_the_therapist_may_see_the_patient(world, patient):
    with access.answers_remembered(), CaptureQueriesContext(connection) as queries:
        answers = [access.can(world.therapist, "view", patient) for _ in range(3)]
    assert answers == [True, True, True]
    asked = [query for query in queries if '"patients_patient"' in query["sql"]]
    assert len(asked) == 1


def test_outside_a_request_every_question_is_asked(world, patient):
    with CaptureQueriesContext(connection) as queries:
        access.can(world.therapist, "view", patient)
        access.can(world.therapist, "view", patient)
    assert len([query for query in queries if '"patients_patient"' in query["sql"]]) == 2


def test_a_patient_moved_to_another_clinic_is_asked_about_again(world, patient):
    with access.answers_remembered():
        assert access.can(world.therapist, "change", patient)
        patient.home_clinic = world.vernon
        patient.save()
        assert not access.can(world.therapist, "change", patient)


def test_a_therapist_moved_to_another_site_is_asked_about_again(world, patient):
    with access.answers_remembered():
        assert access.can(world.therapist, "view", patient)
        # An update, which sends no signal: forgetting the roles forgets the answers.
        Membership.objects.filter(user=world.therapist).update(clinic=world.vernon)
        access.forget_grants(world.therapist)
        assert not access.can(world.therapist, "view", patient)
