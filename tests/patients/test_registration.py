"""Registering patients and keeping their details: who may, what is refused, nothing doubled."""

import datetime
import threading
import uuid

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from patients import selectors, services
from patients.exceptions import EditConflict, LikelyDuplicate, NotPermitted, SubmissionKeyReused
from patients.models import Patient, PatientEvent
from patients.services.merge import merge_patients
from tests.clinics.factories import ClinicFactory
from tests.patients.factories import PatientFactory

JANE = {"first_name": "Jane", "last_name": "Doe", "date_of_birth": datetime.date(1990, 1, 2)}


def register(world, by=None, **fields):
    return services.register_patient(
        home_clinic=fields.pop("home_clinic", world.kelowna),
        by=by or world.front_desk,
        **{**JANE, **fields},
    )


def test_front_desk_registers_a_patient_at_their_clinic(world):
    patient = register(world, phone=" +1 (250) 555-0101 ", email=" Jane.Doe@Example.TEST ")
    patient.refresh_from_db()
    assert patient.organization == world.organization
    assert patient.created_by == world.front_desk
    assert patient.email == "jane.doe@example.test"
    assert patient.phone == "+1 (250) 555-0101"
    assert patient.phone_digits == "12505550101"
    assert patient.search_name == "jane doe"


@pytest.mark.parametrize("clinic", ["vernon", "halifax"])
def test_registering_at_a_clinic_the_user_does_not_work_at_is_refused(world, clinic):
    with pytest.raises(NotPermitted) as refused:
        register(world, home_clinic=getattr(world, clinic))
    assert refused.value.field == "home_clinic"
    assert not Patient.objects.exists()


def test_a_date_of_birth_in_the_future_is_refused_naming_the_field(world):
    tomorrow = datetime.date.today() + datetime.timedelta(days=1)
    with pytest.raises(ValidationError) as refused:
        register(world, date_of_birth=tomorrow)
    assert refused.value.message_dict["date_of_birth"] == [
        "A date of birth cannot be in the future."
    ]
    assert not Patient.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("phone", "555-12", "Enter a phone number"),
        (
            "phone",
            "+1 250 555 0101 0101 0101",
            "A phone number has 7 to 15 digits; this one has 19.",
        ),
        ("phone", "call me maybe", "Enter a phone number"),
        ("emergency_contact_phone", "12", "Enter a phone number"),
        ("email", "jane@", "Enter a valid email address."),
        ("first_name", "  ", "This field cannot be blank."),
    ],
)
def test_impossible_contact_details_are_refused_naming_the_field(world, field, value, message):
    with pytest.raises(ValidationError) as refused:
        register(world, **{field: value})
    assert any(message in text for text in refused.value.message_dict[field])
    assert not Patient.objects.exists()


def test_the_same_name_and_birth_date_is_a_likely_duplicate_until_confirmed(world):
    first = register(world)
    with pytest.raises(LikelyDuplicate) as warned:
        register(world, first_name="  JANE ", last_name="doe", home_clinic=world.kelowna)
    assert warned.value.matches == [first]
    assert "Jane Doe at Kelowna" in warned.value.message
    assert warned.value.details()["matches"][0]["id"] == str(first.pk)
    assert Patient.objects.count() == 1

    second = register(world, allow_duplicate=True)
    assert second.pk != first.pk
    assert Patient.objects.count() == 2


def test_the_duplicate_check_spans_the_organisation_and_stops_at_its_edge(world):
    register(world, by=world.vernon_therapist, home_clinic=world.vernon)
    with pytest.raises(LikelyDuplicate):
        register(world)  # Kelowna's desk, same organisation
    register(world, by=world.other_therapist, home_clinic=world.halifax)  # another organisation
    assert Patient.objects.count() == 2


def test_a_different_birth_date_is_not_a_duplicate(world):
    register(world)
    register(world, date_of_birth=datetime.date(1990, 1, 3))
    assert Patient.objects.count() == 2


