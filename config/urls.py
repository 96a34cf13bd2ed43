from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.utils.csp import CSP
from django.views.decorators.csp import csp_override
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from accounts import views as account_views
from aftercare import api as aftercare_api
from clinics import api as clinics_api
from config import idle_timeout
from config.views import healthz, home
from patients import api as patients_api
from patients.api import fhir as patients_fhir_api
from sessions import api as sessions_api
from sessions.views import feeds as calendar_feeds

# Swagger UI sets inline styles; the rest of the policy (scripts above all) stays.
api_docs = csp_override({**settings.SECURE_CSP, "style-src": [CSP.SELF, CSP.UNSAFE_INLINE]})(
    SpectacularSwaggerSplitView.as_view(url_name="api-schema")
)

# No `.json` twin of each route: JSON is the only format, and actions that take no
# `format` argument answered those twins with a server error.
router = DefaultRouter()
router.include_format_suffixes = False
router.register("clinics", clinics_api.ClinicViewSet, basename="clinic")
router.register("staff-roles", clinics_api.StaffRoleViewSet, basename="staff-role")
router.register("security-events", clinics_api.SecurityEventViewSet, basename="security-event")
router.register("patients", patients_api.PatientViewSet, basename="patient")
router.register(
    "screening-questionnaires",
    patients_api.ScreeningQuestionnaireViewSet,
    basename="screening-questionnaire",
)
router.register(
    "screening-responses", patients_api.ScreeningResponseViewSet, basename="screening-response"
)
router.register(
    "consent-templates", patients_api.ConsentTemplateViewSet, basename="consent-template"
)
router.register(
    "consent-signatures", patients_api.ConsentSignatureViewSet, basename="consent-signature"
)
router.register("sessions", sessions_api.TreatmentSessionViewSet, basename="session")
router.register("chart-templates", sessions_api.ChartTemplateViewSet, basename="chart-template")
router.register("adverse-events", sessions_api.AdverseEventViewSet, basename="adverse-event")
router.register(
    "appointment-types", sessions_api.AppointmentTypeViewSet, basename="appointment-type"
)
router.register("availability", sessions_api.AvailabilityViewSet, basename="availability")
router.register(
    "availability-changes", sessions_api.AvailabilityChangeViewSet, basename="availability-change"
)
router.register("reminders", sessions_api.ReminderViewSet, basename="reminder")
router.register("calendar-feeds", sessions_api.CalendarFeedViewSet, basename="calendar-feed")
router.register(
    "aftercare-templates", aftercare_api.AftercareTemplateViewSet, basename="aftercare-template"
)
router.register(
    "aftercare-settings", aftercare_api.AftercareSettingsViewSet, basename="aftercare-settings"
)
router.register("aftercare-plans", aftercare_api.AftercarePlanViewSet, basename="aftercare-plan")
router.register("check-ins", aftercare_api.CheckInViewSet, basename="check-in")
router.register("alerts", aftercare_api.AlertViewSet, basename="alert")

# Outside the router: lists that are not one organisation's rows of one model (the
# muscle vocabulary; the recall, which needs its lot number; the free slots, worked out
# from several models), the FHIR Bulk Data export (its addresses are the standard's), and
# the DELETEs of a
# chart row and of a plan's exercise, which name two ids. Their scoping is tested in
# tests/sessions/test_chart_api.py, tests/sessions/test_recall.py and
# tests/aftercare/test_api.py; the router's is generated (test_access_matrix).
api_outside_the_router = [
    path("muscles/", sessions_api.MuscleVocabularyView.as_view(), name="muscle-list"),
    path("needle-sites/", sessions_api.NeedleSiteRecallView.as_view(), name="needle-site-list"),
    path("recall/patients/", sessions_api.RecallPatientsView.as_view(), name="recall-patient-list"),
    path("recall/notify/", sessions_api.RecallNotifyView.as_view(), name="recall-notify"),
    path("slots/", sessions_api.SlotsView.as_view(), name="slot-list"),
    # A regular expression: the "$" of FHIR's operation name is a character, not the end.
    re_path(r"^fhir/\$export$", patients_fhir_api.FhirExportKickOff.as_view(), name="fhir-export"),
    path(
        "fhir/exports/<uuid:export_id>/",
        patients_fhir_api.FhirExportStatus.as_view(),
        name="fhir-export-status",
    ),
    path(
        "fhir/exports/<uuid:export_id>/files/<str:resource_type>",
        patients_fhir_api.FhirExportFile.as_view(),
        name="fhir-export-file",
    ),
    *(
        path(
            f"sessions/<uuid:pk>/{kind}/<uuid:row_id>/",
            sessions_api.chart_row_view(kind),
            name=f"session-{kind}-detail",
        )
        for kind in sessions_api.CHART_ROWS
    ),
    path(
        "aftercare-plans/<uuid:pk>/exercises/<uuid:exercise_id>/",
        aftercare_api.exercise_view(),
        name="aftercare-plan-exercise-detail",
    ),
]

# A database that does not answer is a 503 to try again, the rest a 500 (DEBUG off).
handler500 = "config.outage.server_error"
# An address under /api/ that is no route answers JSON, like the API's own 404s.
handler404 = "config.api.not_found"

urlpatterns = [
    path("", home, name="home"),
    path("clinics/", include("clinics.urls")),
    path("patients/", include("patients.urls")),
    path("portal/", include("patients.portal_urls")),
    path("portal/aftercare/", include("aftercare.portal_urls")),
    path("portal/sessions/", include("sessions.portal_urls")),
    path("aftercare/", include("aftercare.urls")),
    path("sessions/", include("sessions.urls")),
    path("accounts/api-token/", account_views.api_token, name="api_token"),
    path("accounts/session/time-left/", idle_timeout.time_left, name="idle_time_left"),
    path("accounts/session/stay/", idle_timeout.stay, name="idle_stay"),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/me/", clinics_api.MeView.as_view(), name="api-me"),
    path("api/v1/", include(api_outside_the_router)),
    path("api/v1/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", api_docs, name="api-docs"),
    path("healthz", healthz, name="healthz"),
    # No login: the secret in the address is the key (sessions/services/feeds.py).
    path("calendar-feeds/<str:secret>.ics", calendar_feeds.calendar_feed, name="calendar_feed"),
]
