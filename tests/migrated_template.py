"""The test databases are copied from one migrated template instead of migrated each run.

Migrating an empty database takes most of a minute (every app's migrations, the
history triggers); `CREATE DATABASE ... TEMPLATE` copies a migrated one in about
a second. The template is named after a fingerprint of every migration file and
of requirements.txt (third-party apps bring migrations too), so a change to
either builds a new one and the old ones are dropped. Several test processes
(pytest-xdist workers, two runs at once) build it once between them: the first
takes a lock, builds under a temporary name and renames it when complete, so a
run killed half-way leaves nothing that a later run would use.
"""

import hashlib
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.db import OperationalError, connection
from django.db.backends.postgresql.psycopg_any import errors

BASE_DIR = Path(settings.BASE_DIR)
PREFIX = "test_fascia_template_"
LOCK_KEY = 0x46A5C1A  # pg_advisory_lock key shared by every test process of Fascia


def fingerprint() -> str:
    digest = hashlib.sha256((BASE_DIR / "requirements.txt").read_bytes())
    # What `migrate` does after the migrations (the app role's grants, the unskippable
    # history triggers, row-level security) is part of the template too.
    digest.update((BASE_DIR / "clinics" / "database_roles.py").read_bytes())
    digest.update((BASE_DIR / "clinics" / "row_security.py").read_bytes())
    for app in sorted(apps.get_app_configs(), key=lambda app: app.label):
        folder = Path(app.path) / "migrations"
        if not folder.is_relative_to(BASE_DIR) or not folder.is_dir():
            continue
        for migration in sorted(folder.glob("*.py")):
            digest.update(str(migration.relative_to(BASE_DIR)).encode())
            digest.update(migration.read_bytes())
    return digest.hexdigest()[:16]


def use_migrated_template() -> str:
    """Build the template if need be and make the test database a copy of it."""
    name = PREFIX + fingerprint()
    with connection._nodb_cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [LOCK_KEY])
        try:
            if not _exists(cursor, name):
                _build(name)
                _drop_others(cursor, keep=name)
        finally:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])
    connection.settings_dict["TEST"]["TEMPLATE"] = name
    return name


def _exists(cursor, name: str) -> bool:
    cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
    return cursor.fetchone() is not None


def _build(name: str) -> None:
    """Migrate a new database with Django's own test-database machinery, then rename it."""
    test_settings = connection.settings_dict["TEST"]
    primary, test_name = connection.settings_dict["NAME"], test_settings["NAME"]
    building = f"{name}_building"
    test_settings["NAME"] = building
    try:
        connection.creation.create_test_db(verbosity=0, autoclobber=True)
        connection.close()
        connection.close_pool()
        with connection._nodb_cursor() as cursor:
            cursor.execute(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
    finally:
        connection.close()
        connection.close_pool()
        test_settings["NAME"] = test_name
        connection.settings_dict["NAME"] = settings.DATABASES[connection.alias]["NAME"] = primary


def _drop_others(cursor, *, keep: str) -> None:
    """Drop the templates of earlier migrations; one still being copied is left for later."""
    cursor.execute(
        "SELECT datname FROM pg_database WHERE datname LIKE %s AND datname <> %s",
        [PREFIX.replace("_", r"\_") + "%", keep],
    )
    for (old,) in cursor.fetchall():
        try:
            cursor.execute(f'DROP DATABASE IF EXISTS "{old}"')
        except OperationalError as error:
            if not isinstance(error.__cause__, errors.ObjectInUse):
                raise