def test_the_same_submission_twice_registers_one_patient(world):
    key = uuid.uuid4()
    first = register(world, submission_key=key)
    again = register(world, submission_key=key)
    assert again.pk == first.pk
    assert Patient.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_desks_registering_the_same_person_at_once_make_one_patient(world):
    outcomes = []
    barrier = threading.Barrier(2)

    def desk():
        try:
            barrier.wait()
            outcomes.append(register(world))
        except LikelyDuplicate as warned:
            outcomes.append(warned)
        finally:
            connection.close()

    threads = [threading.Thread(target=desk) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Patient.objects.count() == 1
    assert sorted(type(outcome).__name__ for outcome in outcomes) == ["LikelyDuplicate", "Patient"]


def test_details_are_updated_and_kept_in_history(world):
    patient = register(world)
    services.update_patient(
        patient=patient, by=world.therapist, expected_version=1, phone="250 555 0199"
    )
    patient.refresh_from_db()
    assert (patient.phone, patient.version) == ("250 555 0199", 2)
    events = PatientEvent.objects.filter(pgh_obj=patient).order_by("pgh_id")
    assert [event.pgh_label for event in events] == ["insert", "update"]
    assert events.last().phone == "250 555 0199"


def test_a_save_over_someone_elses_newer_save_is_refused(world):
    patient = register(world)
    services.update_patient(patient=patient, by=world.therapist, phone="250 555 0199")
    with pytest.raises(EditConflict) as refused:
        services.update_patient(
            patient=patient, by=world.front_desk, expected_version=1, phone="250 555 0100"
        )
    assert refused.value.status == 409
    patient.refresh_from_db()
    assert patient.phone == "250 555 0199"


def test_moving_a_patient_to_a_clinic_out_of_reach_is_refused(world):
    patient = register(world)
    with pytest.raises(NotPermitted):
        services.update_patient(patient=patient, by=world.front_desk, home_clinic=world.vernon)
    services.update_patient(patient=patient, by=world.org_admin, home_clinic=world.vernon)
    patient.refresh_from_db()
    assert patient.home_clinic == world.vernon


def test_a_therapist_of_another_clinic_cannot_change_the_patient(world):
    patient = PatientFactory(home_clinic=world.kelowna)
    with pytest.raises(NotPermitted):
        services.update_patient(patient=patient, by=world.vernon_therapist, phone="250 555 0100")


def test_a_birth_date_before_1900_is_refused_naming_the_field(world):
    with pytest.raises(ValidationError) as refused:
        register(world, date_of_birth=datetime.date(1899, 12, 31))
    assert refused.value.message_dict["date_of_birth"] == [
        "A date of birth is after 1 January 1900."
    ]


def test_a_submission_key_used_at_a_clinic_out_of_reach_shows_nothing(world):
    key = uuid.uuid4()
    register(world, by=world.vernon_therapist, home_clinic=world.vernon, submission_key=key)
    with pytest.raises(SubmissionKeyReused):
        register(world, first_name="Someone", submission_key=key)


def test_the_same_key_with_other_details_is_refused_not_answered_with_the_first(world):
    key = uuid.uuid4()
    register(world, submission_key=key)
    with pytest.raises(SubmissionKeyReused):
        register(world, first_name="Bob", last_name="Two", submission_key=key)
    assert Patient.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_double_click_racing_itself_registers_one_patient_and_answers_both_with_it(world):
    key = uuid.uuid4()
    outcomes = []
    barrier = threading.Barrier(2)

    def click():
        try:
            barrier.wait()
            outcomes.append(register(world, submission_key=key).pk)
        except LikelyDuplicate as warned:
            outcomes.append(warned)
        finally:
            connection.close()

    threads = [threading.Thread(target=click) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Patient.objects.count() == 1
    assert outcomes == [Patient.objects.get().pk] * 2


def test_a_closed_clinic_takes_no_new_patients(world):
    world.kelowna.is_active = False
    world.kelowna.save()
    with pytest.raises(ValidationError) as refused:
        register(world, by=world.org_admin)
    assert "Kelowna is closed" in refused.value.message_dict["home_clinic"][0]
    patient = register(world, by=world.org_admin, home_clinic=world.vernon)
    with pytest.raises(ValidationError):
        services.update_patient(patient=patient, by=world.org_admin, home_clinic=world.kelowna)


def test_an_edit_that_makes_a_patient_look_like_another_is_warned(world):
    register(world)
    other = register(world, first_name="Ruth")
    with pytest.raises(LikelyDuplicate):
        services.update_patient(patient=other, by=world.front_desk, first_name="Jane")
    other.refresh_from_db()
    assert other.first_name == "Ruth"
    services.update_patient(
        patient=other, by=world.front_desk, first_name="Jane", allow_duplicate=True
    )
    services.update_patient(patient=other, by=world.front_desk, phone="250 555 0100")


def test_a_date_of_birth_is_checked_against_the_date_at_the_home_clinic(world):
    # East of UTC a clinic's today may already be tomorrow in UTC; west of it,
    # UTC's today may still be tomorrow there. At any hour one of the two differs.
    utc_today = timezone.localdate(timezone=datetime.UTC)
    east = ClinicFactory(organization=world.organization, name="Kiritimati", timezone="Etc/GMT-14")
    west = ClinicFactory(organization=world.organization, name="Baker", timezone="Etc/GMT+12")
    east_today = timezone.localdate(timezone=east.zone)
    west_today = timezone.localdate(timezone=west.zone)
    assert east_today != utc_today or west_today != utc_today
    if east_today != utc_today:
        baby = register(world, by=world.org_admin, home_clinic=east, date_of_birth=east_today)
        assert baby.date_of_birth == east_today
    if west_today != utc_today:
        with pytest.raises(ValidationError) as refused:
            register(world, by=world.org_admin, home_clinic=west, date_of_birth=utc_today)
        assert "cannot be in the future" in refused.value.message_dict["date_of_birth"][0]


# --- Duplicates that are not exact ---------------------------------------------------

EMMA = {"first_name": "Emma", "last_name": "Clarke", "date_of_birth": datetime.date(1988, 4, 12)}


def emma(world, **fields):
    return register(world, **{**EMMA, "phone": "+1 250 555 0131", **fields})


@pytest.mark.parametrize(
    ("typed", "reasons"),
    [
        (
            {"last_name": "Clark", "phone": "250-555-0131"},
            ["a name like this one and this date of birth", "this phone number"],
        ),
        ({"last_name": "Clark", "phone": ""}, ["a name like this one and this date of birth"]),
        ({"first_name": "Ema", "phone": ""}, ["a name like this one and this date of birth"]),
        ({"first_name": "Clarke", "last_name": "Emma", "phone": ""}, None),  # swapped: trigrams
        (
            {"first_name": "E.", "last_name": "Smith", "date_of_birth": datetime.date(1970, 1, 1)},
            ["this phone number"],
        ),
        (
            {
                "first_name": "Rob",
                "last_name": "Clarke",
                "phone": "",
                "email": "EMMA.CLARKE@example.test",
            },
            ["this e-mail address"],
        ),
    ],
    ids=["emma-clark-same-phone", "one-letter-off", "misspelt", "swapped", "phone", "e-mail"],
)
def test_a_likely_duplicate_is_found_by_a_similar_name_and_birth_date_phone_or_email(
    world, typed, reasons
):
    first = emma(world, email="emma.clarke@example.test")
    with pytest.raises(LikelyDuplicate) as warned:
        emma(world, **typed)
    (match,) = warned.value.matches
    assert match == first
    if reasons is not None:
        assert match.duplicate_reasons == reasons
    assert "Emma Clarke at Kelowna" in warned.value.message
    assert warned.value.details()["matches"][0]["reasons"] == match.duplicate_reasons
    assert Patient.objects.count() == 1


@pytest.mark.parametrize(
    "typed",
    [
        {"first_name": "Ruth", "phone": ""},  # another name, same birthday
        {"last_name": "Clark", "date_of_birth": datetime.date(1988, 4, 13), "phone": ""},
        {"first_name": "Noah", "last_name": "Brandt", "phone": "+1 250 555 0132"},
    ],
    ids=["other-name", "other-birthday", "other-phone"],
)
def test_someone_else_is_not_a_likely_duplicate(world, typed):
    emma(world)
    emma(world, **typed)
    assert Patient.objects.count() == 2


def test_phones_written_differently_are_the_same_phone_and_a_few_digits_are_none(world):
    emma(world, phone="+1 (250) 555-0131")
    with pytest.raises(LikelyDuplicate):
        register(world, first_name="Noah", last_name="Brandt", phone="250.555.0131")
    too_few = selectors.likely_duplicates(
        organization=world.organization,
        first_name="Noah",
        last_name="Brandt",
        date_of_birth=datetime.date(1970, 1, 1),
        phone="0131",
    )
    assert too_few == []


def test_a_likely_duplicate_the_user_may_not_open_is_not_named(world):
    at_vernon = emma(world, by=world.vernon_therapist, home_clinic=world.vernon)
    with pytest.raises(LikelyDuplicate) as warned:
        emma(world, last_name="Clark")
    message = warned.value.message
    assert "A record at another clinic may be the same person; ask an organisation admin." in (
        message
    )
    assert "Clarke" not in message and "Vernon" not in message
    assert warned.value.details() == {"matches": [], "elsewhere": 1}
    # The organisation admin, who sees every site, is shown who it is.
    with pytest.raises(LikelyDuplicate) as seen:
        emma(world, by=world.org_admin, last_name="Clark")
    assert seen.value.details()["matches"][0]["id"] == str(at_vernon.pk)


def test_the_duplicate_check_is_one_query_whatever_it_compares(world, django_assert_num_queries):
    emma(world, email="emma@example.test")
    with django_assert_num_queries(1):
        found = selectors.likely_duplicates(
            organization=world.organization,
            first_name="Emma",
            last_name="Clark",
            date_of_birth=EMMA["date_of_birth"],
            phone="250 555 0131",
            email="EMMA@example.test",
        )
    assert [match.duplicate_reasons for match in found] == [
        [
            "a name like this one and this date of birth",
            "this phone number",
            "this e-mail address",
        ]
    ]


def test_an_edit_is_compared_on_what_it_changed(world):
    emma(world)
    noah = register(world, first_name="Noah", last_name="Brandt", phone="+1 250 555 0177")
    with pytest.raises(LikelyDuplicate) as warned:
        services.update_patient(patient=noah, by=world.front_desk, phone="250 555 0131")
    assert warned.value.matches[0].duplicate_reasons == ["this phone number"]
    services.update_patient(
        patient=noah, by=world.front_desk, phone="250 555 0131", allow_duplicate=True
    )
    # The shared phone, confirmed once, does not come back with every later edit.
    services.update_patient(patient=noah, by=world.front_desk, address="1 Lake Road")
    services.update_patient(patient=noah, by=world.front_desk, first_name="Noa")
    noah.refresh_from_db()
    assert (noah.first_name, noah.address) == ("Noa", "1 Lake Road")


def test_a_registration_replayed_after_a_merge_answers_with_the_kept_record(world):
    key = uuid.uuid4()
    first = emma(world, submission_key=key)
    kept = emma(world, last_name="Clark", allow_duplicate=True)
    merge_patients(keep=kept, merge_away=first, by=world.org_admin, reason="Same person")
    assert emma(world, submission_key=key) == kept
