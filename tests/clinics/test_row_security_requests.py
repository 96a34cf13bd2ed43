"""A request's organisations end with each of its transactions (clinics/row_security.py).

Apart from tests/clinics/test_row_security.py, whose module-wide world holds a
transaction open: here the request commits as it would in production.
"""

import pytest
from django.db import connection
from django.urls import reverse

from clinics import row_security
from tests.conftest import make_world


@pytest.mark.django_db(transaction=True)
def test_a_request_leaves_no_organisation_set_on_its_connection(client):
    world = make_world()
    client.force_login(world.therapist)
    assert client.get(reverse("patients:list")).status_code == 200
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(current_setting(%s, true), '')", [row_security.ORGANIZATIONS]
        )
        assert cursor.fetchone()[0] == ""
