"""The hash chain's two database functions, for any table to use (clinics/audit_chain.py).

`audit_chain_content(row)`: the row's canonical content, the text its hash is taken of;
`audit_chain_hash(row)`: its hash, which each chained table's BEFORE INSERT trigger
(`clinics.audit_chain.hash_chain`) stores after linking the row to its chain.
"""

from django.db import migrations

CREATE = """
CREATE FUNCTION audit_chain_content(chained_row anyelement) RETURNS text
    LANGUAGE sql STABLE
    -- How to_jsonb writes a time's zone, an interval, a float's digits: fixed for the
    -- call, whatever the session says.
    SET TimeZone = 'UTC'
    SET IntervalStyle = 'postgres'
    SET extra_float_digits = 1
    SET search_path = pg_catalog, public
    AS $$
        SELECT jsonb_strip_nulls(to_jsonb(chained_row) - 'chain_hash' - 'chain_seq')::text
    $$;

COMMENT ON FUNCTION audit_chain_content(anyelement) IS
    'Fascia: the text a chained row''s hash is taken of (docs/security.md#the-access-log-is-hash-chained)';

-- The same content, hashed in one call (a chained table's trigger calls it per row).
CREATE FUNCTION audit_chain_hash(chained_row anyelement) RETURNS text
    LANGUAGE sql STABLE
    -- How to_jsonb writes a time's zone, an interval, a float's digits: fixed for the
    -- call, whatever the session says.
    SET TimeZone = 'UTC'
    SET IntervalStyle = 'postgres'
    SET extra_float_digits = 1
    SET search_path = pg_catalog, public
    AS $$
        SELECT encode(sha256(convert_to(
            jsonb_strip_nulls(to_jsonb(chained_row) - 'chain_hash' - 'chain_seq')::text, 'UTF8'
        )), 'hex')
    $$;

COMMENT ON FUNCTION audit_chain_hash(anyelement) IS
    'Fascia: a chained row''s hash, hex SHA-256 of audit_chain_content (clinics/audit_chain.py)';
"""

DROP = """
DROP FUNCTION audit_chain_hash(anyelement);
DROP FUNCTION audit_chain_content(anyelement);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("clinics", "0007_history_refuses_changes"),
    ]

    operations = [migrations.RunSQL(CREATE, DROP)]
