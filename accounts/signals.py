"""Signals that accounts sends about security events it alone sees.

Logins, logouts, password changes and two-factor events already have signals
(Django's `user_logged_in`, `user_login_failed`; allauth's `password_changed`,
`password_reset`, `authenticator_added`, `authentication_failed`, ...). These
are the ones accounts adds. The security log (clinics) receives them all: a
lower app cannot write into a higher one's table.
"""

from django.dispatch import Signal

login_locked_out = Signal()
"""A login was refused because too many failed: passwords for that account from that
address, or two-factor codes for that account.

Keyword arguments: `request`, `email` (as typed), and `step` ("two_factor" when it was
the code step; absent for the password).
"""

api_token_created = Signal()
"""A personal API token was made. Keyword arguments: `request`, `token` (the ApiToken row)."""

api_token_revoked = Signal()
"""A personal API token was revoked. Keyword arguments: `request` (None when a password
change revoked it), `token`, `by` (the user who revoked it, or None), `reason` (text)."""

password_set_by_operator = Signal()
"""The platform operator set a person's password in the admin (the person's API tokens are
revoked with it). Keyword argument: `user`."""
