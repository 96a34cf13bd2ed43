"""Choice fields whose choice set is a schema component with a name of its own.

Other resources already answer a `status` (a session's), a `kind` (an adverse
event's) and a `level` (a patient's status alerts) with other choices. The schema
generator names an enum after its field, so a second choice set under one of
those names would be renamed with a hash and a warning; these are named here.
"""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


def named_choice_field(choices, *, component_name: str, **kwargs) -> serializers.ChoiceField:
    """A ChoiceField of `choices`, shown in the schema as the enum `component_name`."""

    @extend_schema_field(serializers.ChoiceField(choices=choices), component_name=component_name)
    class NamedChoiceField(serializers.ChoiceField):
        pass

    return NamedChoiceField(choices=choices, **kwargs)
