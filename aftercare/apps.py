from django.apps import AppConfig


class AftercareConfig(AppConfig):
    name = "aftercare"
    verbose_name = "Aftercare"

    def ready(self) -> None:
        from django.db.models import Q

        from aftercare import models, panels, receivers, safety, selectors
        from clinics import access
        from patients import panels as patient_panels
        from patients import safety as patient_safety
        from sessions import progress
        from sessions import sections as session_sections
        from sessions.signals import session_signed

        # Organisation-wide: every clinical role reads them, organisation admins keep them.
        access.register(models.AftercareTemplate, view=access.CLINICAL, add=access.ORG_ADMINS)
        access.register(
            models.AftercareSettings,
            view=access.CLINICAL,
            add=access.ORG_ADMINS,
            change=access.ORG_ADMINS,
        )
        # A plan is the therapist's draft until the session is signed; the
        # patient sees it from then on, never the draft.
        access.register(
            models.AftercarePlan,
            clinic="clinic",
            view=access.CLINICAL,
            add=access.CLINICAL,
            change=access.CLINICAL,
            own="patient__user",
            own_when=Q(status=models.PlanStatus.ISSUED),
            patient="patient",
        )
        access.register(
            models.PlanExercise,
            clinic="plan__clinic",
            view=access.CLINICAL,
            add=access.CLINICAL,
            delete=access.CLINICAL,
            own="plan__patient__user",
            own_when=Q(plan__status=models.PlanStatus.ISSUED),
            patient="plan__patient",
        )
        access.register(
            models.PlanRead,
            clinic="plan__clinic",
            view=access.CLINICAL,
            own="plan__patient__user",
            own_may=("view", "add"),
            patient="plan__patient",
        )
        access.register(
            models.CheckIn,
            clinic="clinic",
            view=access.CLINICAL,
            own="patient__user",
            patient="patient",
        )
        access.register(
            models.CheckInAnswer,
            clinic="check_in__clinic",
            view=access.CLINICAL,
            own="patient__user",
            own_may=("view", "add"),
            patient="patient",
        )
        # Who was e-mailed about a check-in or an alert, and what the mail server said.
        access.register(models.EmailAttempt, clinic="clinic", view=access.CLINICAL)
        # The front desk sees that an alert exists (who, how urgent, whether
        # someone is on it), never the answers or the notes behind it.
        access.register(
            models.Alert,
            clinic="clinic",
            view=access.STAFF,
            change=access.CLINICAL,
            patient="patient",
        )
        access.register(
            models.AlertNote,
            clinic="alert__clinic",
            view=access.CLINICAL,
            add=access.CLINICAL,
            patient="alert__patient",
        )

        session_signed.connect(receivers.issue_aftercare, dispatch_uid="aftercare.issue_aftercare")
        session_sections.register(panels.session_section)
        session_sections.register_signing(panels.signing_summary)
        patient_safety.register(
            notices=safety.open_alerts, blockers=safety.unacknowledged_urgent_alerts
        )
        patient_panels.register(panels.patient_panel)
        from aftercare import messages
        from patients import messages as patient_messages

        patient_messages.register(messages.check_ins_sent)
        patient_panels.register_portal(panels.portal_section, before_tasks=True)
        progress.register_follow_up(selectors.pain_after_check_in, label="2 days after (check-in)")

        from aftercare import own_record
        from patients import own_record as patient_record

        patient_record.register(*own_record.PARTS)

        from aftercare import fhir
        from patients import fhir as patient_fhir

        patient_fhir.register(*fhir.SECTIONS)
