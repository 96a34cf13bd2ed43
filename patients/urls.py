from django.urls import path

from patients.views import emergency, forms_request, imports, merge, staff

app_name = "patients"

urlpatterns = [
    path("", staff.patient_list, name="list"),
    path("register/", staff.register, name="register"),
    path("imports/", imports.import_list, name="imports"),
    path("imports/<uuid:file_id>/", imports.import_file, name="import_file"),
    path("imports/<uuid:file_id>/check/", imports.import_check, name="import_check"),
    path("imports/<uuid:file_id>/import/", imports.import_start, name="import_start"),
    path("imports/<uuid:file_id>/discard/", imports.import_discard, name="import_discard"),
    path("imports/<uuid:file_id>/report.csv", imports.import_report, name="import_report"),
    path("other-sites/", emergency.other_sites, name="other_sites"),
    path("emergency-access/", emergency.emergency_access_list, name="emergency_access_list"),
    path("<uuid:patient_id>/", staff.detail, name="detail"),
    path("<uuid:patient_id>/edit/", staff.edit, name="edit"),
    path("<uuid:patient_id>/intake/", staff.intake, name="intake"),
    path("<uuid:patient_id>/screening/", staff.screening_new, name="screening_new"),
    path(
        "<uuid:patient_id>/screening/<uuid:screening_id>/",
        staff.screening_detail,
        name="screening_detail",
    ),
    path("<uuid:patient_id>/consent/", staff.consent_sign, name="consent_sign"),
    path(
        "<uuid:patient_id>/consent/<uuid:consent_id>/",
        staff.consent_detail,
        name="consent_detail",
    ),
    path(
        "<uuid:patient_id>/consent/<uuid:consent_id>/withdraw/",
        staff.consent_withdraw,
        name="consent_withdraw",
    ),
    path("<uuid:patient_id>/invite/", staff.invite, name="invite"),
    path("<uuid:patient_id>/send-forms/", forms_request.send_forms, name="send_forms"),
    path("<uuid:patient_id>/forms/", forms_request.forms_on_tablet, name="forms_on_tablet"),
    path("<uuid:patient_id>/health-change/", staff.report_change, name="report_change"),
    path("<uuid:patient_id>/merge/", merge.choose, name="merge_choose"),
    path(
        "<uuid:patient_id>/emergency-access/",
        emergency.open_in_emergency,
        name="open_in_emergency",
    ),
    path("<uuid:patient_id>/merge/<uuid:other_id>/", merge.compare, name="merge"),
]
