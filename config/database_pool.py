"""The connection pool's part in an outage: after a restart, no dead connection is handed out.

Used by config/settings.py (DATABASES, OPTIONS["pool"]); config/outage.py answers the
requests that find the database unavailable.
"""

from collections.abc import Callable

import psycopg
from psycopg_pool import ConnectionPool


def checking_every_idle_connection_after_a_dead_one(alias: str) -> Callable:
    """The pool's `check` for the database `alias`: each connection is tested before it is
    handed out, and when one is found dead, every idle one is tested at once.

    A restart of the database kills every connection the pool holds. psycopg_pool's own check
    drops them one at a time, trying the next at once, then after a second, then two: with
    three dead ones in the pool the first request after a restart ran out of time
    (DATABASE_POOL_TIMEOUT), then the next, until all were gone. Tested together, the dead
    are dropped at once, and the request is given a new connection.
    """

    def check(connection: psycopg.Connection) -> None:
        try:
            ConnectionPool.check_connection(connection)
        except psycopg.Error:
            # Imported here: the settings, which name this check, are read before django.db.
            from django.db import connections

            connections[alias].pool.check()
            raise

    return check
