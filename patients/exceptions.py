"""The rules a patient write can break; config.api and the pages show `message` as it is."""

from clinics.exceptions import Conflict, FasciaError, NotPermitted

__all__ = [
    "Conflict",
    "ConsentRefused",
    "EditConflict",
    "InvitationInvalid",
    "LikelyDuplicate",
    "MergeRefused",
    "NotPermitted",
    "ScreeningInvalid",
    "SubmissionKeyReused",
]


class LikelyDuplicate(Conflict):
    """The organisation already has a patient who may be this person."""

    code = "likely_duplicate"

    def __init__(self, message: str, *, matches: list, visible: set):
        super().__init__(message)
        self.matches = matches
        """Each with `duplicate_reasons` (patients.selectors.likely_duplicates)."""
        self.visible = visible
        """The ids among `matches` the user may open; of the others only their number shows."""

    def details(self) -> dict:
        return {
            "matches": [
                {
                    "id": str(patient.pk),
                    "name": patient.full_name,
                    "date_of_birth": patient.date_of_birth.isoformat(),
                    "home_clinic": patient.home_clinic.name,
                    "reasons": patient.duplicate_reasons,
                }
                for patient in self.matches
                if patient.pk in self.visible
            ],
            "elsewhere": sum(patient.pk not in self.visible for patient in self.matches),
        }


class MergeRefused(Conflict):
    """Two patient records that cannot be merged as they are; nothing was changed."""

    code = "merge_refused"


class EditConflict(Conflict):
    """Someone else saved this record after it was opened: nothing was overwritten."""

    code = "edit_conflict"


class SubmissionKeyReused(Conflict):
    """A submission key already used for another record: a client bug, never a retry."""

    code = "submission_key_reused"

    def __init__(self):
        super().__init__(
            "This submission key was already used for another record. Make a new key for "
            "each new submission.",
            field="submission_key",
        )


class ScreeningInvalid(FasciaError):
    code = "screening_invalid"


class ConsentRefused(FasciaError):
    code = "consent_refused"


class InvitationInvalid(FasciaError):
    code = "invitation_invalid"


class ExportRefused(FasciaError):
    """A FHIR export that cannot be made as asked (an unknown type, an organisation)."""

    code = "export_refused"


class ImportRefused(FasciaError):
    """An import that cannot be made as asked (a closed clinic, no system named)."""

    code = "import_refused"
