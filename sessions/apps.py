from django.apps import AppConfig
from django.db.models.signals import post_migrate


class TreatmentSessionsConfig(AppConfig):
    """Treatment sessions. `django.contrib.sessions` owns the label "sessions"."""

    name = "sessions"
    label = "treatment_sessions"
    verbose_name = "Treatment sessions"

    def ready(self) -> None:
        from clinics import access
        from patients import panels as patient_panels
        from patients import safety as patient_safety
        from sessions import models, panels, safety, vocabulary

        # The booking itself: front desk and therapists book, cancel and record
        # no-shows; a patient sees their own. The chart is in rows of its own,
        # which the front desk never reads.
        access.register(
            models.TreatmentSession,
            clinic="clinic",
            view=access.STAFF,
            add=access.STAFF,
            change=access.STAFF,
            own="patient__user",
            patient="patient",
        )
        access.register(
            models.ContraindicationOverride,
            clinic="session__clinic",
            view=access.CLINICAL,
            patient="session__patient",
        )
        access.register(
            models.Chart,
            clinic="session__clinic",
            view=access.CLINICAL,
            change=access.CLINICAL,
            patient="session__patient",
        )
        for row in (
            models.NeedleSite,
            models.RangeOfMotion,
            models.PressurePainThreshold,
            models.AdverseEvent,
        ):
            access.register(
                row,
                clinic="session__clinic",
                view=access.CLINICAL,
                add=access.CLINICAL,
                delete=access.CLINICAL,
                patient="session__patient",
            )
        access.register(
            models.Addendum,
            clinic="session__clinic",
            view=access.CLINICAL,
            add=access.CLINICAL,
            patient="session__patient",
        )
        # A suspected pneumothorax is reviewed for the whole organisation.
        access.register(
            models.AdverseEventReview,
            clinic="adverse_event__session__clinic",
            view=access.CLINICAL,
            add=access.ORG_ADMINS,
            patient="adverse_event__session__patient",
        )
        # A recall notice is part of the patient's record and belongs to the clinic
        # that sends it, where the patient was first needled with the lot: its
        # clinical staff send it, see it and send it again after a failure.
        access.register(
            models.RecallNotice,
            clinic="clinic",
            view=access.CLINICAL,
            add=access.CLINICAL,
            change=access.CLINICAL,
            patient="patient",
        )
        # A booking's reminder e-mail: every staff role of the clinic reads where it stands;
        # only the worker and the patient's links write it, nobody by hand.
        access.register(
            models.Reminder,
            clinic="clinic",
            view=access.STAFF,
            patient="patient",
        )
        # Organisation-wide: every clinical role reads them, organisation admins keep them.
        access.register(
            models.ChartTemplate,
            view=access.CLINICAL,
            add=access.ORG_ADMINS,
            change=access.ORG_ADMINS,
        )
        access.register(models.OrganizationMuscle, view=access.CLINICAL, add=access.ORG_ADMINS)
        # The calendar's makings: every role books, so every role reads them; organisation
        # admins keep the types, they and the clinic managers each clinic's hours.
        access.register(
            models.AppointmentType,
            view=access.STAFF,
            add=access.ORG_ADMINS,
            change=access.ORG_ADMINS,
        )
        access.register(
            models.WorkingHours,
            clinic="clinic",
            view=access.STAFF,
            add=access.MANAGERS,
            change=access.MANAGERS,
            delete=access.MANAGERS,
        )
        access.register(
            models.BookingSettings,
            view=access.STAFF,
            add=access.ORG_ADMINS,
            change=access.ORG_ADMINS,
        )
        # Added and removed, never changed: a change of plan is a new row.
        access.register(
            models.ScheduleChange,
            clinic="clinic",
            view=access.STAFF,
            add=access.MANAGERS,
            delete=access.MANAGERS,
        )

        # A therapist's calendar feed is theirs: they make, read and revoke it. Organisation
        # admins, and the managers of the clinics the therapist works at, list and revoke
        # them (a feed shows no patient's name, but it leaves Fascia for another calendar).
        access.register(
            models.CalendarFeed,
            staff="therapist",
            view=access.MANAGERS,
            change=access.MANAGERS,
            own="therapist",
            own_may=("view", "add", "change"),
        )

        post_migrate.connect(vocabulary.sync_default_muscles, sender=self)
        from clinics.signals import role_revoked
        from sessions.services.schedule import forget_hours_of_revoked_role

        role_revoked.connect(forget_hours_of_revoked_role, dispatch_uid="sessions-hours")
        patient_safety.register(
            notices=safety.events_under_review, blockers=safety.unreviewed_events
        )
        patient_panels.register(panels.sessions_panel)
        from patients import messages as patient_messages
        from sessions import messages

        patient_messages.register(messages.reminders_and_recall_notices)
        patient_panels.register_portal(panels.portal_panel, before_tasks=False)

        from patients import own_record as patient_record
        from sessions import own_record

        patient_record.register(*own_record.PARTS)

        from patients import fhir as patient_fhir
        from sessions import fhir

        patient_fhir.register(*fhir.SECTIONS)
