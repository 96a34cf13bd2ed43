from django.apps import AppConfig


class TreatmentSessionsConfig(AppConfig):
    """Treatment sessions. `django.contrib.sessions` owns the label "sessions"."""

    name = "sessions"
    label = "treatment_sessions"
    verbose_name = "Treatment sessions"
