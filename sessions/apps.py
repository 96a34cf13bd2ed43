from django.apps import AppConfig


class TreatmentSessionsConfig(AppConfig):
    """Treatment sessions. `django.contrib.sessions` owns the label "sessions"."""

    name = "sessions"
    label = "treatment_sessions"
    verbose_name = "Treatment sessions"

    def ready(self) -> None:
        from clinics import access
        from sessions.models import ContraindicationOverride, TreatmentSession

        # The booking itself: front desk and therapists book, cancel and record
        # no-shows; a patient sees their own. The chart (issue 4) gets its own
        # rows, which the front desk does not read.
        access.register(
            TreatmentSession,
            clinic="clinic",
            view=access.STAFF,
            add=access.STAFF,
            change=access.STAFF,
            own="patient__user",
        )
        access.register(
            ContraindicationOverride,
            clinic="session__clinic",
            view=access.CLINICAL,
        )
