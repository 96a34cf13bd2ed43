"""The clinic's patient pages, through real HTTP requests, as each role sees them."""

import datetime
import re
import uuid
from html import unescape
from urllib.parse import urlencode

import pytest
from django.contrib.staticfiles import finders
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, reverse
from django.urls.converters import UUIDConverter

from aftercare import portal_urls as aftercare_portal_urls
from aftercare import urls as aftercare_urls
from patients import portal_urls, services, urls
from patients.models import (
    ConsentSignature,
    ConsentWithdrawal,
    Intake,
    Patient,
    PatientInvitation,
    RecordRead,
    ScreeningResponse,
)
from sessions import portal_urls as sessions_portal_urls
from sessions import urls as sessions_urls
from tests.conftest import import_file_of
from tests.patients.factories import (
    PatientFactory,
    born_years_ago,
    full_record,
)


def html(response) -> str:
    return response.content.decode()


def text(response) -> str:
    """What a reader sees: the page without tags and with single spaces."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html(response))).split())


def register_form(world, **changes) -> dict:
    data = {
        "home_clinic": str(world.kelowna.pk),
        "first_name": "Robin",
        "last_name": "Hale",
        "date_of_birth": "1990-04-30",
        "email": "robin@example.test",
        "phone": "+1 250 555 0142",
        "address": "",
        "emergency_contact_name": "",
        "emergency_contact_relationship": "",
        "emergency_contact_phone": "",
        "preferred_language": "en",
        "submission_key": str(uuid.uuid4()),
    }
    data.update(changes)
    return data


@pytest.fixture
def record(world):
    """A Kelowna patient with an intake, a screening (needle phobia), consent and withdrawal."""
    return full_record(
        clinic=world.kelowna,
        therapist=world.therapist,
        admin=world.org_admin,
        first_name="Ada",
        last_name="Quinn",
    )


# --- List and search ----------------------------------------------------------


def test_the_list_shows_the_current_clinics_patients_and_a_register_button(
    world, client_of, patient
):
    PatientFactory(home_clinic=world.vernon, first_name="Vera", last_name="Vernon")
    page = client_of(world.front_desk).get(reverse("patients:list"))
    assert page.status_code == 200
    assert "Morgan, Pat" in html(page)
    assert "Vera" not in html(page)
    assert "Register a patient" in html(page)
    assert "Consent needed" in html(page)


def test_the_list_costs_the_same_queries_for_one_patient_or_many(world, client_of, patient):
    client = client_of(world.therapist)
    with CaptureQueriesContext(connection) as one:
        client.get(reverse("patients:list"))
    for _ in range(6):
        full_record(clinic=world.kelowna, therapist=world.therapist, admin=world.org_admin)
    with CaptureQueriesContext(connection) as many:
        page = client.get(reverse("patients:list"))
    assert len(page.context["rows"]) == 7
    assert len(many) == len(one)


def test_search_finds_a_misspelt_name_and_says_when_nothing_matches(world, client_of, patient):
    client = client_of(world.therapist)
    found = client.get(reverse("patients:list"), {"q": "Pat Morgn"})
    assert "Morgan, Pat" in html(found)
    assert 'value="Pat Morgn"' in html(found)
    nothing = client.get(reverse("patients:list"), {"q": "Zebedee"})
    assert "No patient matches “Zebedee”" in text(nothing)


def test_the_header_offers_patients_to_staff_and_my_record_to_a_patient(world, client_of, patient):
    staff_page = client_of(world.front_desk).get(reverse("patients:list"))
    assert f'href="{reverse("patients:list")}">Patients<' in html(staff_page)
    portal_page = client_of(patient.user).get(reverse("portal:home"))
    assert f'href="{reverse("portal:home")}">My record<' in html(portal_page)
    assert f'href="{reverse("patients:list")}"' not in html(portal_page)


def test_a_patient_login_finds_no_staff_page(world, client_of, patient):
    client = client_of(patient.user)
    assert client.get(reverse("patients:list")).status_code == 404
    assert client.get(reverse("patients:detail", args=[patient.pk])).status_code == 404
    assert client.get(reverse("patients:register")).status_code == 404


# --- Registration -------------------------------------------------------------


def test_registering_a_patient_opens_their_page(world, client_of):
    response = client_of(world.front_desk).post(
        reverse("patients:register"), register_form(world), follow=True
    )
    patient = Patient.objects.get(last_name="Hale")
    assert response.redirect_chain[-1][0] == reverse("patients:detail", args=[patient.pk])
    assert "Robin Hale is registered." in html(response)
    assert patient.home_clinic == world.kelowna
    assert patient.created_by == world.front_desk


def test_a_patient_registered_from_the_booking_page_is_booked_at_the_time_chosen(world, client_of):
    desk = client_of(world.front_desk)
    chosen = {"date": "2031-03-03", "time": "09:15", "therapist": str(world.therapist.pk)}
    search = desk.get(reverse("sessions:book"), {**chosen, "q": "Robin Hale"})
    booking = reverse("sessions:book") + "?" + urlencode(chosen)
    register = reverse("patients:register") + "?" + urlencode({"then": booking})
    assert register.replace("&", "&amp;") in html(search)
    form = desk.get(register)
    assert f'name="then" value="{booking.replace("&", "&amp;")}"' in html(form)
    response = desk.post(reverse("patients:register"), register_form(world, then=booking))
    patient = Patient.objects.get(last_name="Hale")
    assert response["Location"] == f"{booking}&patient={patient.pk}"
    page = html(desk.get(response["Location"]))
    assert "For <strong>Robin Hale</strong>" in page and 'value="09:15"' in page
    # A page of another site is never where registering leads.
    elsewhere = desk.post(
        reverse("patients:register"),
        register_form(
            world,
            first_name="Sam",
            last_name="Vale",
            date_of_birth="1971-02-03",
            email="sam@example.test",
            phone="+1 250 555 0199",
            then="https://elsewhere.test/",
        ),
    )
    vale = Patient.objects.get(last_name="Vale")
    assert elsewhere["Location"] == reverse("patients:detail", args=[vale.pk])


def test_the_register_form_starts_at_the_current_clinic_and_offers_only_clinics_allowed(
    world, client_of
):
    admin = client_of(world.org_admin)
    admin.post(reverse("clinics:switch"), {"clinic": str(world.vernon.pk)})
    form = admin.get(reverse("patients:register")).context["form"]
    assert form["home_clinic"].value() == world.vernon.pk
    assert list(form.fields["home_clinic"].queryset) == [world.kelowna, world.vernon]
    form = client_of(world.therapist).get(reverse("patients:register")).context["form"]
    assert list(form.fields["home_clinic"].queryset) == [world.kelowna]
    assert uuid.UUID(str(form["submission_key"].value()))


def test_a_likely_duplicate_is_shown_then_registered_once_confirmed(world, client_of, patient):
    client = client_of(world.front_desk)
    same_person = register_form(
        world, first_name="pat", last_name="MORGAN", date_of_birth=str(patient.date_of_birth)
    )
    warned = client.post(reverse("patients:register"), same_person)
    assert warned.status_code == 200
    assert "already has a patient with this name and date of birth" in text(warned)
    assert f'href="{reverse("patients:detail", args=[patient.pk])}"' in html(warned)
    assert "This is a different person" in html(warned)
    assert Patient.objects.count() == 1
    confirmed = client.post(reverse("patients:register"), {**same_person, "different_person": "on"})
    assert confirmed.status_code == 302
    assert Patient.objects.filter(last_name__iexact="morgan").count() == 2


def test_a_duplicate_at_a_clinic_the_user_cannot_open_is_not_named(world, client_of):
    elsewhere = PatientFactory(
        home_clinic=world.vernon, first_name="Kim", last_name="Lowe", date_of_birth="1970-01-02"
    )
    warned = client_of(world.therapist).post(
        reverse("patients:register"),
        register_form(world, first_name="Kim", last_name="Lowe", date_of_birth="1970-01-02"),
    )
    assert "A record at another clinic may be the same person; ask an organisation admin." in (
        text(warned)
    )
    assert "Vernon" not in text(warned)
    assert reverse("patients:detail", args=[elsewhere.pk]) not in html(warned)


def test_a_double_click_registers_one_patient(world, client_of):
    client = client_of(world.front_desk)
    form = register_form(world)
    first = client.post(reverse("patients:register"), form)
    second = client.post(reverse("patients:register"), form)
    assert Patient.objects.filter(last_name="Hale").count() == 1
    assert first.headers["Location"] == second.headers["Location"]


def test_a_date_of_birth_in_the_future_is_an_error_on_that_field(world, client_of):
    tomorrow = datetime.date.today() + datetime.timedelta(days=1)
    response = client_of(world.front_desk).post(
        reverse("patients:register"), register_form(world, date_of_birth=tomorrow.isoformat())
    )
    assert response.status_code == 200
    assert response.context["form"].errors["date_of_birth"] == [
        "A date of birth cannot be in the future."
    ]
    field = re.search(r'<input[^>]+id="id_date_of_birth"[^>]*>', html(response)).group(0)
    assert 'aria-invalid="true"' in field
    assert 'aria-describedby="id_date_of_birth_error"' in field
    assert not Patient.objects.exists()


# --- The patient page ---------------------------------------------------------


def test_a_therapist_sees_alerts_intake_screenings_and_consents(world, client_of, record):
    patient = record.patient
    page = client_of(world.therapist).get(reverse("patients:detail", args=[patient.pk]))
    shown = text(page)
    assert "Relative contraindication: Needle phobia" in shown
    assert "The patient withdrew consent: no needling." in shown
    assert "Stiff neck after long days at the desk" in shown
    assert "Neck, Upper back" in shown
    assert "Appendectomy (2015-03-01)" in shown
    screening = reverse("patients:screening_detail", args=[patient.pk, record.screening.pk])
    consent = reverse("patients:consent_detail", args=[patient.pk, record.consent.pk])
    assert f'href="{screening}"' in html(page)
    assert f'href="{consent}"' in html(page)
    assert "Withdrawn" in shown
    assert "Has a login" in shown  # the record's patient took up the invitation
    reads = RecordRead.objects.filter(patient=patient, reader=world.therapist)
    assert set(reads.values_list("part", flat=True)) >= {"details", "intake"}


def test_the_front_desk_sees_details_readiness_and_consents_but_no_clinical_answers(
    world, client_of, record
):
    patient = record.patient
    client = client_of(world.front_desk)
    page = client.get(reverse("patients:detail", args=[patient.pk]))
    shown = text(page)
    assert "The patient withdrew consent: no needling." in shown
    assert "Needle phobia" not in shown
    assert "contraindication" not in shown.lower()
    assert "Printable copy" in shown
    assert "Stiff neck" not in shown
    assert "Appendectomy" not in shown
    assert reverse("patients:screening_detail", args=[patient.pk, record.screening.pk]) not in (
        html(page)
    )
    assert reverse("patients:intake", args=[patient.pk]) not in html(page)
    intake = client.get(reverse("patients:intake", args=[patient.pk]))
    assert intake.status_code == 403
    assert "does not allow you to read or record intake answers" in text(intake)
    assert "Stiff neck" not in html(intake)
    answers = client.get(
        reverse("patients:screening_detail", args=[patient.pk, record.screening.pk])
    )
    assert answers.status_code == 404
    assert client.get(reverse("patients:screening_new", args=[patient.pk])).status_code == 403
    consent = client.get(reverse("patients:consent_detail", args=[patient.pk, record.consent.pk]))
    assert consent.status_code == 200


FRONT_DESK_REFUSED = {
    "patients:intake": 403,
    "patients:screening_new": 403,
    "patients:screening_detail": 404,
    "sessions:review": 404,  # an adverse event is clinical
    "sessions:sign_confirm": 403,  # the chart as it will be signed
    "aftercare:plan": 403,
    "aftercare:add_exercise": 403,
    "aftercare:remove_exercise": 404,
    # Merging two records is for organisation admins (tests/patients/test_merge.py).
    "patients:merge_choose": 403,
    "patients:merge": 403,
    # A withdrawal is the patient's (portal) or recorded by clinical staff who heard it.
    "patients:consent_withdraw": 403,
    # Break-glass is for clinical staff (tests/patients/test_break_glass.py).
    "patients:open_in_emergency": 404,
    # The signed chart as a PDF, like its page: clinical (tests/sessions/test_chart_pdf.py).
    "sessions:chart_pdf": 403,
    # The import page's files are organisation admins' (tests/patients/test_import_page.py).
    **{
        f"patients:{name}": 404
        for name in (
            "import_file",
            "import_check",
            "import_start",
            "import_discard",
            "import_report",
        )
    },
}


BREAK_GLASS_PAGES = ("other_sites", "open_in_emergency", "emergency_access_list")


def test_every_staff_page_opens_for_the_roles_that_use_it(world, client_of, record):
    signature = services.sign_consent(
        patient=record.patient,
        by=world.therapist,
        template=services.current_consent_template(world.organization),
        signer_name=record.patient.full_name,
    )
    ids = {
        "patient_id": record.patient.pk,
        "screening_id": record.screening.pk,
        "consent_id": signature.pk,
    }
    pages = {
        f"patients:{pattern.name}": reverse(
            f"patients:{pattern.name}",
            kwargs={name: ids[name] for name in pattern.pattern.converters},
        )
        for pattern in urls.urlpatterns
        # Buttons (POST only), merging and importing: organisation admins only
        # (test_merge.py, test_import_page.py), and break-glass: clinical staff of another
        # site (test_break_glass.py).
        if pattern.name not in ("invite", "report_change", "send_forms", "merge_choose", "merge")
        and pattern.name not in BREAK_GLASS_PAGES
        and not pattern.name.startswith("import")
    }
    for role, person in world.staff_by_role().items():
        client = client_of(person)
        for name, url in pages.items():
            expected = FRONT_DESK_REFUSED.get(name, 200) if person == world.front_desk else 200
            response = client.get(url)
            assert response.status_code == expected, (role, name)
            assert "<h1" in html(response), (role, name)


def test_a_therapist_at_another_clinic_does_not_find_the_patient(world, client_of, record):
    page = client_of(world.vernon_therapist).get(
        reverse("patients:detail", args=[record.patient.pk])
    )
    assert page.status_code == 404


# --- Editing details ------------------------------------------------------------


def edit_form(patient, **changes) -> dict:
    data = {
        name: getattr(patient, name) or ""
        for name in (
            "first_name",
            "last_name",
            "email",
            "phone",
            "address",
            "emergency_contact_name",
            "emergency_contact_relationship",
            "emergency_contact_phone",
            "preferred_language",
        )
    }
    data.update(
        home_clinic=str(patient.home_clinic_id),
        date_of_birth=patient.date_of_birth.isoformat(),
        version=patient.version,
    )
    data.update(changes)
    return data


def test_editing_details_saves_them(world, client_of, patient):
    client = client_of(world.front_desk)
    form = client.get(reverse("patients:edit", args=[patient.pk])).context["form"]
    assert form["version"].value() == 1
    response = client.post(
        reverse("patients:edit", args=[patient.pk]), edit_form(patient, phone="250 555 0111")
    )
    assert response.headers["Location"] == reverse("patients:detail", args=[patient.pk])
    patient.refresh_from_db()
    assert (patient.phone, patient.version) == ("250 555 0111", 2)


def test_renaming_a_patient_into_a_likely_duplicate_asks_first(world, client_of, patient):
    twin = PatientFactory(
        home_clinic=world.kelowna,
        first_name="Pat",
        last_name="Morgane",
        date_of_birth=patient.date_of_birth,
    )
    client = client_of(world.front_desk)
    url = reverse("patients:edit", args=[twin.pk])
    warned = client.post(url, edit_form(twin, last_name="Morgan"))
    assert warned.status_code == 200
    assert "Is this one of these patients?" in text(warned)
    assert reverse("patients:detail", args=[patient.pk]) in warned.content.decode()
    twin.refresh_from_db()
    assert twin.last_name == "Morgane"
    saved = client.post(url, edit_form(twin, last_name="Morgan", different_person="on"))
    assert saved.status_code == 302
    twin.refresh_from_db()
    assert twin.last_name == "Morgan"


def test_an_edit_over_someone_elses_save_is_refused_and_keeps_what_was_typed(
    world, client_of, patient
):
    opened = edit_form(patient)
    services.update_patient(patient=patient, by=world.therapist, phone="250 555 0999")
    response = client_of(world.front_desk).post(
        reverse("patients:edit", args=[patient.pk]), {**opened, "phone": "250 555 0111"}
    )
    assert response.status_code == 200
    shown = text(response)
    assert "Someone else changed this patient's details after you opened them" in shown
    assert 'value="250 555 0111"' in html(response)
    assert "250 555 0999" in shown
    patient.refresh_from_db()
    assert patient.phone == "250 555 0999"


# --- Intake, screening and consent at the clinic -----------------------------


def test_the_intake_form_saves_lists_and_operations(world, client_of, patient):
    url = reverse("patients:intake", args=[patient.pk])
    client = client_of(world.therapist)
    page = client.get(url)
    assert page.status_code == 200
    assert "Where do you have pain?" in html(page)
    response = client.post(
        url,
        {
            "presenting_complaint": "Sore shoulder when lifting",
            "pain_areas": ["shoulder", "neck"],
            "conditions": "Asthma\n\n  high blood pressure \n",
            "medications": "Ventolin",
            "allergies": "",
            "activity_level": "moderate",
            "goals": "Lift my daughter",
            "version": "0",
            "surgeries-TOTAL_FORMS": "3",
            "surgeries-INITIAL_FORMS": "0",
            "surgeries-0-description": "Knee arthroscopy",
            "surgeries-0-performed_on": "2019-05-02",
            "surgeries-1-description": "",
            "surgeries-1-performed_on": "",
            "surgeries-2-description": "",
            "surgeries-2-performed_on": "",
        },
    )
    assert response.headers["Location"] == reverse("patients:detail", args=[patient.pk])
    intake = Intake.objects.get(patient=patient)
    assert intake.pain_areas == ["shoulder", "neck"]
    assert intake.conditions == ["Asthma", "high blood pressure"]
    assert intake.channel == "clinic"
    assert list(patient.surgeries.values_list("description", flat=True)) == ["Knee arthroscopy"]
    again = client.get(url)
    assert again.context["form"]["version"].value() == 1
    assert "Knee arthroscopy" in html(again)


def test_an_operation_without_a_date_is_an_error_on_its_row(world, client_of, patient):
    response = client_of(world.therapist).post(
        reverse("patients:intake", args=[patient.pk]),
        {
            "presenting_complaint": "Back pain",
            "activity_level": "light",
            "version": "0",
            "surgeries-TOTAL_FORMS": "1",
            "surgeries-INITIAL_FORMS": "0",
            "surgeries-0-description": "Hip replacement",
            "surgeries-0-performed_on": "",
        },
    )
    assert response.status_code == 200
    assert "Give the date of this operation" in text(response)
    assert not Intake.objects.exists()


def test_an_intake_saved_by_someone_else_meanwhile_is_not_overwritten(world, client_of, patient):
    client = client_of(world.therapist)
    url = reverse("patients:intake", args=[patient.pk])
    opened = client.get(url).context["form"]["version"].value()
    services.save_intake(
        patient=patient, by=patient.user, presenting_complaint="Neck", activity_level="light"
    )
    response = client.post(
        url,
        {
            "presenting_complaint": "Shoulder",
            "activity_level": "active",
            "version": opened,
            "surgeries-TOTAL_FORMS": "0",
            "surgeries-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert "Someone else saved this intake after you opened it" in text(response)
    assert "Shoulder" in html(response)
    assert Intake.objects.get(patient=patient).presenting_complaint == "Neck"


def screening_answers(questionnaire, *yes: str, detail: str = "") -> dict:
    data = {}
    for question in questionnaire.questions.all():
        data[f"answer_{question.pk}"] = "yes" if question.key in yes else "no"
        data[f"detail_{question.pk}"] = detail if question.key in yes else ""
    return data


def test_screening_at_the_clinic_asks_every_question_and_shows_the_flags(world, client_of, patient):
    url = reverse("patients:screening_new", args=[patient.pk])
    client = client_of(world.therapist)
    page = client.get(url)
    questionnaire = services.current_questionnaire(world.organization)
    assert "Do you take blood thinners?" in html(page)
    assert " checked" not in html(page)
    form = page.context["form"]
    hidden = {"questionnaire": form["questionnaire"].value(), "submission_key": uuid.uuid4()}
    partial = client.post(url, {**hidden})
    assert partial.status_code == 200
    assert "Answer yes or no." in html(partial)
    answered = client.post(
        url,
        {**hidden, **screening_answers(questionnaire, "blood_thinners", detail="Apixaban 5 mg")},
        follow=True,
    )
    response = ScreeningResponse.objects.get(patient=patient)
    assert answered.redirect_chain[-1][0] == reverse(
        "patients:screening_detail", args=[patient.pk, response.pk]
    )
    shown = text(answered)
    assert "Relative: Takes blood thinners" in shown
    assert "Apixaban 5 mg" in shown
    assert response.flags == ["blood_thinners"]
    client.post(url, {**hidden, **screening_answers(questionnaire)})
    assert ScreeningResponse.objects.filter(patient=patient).count() == 1


def test_answers_to_replaced_questions_are_asked_again(world, client_of, patient):
    client = client_of(world.therapist)
    url = reverse("patients:screening_new", args=[patient.pk])
    old = services.current_questionnaire(world.organization)
    services.publish_questionnaire(
        organization=world.organization,
        by=world.org_admin,
        title="Screening",
        questions=[{"key": "pregnancy", "text": "Could you be pregnant?"}],
    )
    response = client.post(
        url, {"questionnaire": old.pk, "submission_key": uuid.uuid4(), **screening_answers(old)}
    )
    assert "The screening questions changed while this form was open" in text(response)
    assert "Could you be pregnant?" in html(response)
    assert not ScreeningResponse.objects.exists()


def test_a_guardian_signs_for_a_minor_with_their_relationship(world, client_of):
    minor = PatientFactory(home_clinic=world.kelowna, date_of_birth=born_years_ago(15))
    url = reverse("patients:consent_sign", args=[minor.pk])
    client = client_of(world.front_desk)
    page = client.get(url)
    template = services.current_consent_template(world.organization)
    assert "a parent or legal guardian signs" in text(page)
    assert template.body.split("\n")[0] in html(page)
    form = {"template": template.pk, "submission_key": uuid.uuid4(), "signer_name": "Jo Parent"}
    refused = client.post(url, form)
    assert refused.status_code == 200
    assert refused.context["form"].errors["guardian_relationship"]
    assert not ConsentSignature.objects.exists()
    signed = client.post(
        url, {**form, "guardian_relationship": "Mother"}, headers={"user-agent": "Tablet/1.0"}
    )
    signature = ConsentSignature.objects.get(patient=minor)
    assert signed.headers["Location"] == reverse(
        "patients:consent_detail", args=[minor.pk, signature.pk]
    )
    assert (signature.signer_name, signature.guardian_relationship) == ("Jo Parent", "Mother")
    assert (signature.channel, signature.user_agent) == ("clinic", "Tablet/1.0")
    assert signature.ip_address == "127.0.0.1"


def test_the_printable_consent_shows_the_exact_text_hash_signer_and_clinic_time(
    world, client_of, record
):
    signature = record.consent
    page = client_of(world.front_desk).get(
        reverse("patients:consent_detail", args=[record.patient.pk, signature.pk])
    )
    assert signature.text in html(page)
    assert signature.text_sha256 in html(page)
    local = signature.signed_at.astimezone(world.kelowna.zone)
    shown = text(page)
    assert local.strftime("%H:%M") in shown
    assert world.kelowna.timezone in shown
    assert f"Text version {signature.template_version}" in shown
    assert "Withdrawn on" in shown
    assert "In the clinic" in shown
    assert 'class="actions no-print"' in html(page)


def test_a_printed_record_leaves_out_the_header_navigation_and_buttons():
    with open(finders.find("fascia/fascia.css")) as stylesheet:
        printing = stylesheet.read().split("@media print")[1]
    for hidden in (".site-header", ".no-print", "button", ".button"):
        assert hidden in printing.split("display: none")[0]


def test_withdrawing_consent_asks_first_then_records_the_reason(world, client_of, patient):
    signature = services.sign_consent(
        patient=patient,
        by=world.front_desk,
        template=services.current_consent_template(world.organization),
        signer_name=patient.full_name,
    )
    url = reverse("patients:consent_withdraw", args=[patient.pk, signature.pk])
    desk = client_of(world.front_desk)
    assert desk.get(url).status_code == 403
    assert desk.post(url, {"reason": "Changed my mind"}).status_code == 403
    client = client_of(world.therapist)
    assert "Withdraw consent?" in html(client.get(url))
    assert not ConsentWithdrawal.objects.exists()
    response = client.post(url, {"reason": "Changed my mind"}, follow=True)
    assert "The consent is withdrawn" in html(response)
    assert ConsentWithdrawal.objects.get(signature=signature).reason == "Changed my mind"
    detail = client.get(reverse("patients:detail", args=[patient.pk]))
    assert "The patient withdrew consent: no needling." in text(detail)


def test_the_invitation_button_emails_the_patient(
    world, client_of, django_capture_on_commit_callbacks
):
    robin = PatientFactory(home_clinic=world.kelowna, first_name="Robin", email="r@example.test")
    client = client_of(world.front_desk)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("patients:invite", args=[robin.pk]), follow=True)
    assert "A portal invitation is on its way to r@example.test" in text(response)
    assert mail.outbox[0].to == ["r@example.test"]
    assert "Send a new invitation" in text(response)


def test_an_invitation_without_an_email_address_says_what_is_missing(world, client_of):
    nobody = PatientFactory(home_clinic=world.kelowna, email="")
    response = client_of(world.front_desk).post(
        reverse("patients:invite", args=[nobody.pk]), follow=True
    )
    assert "Record the patient's e-mail address first" in text(response)
    assert not PatientInvitation.objects.exists()


def test_reporting_a_change_in_health_asks_for_a_new_screening(world, client_of, record):
    client = client_of(world.front_desk)
    response = client.post(
        reverse("patients:report_change", args=[record.patient.pk]),
        {"note": "Started warfarin"},
        follow=True,
    )
    assert "the screening must be answered again" in text(response)
    assert "Screening needed: send the patient the screening form" in text(response)
    record.screening.refresh_from_db()
    assert record.screening.change_note == "Started warfarin"


# --- Isolation: generated from the URL confs ------------------------------------
#
# Every page with a record's id in its URL, staff side and portal, by GET and POST:
# - every role of Kelowna Physio, and a Kelowna patient's login, on a record of
#   Harbourside (the other organisation): 404;
# - a therapist at Vernon and another Kelowna patient's login on a Kelowna
#   patient's record (and the front desk on the portal's pages, which show a login
#   its own record only): 404;
# - the Kelowna front desk on that record: the answer FRONT_DESK_REFUSED (above)
#   gives where the page reads or records clinical answers, and no clinical answer
#   on the pages of FRONT_DESK_OPENS; a new page with an id fails until it is in
#   one of the two.
# Nothing changes in either organisation, and no e-mail is sent.


def uuid_patterns():
    """Every page with a record's id in its URL: staff side, portal, sessions, aftercare."""
    for module in (
        urls,
        portal_urls,
        sessions_urls,
        sessions_portal_urls,
        aftercare_urls,
        aftercare_portal_urls,
    ):
        for pattern in module.urlpatterns:
            assert isinstance(pattern, URLPattern)
            converters = pattern.pattern.converters
            if any(isinstance(converter, UUIDConverter) for converter in converters.values()):
                name = f"{module.app_name}:{pattern.name}"
                yield pytest.param(name, list(converters), id=name)


