"""The signals this app sends, for the apps above it (aftercare) to react to."""

from django.dispatch import Signal

session_signed = Signal()
"""Sent when a therapist signs a session, inside the signing transaction.

Arguments: `session` (the TreatmentSession, now signed) and `by` (the User
who signed). A receiver's database writes commit or roll back with the
signature itself, so a failing receiver leaves the session unsigned; anything
that leaves the database (e-mail, tasks) must wait for
`transaction.on_commit`. Sent once per session: signing again changes nothing
and sends nothing.
"""
