"""Patients and what they tell the clinic: details, intake, screening and consent."""

from patients.models.audit import ReadVia, RecordPart, RecordRead
from patients.models.consent import (
    ConsentSignature,
    ConsentTemplate,
    ConsentWithdrawal,
    sha256_of,
)
from patients.models.emergency import EmergencyAccess
from patients.models.exports import ExportStatus, FhirExport, FhirExportFile
from patients.models.forms_request import FormsRequest, FormsSentAs, PatientForm
from patients.models.imports import (
    WORKING,
    ImportFileStatus,
    PatientImport,
    PatientImportFile,
)
from patients.models.merge import PatientMerge
from patients.models.records import (
    ActivityLevel,
    Channel,
    ClinicalPolicy,
    Intake,
    PainArea,
    Patient,
    PatientInvitation,
    Surgery,
)
from patients.models.screening import Question, Questionnaire, ScreeningAnswer, ScreeningResponse

__all__ = [
    "WORKING",
    "ActivityLevel",
    "Channel",
    "ClinicalPolicy",
    "ConsentSignature",
    "ConsentTemplate",
    "ConsentWithdrawal",
    "EmergencyAccess",
    "ExportStatus",
    "FhirExport",
    "FhirExportFile",
    "FormsRequest",
    "FormsSentAs",
    "ImportFileStatus",
    "Intake",
    "PainArea",
    "Patient",
    "PatientForm",
    "PatientImport",
    "PatientImportFile",
    "PatientInvitation",
    "PatientMerge",
    "Question",
    "Questionnaire",
    "ReadVia",
    "RecordPart",
    "RecordRead",
    "ScreeningAnswer",
    "ScreeningResponse",
    "Surgery",
    "sha256_of",
]