# How to fill each id in a URL with a row of a patient's record (tests.patients.factories).
RECORD_IDS = {
    "patient_id": lambda record: record.patient.pk,
    "screening_id": lambda record: record.screening.pk,
    "consent_id": lambda record: record.consent.pk,
    "session_id": lambda record: record.session.pk,
    "event_id": lambda record: record.charted.adverse_event.pk,
    "kind": lambda record: "needle-sites",
    "row_id": lambda record: record.charted.needle_site.pk,
    "alert_id": lambda record: record.aftercare.alert.pk,
    "plan_id": lambda record: record.aftercare.plan.pk,
    "check_in_id": lambda record: record.aftercare.check_in.pk,
    "exercise_id": lambda record: record.aftercare.exercise.pk,
    "other_id": lambda record: record.patient.pk,  # the other record of a merge
    "file_id": lambda record: import_file_of(record.patient).pk,  # on the import page
}

PORTAL = ("portal:", "aftercare_portal:", "sessions_portal:")
"""The namespaces of the patient's pages: each shows a login its own record only."""

ATTEMPT = {
    "first_name": "Taken",
    "last_name": "Over",
    "date_of_birth": "1980-01-01",
    "note": "Changed",
    "reason": "Withdrawn by someone else",
    "signer_name": "Mallory",
    "presenting_complaint": "Nothing",
    "activity_level": "light",
}

