"""`field__any_of=[...]`: the field equals one of the values, sent as one array parameter.

Django's `__in` sends each value as a parameter of its own. For the lists a
calendar week reads (a thousand patients), psycopg then takes longer to split
the query than PostgreSQL takes to run it; `= ANY(%s)` with one array does not.
Registered on every field (and foreign key) when the clinics app is ready.
"""

import uuid
from functools import cached_property

from django.core.exceptions import EmptyResultSet
from django.db.models import Lookup, UUIDField


def uuid_array(ids) -> str:
    """Ids as one PostgreSQL array literal (cast it `::uuid[]`): psycopg otherwise quotes
    each of a thousand uuids one by one. Each is checked to be a uuid on the way; written
    as 32 hex digits, which PostgreSQL reads as the same uuid."""
    return "{" + ",".join([_uuid(i).hex for i in ids]) + "}"


def _uuid(value) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


class IdList:
    """Ids for several `__any_of` lookups: written out as an array once, not once a query.

    Not a list, so Django also leaves it alone rather than looking at each id for an
    expression (for a thousand ids, once a query, that was a millisecond and more).
    """

    def __init__(self, ids):
        self.ids = list(ids)

    @cached_property
    def literal(self) -> str:
        return uuid_array(self.ids)

    def __iter__(self):
        return iter(self.ids)

    def __len__(self) -> int:
        return len(self.ids)


class AnyOf(Lookup):
    lookup_name = "any_of"
    prepare_rhs = False

    def get_db_prep_lookup(self, value, connection):
        field = self.lhs.output_field
        target = field.target_field if field.is_relation else field
        if not value:
            raise EmptyResultSet  # nothing can be one of no values
        if isinstance(target, UUIDField):
            literal = value.literal if isinstance(value, IdList) else uuid_array(value)
            return "%s::uuid[]", [literal]
        return "%s", [[field.get_db_prep_value(item, connection, prepared=False) for item in value]]

    def as_sql(self, compiler, connection):
        lhs_sql, lhs_params = self.process_lhs(compiler, connection)
        rhs_sql, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs_sql} = ANY({rhs_sql})", (*lhs_params, *rhs_params)
