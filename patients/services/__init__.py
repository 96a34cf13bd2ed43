"""Every write on patient records that carries a rule: keyword arguments, one transaction."""

from patients.services.audit import (
    one_response,
    patient_of_row,
    record_read,
    record_reads,
    record_reads_of,
)
from patients.services.consent import sign_consent, withdraw_consent
from patients.services.emergency import grant_emergency_access
from patients.services.forms import (
    current_consent_template,
    current_questionnaire,
    policy_for,
    publish_consent_template,
    publish_questionnaire,
    save_policy,
)
from patients.services.forms_request import form_links, forms_due, may_send_forms, send_forms
from patients.services.intake import save_intake
from patients.services.records import (
    PATIENT_FIELDS,
    accept_invitation,
    create_login_from_invitation,
    invitation_for,
    invite_patient,
    register_patient,
    update_patient,
)
from patients.services.screening import derive_flags, report_health_change, submit_screening

__all__ = [
    "PATIENT_FIELDS",
    "accept_invitation",
    "create_login_from_invitation",
    "current_consent_template",
    "current_questionnaire",
    "derive_flags",
    "form_links",
    "forms_due",
    "grant_emergency_access",
    "invitation_for",
    "invite_patient",
    "may_send_forms",
    "one_response",
    "patient_of_row",
    "policy_for",
    "publish_consent_template",
    "publish_questionnaire",
    "record_read",
    "record_reads",
    "record_reads_of",
    "register_patient",
    "report_health_change",
    "save_intake",
    "save_policy",
    "send_forms",
    "sign_consent",
    "submit_screening",
    "update_patient",
    "withdraw_consent",
]
