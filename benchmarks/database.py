"""The database a benchmark runs in: made and migrated by the owner, used as Fascia's role.

Fascia runs as a role that owns nothing and may not create a database (docs/security.md,
"Least privilege in the database"), so the benchmark's database is created and migrated
as the owner, as the tests' is. The benchmark then works as Fascia's role. Its own
filling and checking are work for every organisation, so each of its connections sees
every organisation's rows (as the tests' do, tests/conftest.py); the requests it times
through the test client set their own user's organisations for each of their
transactions (clinics/row_security.py), as in production.
"""

from django.db import connection
from django.db.backends.signals import connection_created

from clinics import database_roles, row_security


def open_benchmark_database(*, fresh: bool) -> None:
    """Create the database named by TEST_DATABASE_NAME (or keep it, unless `fresh`) and
    migrate it, as the owner; the connection then logs in to it as Fascia's role."""
    with database_roles.as_owner():
        # Logging in as the owner opened a pool on the app's own database; the next
        # connection must be made afresh, to the benchmark's.
        connection.close()
        connection.close_pool()
        connection.creation.create_test_db(
            verbosity=0, autoclobber=True, keepdb=not fresh, serialize=False
        )
    connection.close()
    connection_created.connect(_sees_every_organization)


def _sees_every_organization(sender, connection, **kwargs) -> None:
    with connection.connection.cursor() as cursor:
        cursor.execute(f"SET {row_security.EVERY} = 'on'")
