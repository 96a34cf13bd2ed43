"""The signals clinics sends, for the apps above it to act on (they may not be imported here)."""

from django.dispatch import Signal

role_revoked = Signal()
"""Sent by `services.revoke_role` once a staff role is removed, inside its transaction, with
`membership` (the removed row: its organisation, clinic, user and role). sessions forgets the
therapist's working hours at that clinic, so the calendar offers nobody who left and their
hours hold no other clinic's back."""
