"""One worker at a time on a piece of work, across processes: PostgreSQL advisory locks."""

import contextlib
import logging
from collections.abc import Iterator

from django.db import connection

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def only_holder(key: str) -> Iterator[bool]:
    """Whether this process holds `key` now (False: another one does; it is not waited for).

    A lock of the database session, not of a transaction: it is held across the
    commits of the work inside, and goes with the connection if the process dies.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [key])
        held = cursor.fetchone()[0]
    try:
        yield held
    finally:
        if held:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [key])
                released = cursor.fetchone()[0]
            if not released:
                # Not the session that took it (lost and replaced): never hand a
                # connection that may hold a lock back to the pool.
                logger.warning("lock %s was not held at the end: closing the connection", key)
                connection.close()