# The pages with an id that the front desk opens for a Kelowna patient, and the answer
# to a GET. What they show holds no clinical answer.
FRONT_DESK_OPENS = {
    "patients:detail": 200,
    "patients:edit": 200,
    "patients:consent_sign": 200,
    "patients:consent_detail": 200,
    "patients:invite": 405,  # a button: POST only
    "patients:send_forms": 405,
    "patients:forms_on_tablet": 200,  # the forms to fill in, never an answer
    "patients:report_change": 405,
    # The booking: the front desk sees it, not the chart (tests/sessions/test_pages.py
    # posts to every session page as the front desk).
    "sessions:detail": 200,
    # The booking as a calendar file (when, where, with whom), for the front desk to e-mail.
    "sessions:calendar_file": 200,
    **{
        f"sessions:{name}": 405  # forms: POST only
        for name in (
            "start",
            "cancel",
            "move",
            "no_show",
            "save_chart",
            "apply_template",
            "add_needle_site",
            "add_range_of_motion",
            "add_pressure_pain_threshold",
            "add_adverse_event",
            "remove_row",
            "sign",
            "add_addendum",
        )
    },
    # That an alert exists, not why (the answers and notes are clinical).
    "aftercare:alert": 200,
    "aftercare:acknowledge": 405,
    "aftercare:resolve": 405,
}


