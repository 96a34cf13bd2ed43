"""`field__any_of=[...]`: the field equals one of the values, sent as one array parameter.

Django's `__in` sends each value as a parameter of its own. For the lists a
calendar week reads (a thousand patients), psycopg then takes longer to split
the query than PostgreSQL takes to run it; `= ANY(%s)` with one array does not.
Registered on every field (and foreign key) when the clinics app is ready.
"""

import uuid

from django.core.exceptions import EmptyResultSet
from django.db.models import Lookup, UUIDField


def uuid_array(ids) -> str:
    """Ids as one PostgreSQL array literal (cast it `::uuid[]`): psycopg otherwise quotes
    each of a thousand uuids one by one. Each is checked to be a uuid on the way."""
    return (
        "{" + ",".join(str(i if isinstance(i, uuid.UUID) else uuid.UUID(str(i))) for i in ids) + "}"
    )


class AnyOf(Lookup):
    lookup_name = "any_of"
    prepare_rhs = False

    def get_db_prep_lookup(self, value, connection):
        field = self.lhs.output_field
        target = field.target_field if field.is_relation else field
        if not value:
            raise EmptyResultSet  # nothing can be one of no values
        if isinstance(target, UUIDField):
            return "%s::uuid[]", [uuid_array(value)]
        return "%s", [[field.get_db_prep_value(item, connection, prepared=False) for item in value]]

    def as_sql(self, compiler, connection):
        lhs_sql, lhs_params = self.process_lhs(compiler, connection)
        rhs_sql, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs_sql} = ANY({rhs_sql})", (*lhs_params, *rhs_params)
