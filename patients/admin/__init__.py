"""The Django admin for patient records, scoped by clinics.access like every other page.

Every write goes through patients.services (clinics.admin_services). Signed and
submitted records (screenings, consents, withdrawals, intakes, invitations)
are shown, never changed or deleted here, and every read of a patient's
record is written in the access log.
"""

from patients.admin import merge, records, versions

__all__ = ["merge", "records", "versions"]