def page_url(name: str, kwargs: list[str], record) -> str:
    return reverse(name, kwargs={kwarg: RECORD_IDS[kwarg](record) for kwarg in kwargs})


def test_the_isolation_matrix_covers_every_page_with_an_id():
    names = {param.values[0] for param in uuid_patterns()}
    assert {"patients:detail", "patients:consent_detail", "portal:consent_detail"} <= names
    for param in uuid_patterns():
        assert set(param.values[1]) <= set(RECORD_IDS), param.id


def test_every_staff_page_with_an_id_says_what_the_front_desk_gets():
    names = {param.values[0] for param in uuid_patterns()}
    staff_pages = {name for name in names if not name.startswith(PORTAL)}
    assert not set(FRONT_DESK_REFUSED) & set(FRONT_DESK_OPENS)
    missing = staff_pages - set(FRONT_DESK_REFUSED) - set(FRONT_DESK_OPENS)
    assert not missing, "say in FRONT_DESK_REFUSED or FRONT_DESK_OPENS what the front desk gets"
    assert set(FRONT_DESK_OPENS) <= staff_pages


def test_the_pages_the_front_desk_opens_hold_no_clinical_answer(world, client_of):
    record = world.kelowna_record()
    client = client_of(world.front_desk)
    for name, kwargs in (param.values for param in uuid_patterns()):
        if name in FRONT_DESK_OPENS:
            response = client.get(page_url(name, kwargs, record))
            assert response.status_code == FRONT_DESK_OPENS[name], name
            leaked = [answer for answer in record.clinical_answers() if answer in html(response)]
            assert not leaked, (name, leaked)


