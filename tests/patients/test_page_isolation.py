"""The generated page matrices: every page with a record's id, by every role, refuses what
is not theirs (404 for another organisation, clinic or patient; the front desk's refusal
where a page reads or records clinical answers), changes nothing and sends no e-mail.

One world with both full records serves the whole module (`module_world`): the records are
costly, the tests many, and each test's writes roll back.
"""

import pytest
from django.core import mail

from tests.conftest import fresh
from tests.organisation_rows import organisation_rows
from tests.patients.factories import PatientFactory, with_portal_login
from tests.patients.test_pages import (
    ATTEMPT,
    FRONT_DESK_REFUSED,
    PORTAL,
    html,
    page_url,
    uuid_patterns,
)


@pytest.fixture
def shared_world(module_world, db):
    """One world with both full records for the generated page matrices below (the records
    are costly); each test's writes roll back."""
    return fresh(module_world)


@pytest.mark.parametrize(("name", "kwargs"), list(uuid_patterns()))
def test_no_role_reaches_another_organisations_record_through_any_page(
    shared_world, client_of, django_capture_on_commit_callbacks, name, kwargs
):
    world = shared_world
    patient = with_portal_login(PatientFactory(home_clinic=world.kelowna))
    url = page_url(name, kwargs, world.other_record())
    before = organisation_rows(world.other_organization)
    people = {**world.staff_by_role(), "patient": patient.user}
    with django_capture_on_commit_callbacks(execute=True):
        for role, person in people.items():
            client = client_of(person)
            for method in ("get", "post"):
                response = getattr(client, method)(url, ATTEMPT)
                assert response.status_code == 404, (role, method, response.status_code)
    assert organisation_rows(world.other_organization) == before
    assert mail.outbox == []


BREAK_GLASS = "patients:open_in_emergency"
"""The one page of a patient's id that a therapist at another site opens: it asks why, and a
reason opens the record for a few hours (tests/patients/test_break_glass.py). Without it,
the matrix below holds for every page."""


@pytest.mark.parametrize(
    ("name", "kwargs"), [param for param in uuid_patterns() if param.values[0] != BREAK_GLASS]
)
def test_no_page_of_a_kelowna_patients_record_opens_to_another_clinic_or_patient(
    shared_world, client_of, django_capture_on_commit_callbacks, name, kwargs
):
    world = shared_world
    record = world.kelowna_record()
    url = page_url(name, kwargs, record)
    kit = with_portal_login(
        PatientFactory(home_clinic=world.kelowna, first_name="Kit", last_name="Oduya")
    )
    people = {"therapist at Vernon": world.vernon_therapist, "another patient": kit.user}
    if name.startswith(PORTAL):
        people["front desk"] = world.front_desk
    before = organisation_rows(world.organization)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        for who, person in people.items():
            client = client_of(person)
            for method in ("get", "post"):
                response = getattr(client, method)(url, ATTEMPT)
                assert response.status_code == 404, (who, method, response.status_code)
    assert organisation_rows(world.organization) == before
    assert mail.outbox == []


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [param for param in uuid_patterns() if param.values[0] in FRONT_DESK_REFUSED],
)
def test_the_front_desk_opens_no_page_of_clinical_answers(
    shared_world, client_of, django_capture_on_commit_callbacks, name, kwargs
):
    world = shared_world
    record = world.kelowna_record()
    url = page_url(name, kwargs, record)
    client = client_of(world.front_desk)
    before = organisation_rows(world.organization)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        for method in ("get", "post"):
            response = getattr(client, method)(url, ATTEMPT)
            assert response.status_code == FRONT_DESK_REFUSED[name], method
            leaked = [answer for answer in record.clinical_answers() if answer in html(response)]
            assert not leaked, (method, leaked)
    assert organisation_rows(world.organization) == before
    assert mail.outbox == []
