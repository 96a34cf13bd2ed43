from django.apps import AppConfig


class PatientsConfig(AppConfig):
    name = "patients"
    verbose_name = "Patients"

    def ready(self) -> None:
        from clinics import access, database_roles
        from patients import merging, models

        # A merge moves signed rows to the kept record: the database lets Fascia's role
        # update their patient column, and nothing else of them.
        database_roles.allow_update(merging.columns_a_merge_updates)

        at_home_clinic = "patient__home_clinic"
        # A patient's own login reads (and, where the portal lets them, writes)
        # their own record; the front desk registers, invites and takes consent
        # but never reads clinical answers beyond the flags.
        access.register(
            models.Patient,
            clinic="home_clinic",
            view=access.STAFF,
            add=access.STAFF,
            change=access.STAFF,
            own="user",
            patient="pk",
        )
        # A patient's portal login is one of the organisation's people: its admins see
        # the login's security events.
        access.register_person_record(models.Patient, user="user")
        access.register(
            models.ClinicalPolicy,
            view=access.STAFF,
            add=access.ORG_ADMINS,
            change=access.ORG_ADMINS,
        )
        access.register(
            models.PatientInvitation,
            clinic=at_home_clinic,
            view=access.STAFF,
            add=access.STAFF,
            patient="patient",
        )
        # Sending the patient the forms is the front desk's job as much as anyone's.
        access.register(
            models.FormsRequest,
            clinic=at_home_clinic,
            view=access.STAFF,
            add=access.STAFF,
            patient="patient",
        )
        for record in (models.Intake, models.Surgery):
            access.register(
                record,
                clinic=at_home_clinic,
                view=access.CLINICAL,
                add=access.CLINICAL,
                change=access.CLINICAL,
                delete=access.CLINICAL,
                own="patient__user",
                own_may=("view", "add", "change", "delete"),
                patient="patient",
            )
        for form in (models.Questionnaire, models.Question, models.ConsentTemplate):
            access.register(form, view=access.STAFF, add=access.ORG_ADMINS)
        access.register(
            models.ScreeningResponse,
            clinic=at_home_clinic,
            view=access.CLINICAL,
            add=access.CLINICAL,
            change=access.STAFF,  # the only change: "the patient reports a change in health"
            own="patient__user",
            own_may=("view", "add", "change"),
            patient="patient",
        )
        access.register(
            models.ScreeningAnswer,
            clinic="response__patient__home_clinic",
            view=access.CLINICAL,
            own="response__patient__user",
            patient="response__patient",
        )
        # Two records of one person are merged by an organisation admin, who
        # reads every site's records; the merges are their record of it.
        access.register(models.PatientMerge, view=access.ORG_ADMINS, add=access.ORG_ADMINS)
        # The access log is the organisation's audit trail: its admins read it;
        # rows are written by services.record_read, never through a form.
        access.register(models.RecordRead, view=access.ORG_ADMINS)
        # A whole organisation's records, exported as FHIR: its admins ask for one and
        # fetch its files; written by services.fhir_export only.
        access.register(
            models.FhirExport,
            view=access.ORG_ADMINS,
            add=access.ORG_ADMINS,
            delete=access.ORG_ADMINS,
        )
        access.register(models.FhirExportFile, view=access.ORG_ADMINS)
        # Patients brought in from another system: its admins import, and read each import's
        # report; written by services.imports only, never changed.
        access.register(models.PatientImport, view=access.ORG_ADMINS, add=access.ORG_ADMINS)
        # The files uploaded on the import page, until imported or discarded: its admins'.
        access.register(
            models.PatientImportFile,
            view=access.ORG_ADMINS,
            add=access.ORG_ADMINS,
            change=access.ORG_ADMINS,
            delete=access.ORG_ADMINS,
        )
        # Break-glass: a clinician reads the record of a patient of another site for a few
        # hours (clinics.access). Organisation admins review every access; the clinician
        # sees their own. Written by services.grant_emergency_access only, never changed.
        access.register(models.EmergencyAccess, view=access.ORG_ADMINS, own="user")
        access.register_emergency_access(models.EmergencyAccess)
        # The front desk takes consent (the patient signs on the clinic's tablet); a
        # withdrawal is the patient's own, in the portal, or recorded by clinical staff
        # who heard it.
        access.register(
            models.ConsentSignature,
            clinic=at_home_clinic,
            view=access.STAFF,
            add=access.STAFF,
            own="patient__user",
            own_may=("view", "add"),
            patient="patient",
        )
        access.register(
            models.ConsentWithdrawal,
            clinic=at_home_clinic,
            view=access.STAFF,
            add=access.CLINICAL,
            own="patient__user",
            own_may=("view", "add"),
            patient="patient",
        )

        from patients import own_record

        own_record.register(*own_record.PARTS)

        from patients import fhir
        from patients.fhir import resources as fhir_resources

        fhir.register(*fhir_resources.SECTIONS)
