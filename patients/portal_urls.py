from django.urls import path

from patients.views import portal

app_name = "portal"

urlpatterns = [
    path("", portal.home, name="home"),
    path("intake/", portal.intake, name="intake"),
    path("screening/", portal.screening, name="screening"),
    path("screening/<uuid:screening_id>/", portal.screening_detail, name="screening_detail"),
    path("consent/", portal.consent_sign, name="consent_sign"),
    path("consent/<uuid:consent_id>/", portal.consent_detail, name="consent_detail"),
    path("consent/<uuid:consent_id>/withdraw/", portal.consent_withdraw, name="consent_withdraw"),
    path("health-change/", portal.report_change, name="report_change"),
    path("record/", portal.record, name="record"),
    path("record.json", portal.record_json, name="record_json"),
    path("record.fhir.json", portal.record_fhir, name="record_fhir"),
    path("record.pdf", portal.record_pdf, name="record_pdf"),
    path("record/reads/", portal.record_reads, name="record_reads"),
    path("invitation/<str:token>/", portal.invitation, name="invitation"),
]
