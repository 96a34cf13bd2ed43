"""`field__any_of=[...]`: the field equals one of the values, sent as one array parameter.

Django's `__in` sends each value as a parameter of its own. For the lists a
calendar week reads (a thousand patients), psycopg then takes longer to split
the query than PostgreSQL takes to run it; `= ANY(%s)` with one array does not.
Registered on every field (and foreign key) when the clinics app is ready.
"""

from django.core.exceptions import EmptyResultSet
from django.db.models import Lookup


class AnyOf(Lookup):
    lookup_name = "any_of"
    prepare_rhs = False

    def get_db_prep_lookup(self, value, connection):
        field = self.lhs.output_field
        values = [field.get_db_prep_value(item, connection, prepared=False) for item in value]
        if not values:
            raise EmptyResultSet  # nothing can be one of no values
        return "%s", [values]

    def as_sql(self, compiler, connection):
        lhs_sql, lhs_params = self.process_lhs(compiler, connection)
        rhs_sql, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs_sql} = ANY({rhs_sql})", (*lhs_params, *rhs_params)
