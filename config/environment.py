"""Reading Fascia's configuration from the environment.

Anything wrong here ends the process with one line naming the cause
(see `ConfigurationError` and manage.py), never a traceback.
"""

import os

import environ
from django.core.exceptions import ImproperlyConfigured


class ConfigurationError(Exception):
    """Fascia cannot start with this configuration; the message says why."""


_env = environ.Env()

POSTGRES_SCHEMES = {"postgres", "postgresql", "pgsql"}


def flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ConfigurationError(f"{name}={raw!r} is not a boolean: use true or false")


def text(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def listing(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def integer(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a whole number") from None


def database(url: str, variable: str = "DATABASE_URL") -> dict:
    """Django's DATABASES entry for a PostgreSQL URL; anything else is refused."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in POSTGRES_SCHEMES:
        raise ConfigurationError(
            f"{variable} must be a PostgreSQL URL such as "
            "postgresql://user:password@host:5432/fascia (Fascia runs only on PostgreSQL)"
        )
    try:
        config = _env.db_url_config(url)
    except ValueError as error:
        raise ConfigurationError(f"{variable} is malformed: {error}") from None
    if not config.get("NAME"):
        raise ConfigurationError(f"{variable} names no database: end it with /<database name>")
    return config


SMTP_TIMEOUT_SECONDS = 30


def mailer(url: str) -> dict:
    """Django's MAILERS entry for an EMAIL_URL."""
    try:
        config = _env.email_url_config(url)
    except (ValueError, ImproperlyConfigured):
        raise ConfigurationError(
            "EMAIL_URL is malformed: use smtp://user:password@host:587 with "
            "smtp+tls:// or smtps:// for encryption, or consolemail://"
        ) from None
    options = {
        "host": config.get("EMAIL_HOST"),
        "port": config.get("EMAIL_PORT"),
        "username": config.get("EMAIL_HOST_USER"),
        "password": config.get("EMAIL_HOST_PASSWORD"),
        "use_tls": config.get("EMAIL_USE_TLS"),
        "use_ssl": config.get("EMAIL_USE_SSL"),
        # A mail server that stops answering must not hold a worker forever: give
        # up, and the job tries again.
        "timeout": SMTP_TIMEOUT_SECONDS,
    }
    backend = config["EMAIL_BACKEND"]
    if backend.endswith("smtp.EmailBackend"):
        # Django's, reporting the hand-over and the server's answer (aftercare records them).
        backend = "config.mail.EmailBackend"
    else:
        options = {}
    return {
        "BACKEND": backend,
        "OPTIONS": {name: value for name, value in options.items() if value is not None},
    }
