"""The admin for patient records: scoped by role, writes through services, evidence read-only."""

from django.urls import reverse

from patients import services
from patients.models import ConsentSignature, Patient, Question, ReadVia, RecordPart, RecordRead
from tests.patients.factories import PatientFactory, answers_for, full_record


def page(name: str, *args) -> str:
    return reverse(f"admin:patients_{name}", args=args)


def questions_posted(rows: list[dict], *, title: str, organization) -> dict:
    """The add page of a questionnaire as a browser posts it: the version and its question rows."""
    data = {
        "organization": str(organization.pk),
        "title": title,
        "questions-TOTAL_FORMS": str(len(rows)),
        "questions-INITIAL_FORMS": "0",
        "questions-MIN_NUM_FORMS": "0",
        "questions-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(rows):
        for name in ("id", "questionnaire", "key", "text", "help_text", "contraindication"):
            data[f"questions-{index}-{name}"] = row.get(name, "")
    return data


# --- Consent text and questionnaire versions ---------------------------------


def test_an_org_admin_publishes_a_consent_version_starting_from_the_current_text(world, client_of):
    first = services.current_consent_template(world.organization)
    client = client_of(world.org_admin)
    form = client.get(page("consenttemplate_add")).context["adminform"].form
    assert form.initial["body"] == first.body
    response = client.post(
        page("consenttemplate_add"),
        {
            "organization": str(world.organization.pk),
            "title": first.title,
            "body": first.body + "\nI may bring someone with me to every session.",
        },
    )
    assert response.status_code == 302
    current = services.current_consent_template(world.organization)
    assert current.version == 2
    assert current.body.endswith("someone with me to every session.")
    assert current.published_by == world.org_admin


def test_a_published_consent_version_cannot_be_changed_in_the_admin(world, client_of):
    template = services.current_consent_template(world.organization)
    client = client_of(world.org_admin)
    view = client.get(page("consenttemplate_change", template.pk))
    assert view.status_code == 200
    assert 'name="_save"' not in view.content.decode()
    response = client.post(
        page("consenttemplate_change", template.pk), {"title": "Changed", "body": "Changed"}
    )
    assert response.status_code == 403
    template.refresh_from_db()
    assert template.title == "Consent to dry needling"


def test_a_manager_may_read_consent_versions_but_not_publish_one(world, client_of):
    client = client_of(world.manager)
    assert client.get(page("consenttemplate_changelist")).status_code == 200
    assert client.get(page("consenttemplate_add")).status_code == 403


def test_an_org_admin_publishes_a_questionnaire_version_edited_from_a_copy(world, client_of):
    first = services.current_questionnaire(world.organization)
    client = client_of(world.org_admin)
    add_page = client.get(page("questionnaire_add"))
    formset = add_page.context["inline_admin_formsets"][0].formset
    copied = [form.initial for form in formset.forms if form.initial]
    assert [row["key"] for row in copied] == [
        question.key for question in first.questions.order_by("position")
    ]
    rows = [row for row in copied if row["key"] != "diabetes"]
    rows[0] = {**rows[0], "text": "Do you have an infection or a fever today?"}
    rows.append({"key": "stiff_neck", "text": "Is your neck stiff today?"})
    rows.append({})  # the blank row the page offers for a new question
    response = client.post(
        page("questionnaire_add"),
        questions_posted(rows, title="Screening, spring", organization=world.organization),
    )
    assert response.status_code == 302, response.context["inline_admin_formsets"][0].formset
    current = services.current_questionnaire(world.organization)
    assert (current.version, current.title) == (2, "Screening, spring")
    keys = list(current.questions.values_list("key", flat=True))
    assert "diabetes" not in keys and keys[-1] == "stiff_neck"
    assert current.questions.get(key="infection").text == (
        "Do you have an infection or a fever today?"
    )
    assert first.questions.get(key="diabetes")  # the old version keeps its questions


def test_publishing_questions_with_a_repeated_key_is_refused_and_publishes_nothing(
    world, client_of
):
    services.current_questionnaire(world.organization)
    rows = [
        {
            "key": "phobia",
            "text": "Are you afraid of needles?",
            "contraindication": "needle_phobia",
        },
        {"key": "phobia", "text": "Do you faint at the sight of blood?"},
    ]
    response = client_of(world.org_admin).post(
        page("questionnaire_add"),
        questions_posted(rows, title="Short screening", organization=world.organization),
    )
    assert response.status_code == 200
    assert "Each question needs its own key; repeated: phobia." in response.content.decode()
    assert services.current_questionnaire(world.organization).version == 1


def test_a_questionnaire_needs_a_question_and_the_service_says_so(world, client_of):
    services.current_questionnaire(world.organization)
    response = client_of(world.org_admin).post(
        page("questionnaire_add"),
        questions_posted([{}], title="Empty", organization=world.organization),
    )
    assert response.status_code == 200
    assert "A questionnaire needs at least one question." in response.content.decode()
    assert services.current_questionnaire(world.organization).version == 1


def test_a_published_questionnaire_shows_its_questions_read_only(world, client_of):
    questionnaire = services.current_questionnaire(world.organization)
    client = client_of(world.org_admin)
    view = client.get(page("questionnaire_change", questionnaire.pk))
    assert view.status_code == 200
    html = view.content.decode()
    assert "Do you take blood thinners?" in html
    assert 'name="_save"' not in html and 'name="questions-0-text"' not in html
    response = client.post(page("questionnaire_change", questionnaire.pk), {"title": "Mine"})
    assert response.status_code == 403
    assert Question.objects.filter(questionnaire=questionnaire).count() == 13


# --- Patients ------------------------------------------------------------------


def patient_form(world, **changes) -> dict:
    form = {
        "home_clinic": str(world.kelowna.pk),
        "first_name": "Robin",
        "last_name": "Ashdown",
        "date_of_birth": "1979-11-02",
        "email": "robin@example.test",
        "phone": "+1 250 555 0123",
        "address": "",
        "emergency_contact_name": "",
        "emergency_contact_relationship": "",
        "emergency_contact_phone": "",
        "preferred_language": "en",
    }
    return {**form, **changes}


def details_of(patient, **changes) -> dict:
    """The change form of `patient` as it opens, with `changes` typed in."""
    form = {
        name: getattr(patient, name) or ""
        for name in ("first_name", "last_name", "email", "phone", "address", "preferred_language")
    }
    form |= {
        "home_clinic": str(patient.home_clinic_id),
        "date_of_birth": patient.date_of_birth.isoformat(),
        "expected_version": patient.version,
    }
    return form | changes


def test_a_manager_sees_only_the_patients_of_their_clinic_and_organisation(world, client_of):
    mine = PatientFactory(home_clinic=world.kelowna, first_name="Kelly", last_name="Mine")
    vernon = PatientFactory(home_clinic=world.vernon, first_name="Vera", last_name="Vernon")
    other = world.other_record().patient
    client = client_of(world.manager)
    listing = client.get(page("patient_changelist"))
    assert list(listing.context["cl"].result_list) == [mine]
    html = listing.content.decode()
    assert "Halifax" not in html
    assert client.get(page("patient_change", other.pk)).status_code == 404
    assert client.get(page("patient_change", vernon.pk)).status_code == 404


def test_the_patient_list_finds_by_name_email_and_phone(world, client_of, patient):
    # Kim's factory e-mail (patientN@example.test) holds "pat", so her last
    # name is fixed: a random "Morgan" would match "pat morgan" too.
    PatientFactory(
        home_clinic=world.kelowna, first_name="Kim", last_name="Okafor", phone="+1 604 555 0001"
    )
    client = client_of(world.org_admin)
    for query in ("pat morgan", "pat@example", "250 555 0199"):
        found = client.get(page("patient_changelist"), {"q": query}).context["cl"].result_list
        assert list(found) == [patient], query


def test_registering_a_patient_in_the_admin_records_who_registered_them(world, client_of):
    response = client_of(world.manager).post(page("patient_add"), patient_form(world))
    assert response.status_code == 302
    robin = Patient.objects.get(last_name="Ashdown")
    assert robin.created_by == world.manager
    assert robin.organization == world.organization


def test_a_likely_duplicate_is_a_form_error_until_the_admin_says_it_is_another_person(
    world, client_of
):
    PatientFactory(
        home_clinic=world.vernon,
        first_name="Robin",
        last_name="Ashdown",
        date_of_birth="1979-11-02",
    )
    client = client_of(world.org_admin)
    refused = client.post(page("patient_add"), patient_form(world))
    assert refused.status_code == 200
    errors = refused.context["adminform"].form.errors["different_person"]
    assert "already has a patient with this name and date of birth" in errors[0]
    assert Patient.objects.filter(last_name="Ashdown").count() == 1
    accepted = client.post(page("patient_add"), patient_form(world, different_person="on"))
    assert accepted.status_code == 302
    assert Patient.objects.filter(last_name="Ashdown").count() == 2


def test_editing_a_patient_saves_through_the_service_and_refuses_a_stale_form(
    world, client_of, patient
):
    client = client_of(world.org_admin)
    form = client.get(page("patient_change", patient.pk)).context["adminform"].form
    opened = form.initial["expected_version"]
    changed = details_of(patient, phone="+1 250 555 0777")
    assert client.post(page("patient_change", patient.pk), changed).status_code == 302
    patient.refresh_from_db()
    assert (patient.phone, patient.version) == ("+1 250 555 0777", opened + 1)
    stale = client.post(page("patient_change", patient.pk), changed | {"phone": "+1 250 555 0888"})
    assert stale.status_code == 200
    errors = stale.context["adminform"].form.non_field_errors()
    assert "Someone else changed this patient's details" in errors[0]
    patient.refresh_from_db()
    assert patient.phone == "+1 250 555 0777"


def test_the_portal_login_and_the_record_fields_are_not_editable(world, client_of, patient):
    client = client_of(world.org_admin)
    form = client.get(page("patient_change", patient.pk)).context["adminform"].form
    assert not {"user", "created_by", "version"} & set(form.fields)
    listing = client.get(page("patient_changelist")).content.decode()
    assert 'alt="True"' in listing  # Pat has a portal login


def test_nobody_deletes_a_patient_in_the_admin(world, client_of, patient):
    response = client_of(world.org_admin).post(page("patient_delete", patient.pk), {"post": "yes"})
    assert response.status_code == 403
    assert Patient.objects.filter(pk=patient.pk).exists()


def test_a_patients_history_page_lists_every_change_with_who_made_it(world, client_of, patient):
    client = client_of(world.org_admin)
    client.post(page("patient_change", patient.pk), details_of(patient, phone="+1 250 555 0777"))
    Patient.objects.filter(pk=patient.pk).update(address="1 Lake Road")  # a bulk update
    history = client.get(page("patient_history", patient.pk))
    entries = list(history.context["action_list"])
    assert [entry.get_change_message().split(":")[0] for entry in entries] == [
        "Created.",
        "Phone",
        "Address",
    ]
    assert entries[1].user == world.org_admin
    assert "“+1 250 555 0199” → “+1 250 555 0777”" in entries[1].get_change_message()


# --- Policy --------------------------------------------------------------------


def test_an_org_admin_sets_the_clinical_policy_once_per_organisation(world, client_of):
    client = client_of(world.org_admin)
    form = {"organization": str(world.organization.pk), "screening_valid_days": "60"}
    assert client.post(page("clinicalpolicy_add"), form).status_code == 302
    assert services.policy_for(world.organization).screening_valid_days == 60
    again = client.post(page("clinicalpolicy_add"), form | {"screening_valid_days": "30"})
    assert again.status_code == 200
    assert "already exists" in again.content.decode()
    policy = services.policy_for(world.organization)
    change = client.post(
        page("clinicalpolicy_change", policy.pk),
        {"screening_valid_days": "120", "outdated_consent_counts": "on"},
    )
    assert change.status_code == 302
    policy.refresh_from_db()
    assert (policy.screening_valid_days, policy.outdated_consent_counts) == (120, True)


def test_a_manager_reads_the_clinical_policy_but_cannot_change_it(world, client_of):
    policy = services.save_policy(organization=world.organization, by=world.org_admin)
    client = client_of(world.manager)
    response = client.post(page("clinicalpolicy_change", policy.pk), {"screening_valid_days": "5"})
    assert response.status_code == 403
    policy.refresh_from_db()
    assert policy.screening_valid_days == 90


# --- Signed and submitted records --------------------------------------------


def signed_consent(world, patient) -> ConsentSignature:
    return services.sign_consent(
        patient=patient,
        by=world.therapist,
        template=services.current_consent_template(world.organization),
        signer_name=patient.full_name,
    )


def test_a_consent_signature_is_read_only_in_the_admin(world, client_of, patient):
    signature = signed_consent(world, patient)
    client = client_of(world.org_admin)
    view = client.get(page("consentsignature_change", signature.pk))
    assert view.status_code == 200
    assert "Pat Morgan" in view.content.decode()
    assert 'name="_save"' not in view.content.decode()
    changed = client.post(
        page("consentsignature_change", signature.pk),
        {"signer_name": "Someone Else", "text": "Nothing"},
    )
    assert changed.status_code == 403
    deleted = client.post(page("consentsignature_delete", signature.pk), {"post": "yes"})
    assert deleted.status_code == 403
    assert ConsentSignature.objects.get(pk=signature.pk).signer_name == "Pat Morgan"
    assert client.get(page("consentsignature_add")).status_code == 403


def test_a_screening_shows_its_answers_read_only(world, client_of, patient):
    screening = services.submit_screening(
        patient=patient,
        by=world.therapist,
        answers=answers_for(services.current_questionnaire(world.organization), "blood_thinners"),
    )
    client = client_of(world.manager)
    view = client.get(page("screeningresponse_change", screening.pk))
    assert view.status_code == 200
    answers = view.context["inline_admin_formsets"][0].formset.queryset
    assert answers.filter(answer=True).get().question.key == "blood_thinners"
    assert 'name="_save"' not in view.content.decode()
    assert client.post(page("screeningresponse_delete", screening.pk)).status_code == 403


def test_the_front_desk_does_not_reach_screening_answers_in_the_admin(world, client_of, patient):
    response = client_of(world.front_desk).get(page("screeningresponse_changelist"), follow=True)
    assert response.status_code == 403


def test_every_patient_record_opens_in_the_admin_with_its_history(world, client_of):
    record = full_record(clinic=world.kelowna, therapist=world.therapist, admin=world.org_admin)
    rows = [
        record.patient,
        record.policy,
        record.intake,
        record.screening,
        record.screening.questionnaire,
        record.consent,
        record.consent.template,
        record.withdrawal,
        record.invitation,
    ]
    client = client_of(world.org_admin)
    for row in rows:
        name = row._meta.model_name
        listing = client.get(page(f"{name}_changelist"))
        assert str(row.pk) in listing.content.decode(), name
        assert client.get(page(f"{name}_change", row.pk)).status_code == 200, name
        history = client.get(page(f"{name}_history", row.pk))
        assert history.context["action_list"][0].get_change_message() == "Created.", name
    intake = client.get(page("intake_change", record.intake.pk)).content.decode()
    assert "Appendectomy (2015-03-01)" in intake


# --- The access log --------------------------------------------------------------


def test_opening_a_patients_records_in_the_admin_is_logged(world, client_of, patient):
    screening = services.submit_screening(
        patient=patient,
        by=world.therapist,
        answers=answers_for(services.current_questionnaire(world.organization)),
    )
    client = client_of(world.manager)
    client.get(page("patient_changelist"))
    client.get(page("patient_change", patient.pk))
    client.get(page("screeningresponse_changelist"))
    client.get(page("screeningresponse_change", screening.pk))
    reads = RecordRead.objects.order_by("read_at").values_list("reader", "patient", "part", "via")
    assert list(reads) == [
        (world.manager.pk, patient.pk, RecordPart.LIST, ReadVia.ADMIN),  # names, dates of birth
        (world.manager.pk, patient.pk, RecordPart.DETAILS, ReadVia.ADMIN),
        (world.manager.pk, patient.pk, RecordPart.SCREENING, ReadVia.ADMIN),
        (world.manager.pk, patient.pk, RecordPart.SCREENING, ReadVia.ADMIN),
    ]


def test_only_organisation_admins_read_the_access_log_in_the_admin(world, client_of, patient):
    services.record_read(
        reader=world.therapist, patient=patient, part=RecordPart.INTAKE, via=ReadVia.PAGE
    )
    log = client_of(world.org_admin).get(page("recordread_changelist"))
    assert [read.reader for read in log.context["cl"].result_list] == [world.therapist]
    assert client_of(world.manager).get(page("recordread_changelist")).status_code == 403


def test_a_list_read_is_one_row_found_by_any_of_its_patients_and_opening_it_is_logged(
    world, client_of, patient
):
    others = PatientFactory.create_batch(2, home_clinic=world.kelowna, last_name="Okafor")
    services.record_reads(
        reader=world.therapist, patients=[patient, *others], part=RecordPart.LIST, via="page"
    )
    client = client_of(world.org_admin)
    log = client.get(page("recordread_changelist"))
    assert "A list of 3 patients" in log.content.decode()
    found = client.get(page("recordread_changelist"), {"q": patient.last_name})
    (listed,) = found.context["cl"].result_list
    assert (
        client.get(page("recordread_changelist"), {"q": "Nobody-by-this-name"})
        .context["cl"]
        .result_count
        == 0
    )
    # The list page names no patient; the read's own page names all three, and is logged so.
    assert not RecordRead.objects.filter(reader=world.org_admin).of_patients([patient.pk])
    opened = client.get(page("recordread_change", listed.pk)).content.decode()
    assert all(str(shown) in opened for shown in [patient, *others])
    named = RecordRead.objects.filter(reader=world.org_admin).of_patients([others[1].pk]).get()
    assert sorted(named.patient_ids) == sorted(shown.pk for shown in [patient, *others])


def test_saving_the_admins_add_page_twice_registers_one_patient(world, client_of):
    client = client_of(world.org_admin)
    key = client.get(page("patient_add")).context["adminform"].form.initial["registration_key"]
    for _ in range(2):
        response = client.post(page("patient_add"), patient_form(world, registration_key=key))
        assert response.status_code == 302
    assert Patient.objects.filter(last_name="Ashdown").count() == 1