def test_without_an_email_address_the_page_asks_for_one_instead_of_offering_an_invitation(
    world, client_of
):
    nobody = PatientFactory(home_clinic=world.kelowna, email="")
    page = client_of(world.front_desk).get(reverse("patients:detail", args=[nobody.pk]))
    assert "Send portal invitation" not in text(page)
    assert "record their e-mail address first" in text(page)
    assert reverse("patients:edit", args=[nobody.pk]) in page.content.decode()


def test_a_form_sent_back_and_changed_after_registering_registers_the_new_person(world, client_of):
    client = client_of(world.front_desk)
    form = client.get(reverse("patients:register")).context["form"]
    key = form["submission_key"].value()
    first = {
        "home_clinic": str(world.kelowna.pk),
        "first_name": "Jane",
        "last_name": "Doe",
        "date_of_birth": "1990-01-02",
        "preferred_language": "en",
        "submission_key": key,
    }
    assert client.post(reverse("patients:register"), first).status_code == 302
    sibling = {**first, "first_name": "Mark"}
    refused = client.post(reverse("patients:register"), sibling)
    assert "This form already registered a patient" in text(refused)
    assert Patient.objects.count() == 1
    fresh_key = refused.context["form"]["submission_key"].value()
    assert fresh_key != key
    again = client.post(reverse("patients:register"), {**sibling, "submission_key": fresh_key})
    assert again.status_code == 302
    assert sorted(Patient.objects.values_list("first_name", flat=True)) == ["Jane", "Mark"]
