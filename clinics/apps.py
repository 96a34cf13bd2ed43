from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class ClinicsConfig(AppConfig):
    default = True
    name = "clinics"
    verbose_name = "Clinics and staff"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in
        from django.db.models import Field, ForeignObject

        from clinics.lookups import AnyOf

        Field.register_lookup(AnyOf)
        ForeignObject.register_lookup(AnyOf)  # related fields keep lookups of their own

        from clinics import access, idle, receivers
        from clinics.models import Clinic, Membership, Organization, SecurityEvent

        user_logged_in.connect(idle.start_the_clock, dispatch_uid="clinics.idle.start_the_clock")

        access.register(
            Organization,
            organization="id",
            view=access.STAFF,
            change=access.ORG_ADMINS,
        )
        access.register(
            Clinic,
            clinic="id",
            view=access.STAFF,
            add=access.ORG_ADMINS,
            change=access.MANAGERS,
        )
        # Colleagues at a clinic see who works there (front desk books with
        # therapists); managers add and remove roles at their clinics.
        access.register(
            Membership,
            clinic="clinic",
            view=access.STAFF,
            add=access.MANAGERS,
            change=access.MANAGERS,  # the role stays; only its credential is edited
            delete=access.MANAGERS,
            own="user",
        )
        # The security log is the organisation's record of its people's logins and
        # roles: its admins read it; rows are written by clinics.security_log only.
        access.register(SecurityEvent, view=access.ORG_ADMINS)
        receivers.connect()


class FasciaAdminConfig(admin_apps.AdminConfig):
    """The Django admin, entered by role (clinics.access) and logged into through allauth."""

    default = False
    default_site = "clinics.admin_site.FasciaAdminSite"
