from collections.abc import Iterator

import pytest

from tests.private_database import PrivateDatabase


@pytest.fixture(scope="module")
def private_database(
    tmp_path_factory, django_db_setup, django_db_blocker
) -> Iterator[PrivateDatabase]:
    """A PostgreSQL server of the module's own, with the suite's schema, for tests that stop
    and start the database under real processes (tests/private_database.py says how).
    Stopped at the end of the module, however its tests ended."""
    database = PrivateDatabase(tmp_path_factory.mktemp("private") / "postgres")
    database.start()
    try:
        with django_db_blocker.unblock():
            database.copy_schema_of_the_suite()
        yield database
    finally:
        database.stop()
