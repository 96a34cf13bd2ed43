"""Writes on an organisation's chart templates: organisation admins keep them.

A template is never deleted (charts name the one they started from); it is
made inactive instead, and is then no longer offered on new charts.
"""

from django.db import IntegrityError, transaction

from clinics import access
from clinics.models import Organization
from sessions.exceptions import ChartInvalid, NotPermitted
from sessions.models import Chart, ChartTemplate
from sessions.services.chart import LONGEST_TEXT

TEMPLATE_FIELDS = ("name", *Chart.TEXT_FIELDS, "is_active")


def _checked(fields: dict) -> dict:
    unknown = sorted(set(fields) - set(TEMPLATE_FIELDS))
    if unknown:
        raise ChartInvalid(f"{unknown[0]}: not a field of a chart template.", field=unknown[0])
    if "name" in fields:
        name = " ".join(str(fields["name"] or "").split())
        if not name or len(name) > 100:
            raise ChartInvalid("name: name the template (up to 100 characters).", field="name")
        fields["name"] = name
    for field in Chart.TEXT_FIELDS:
        if field not in fields:
            continue
        if not isinstance(fields[field], str):
            raise ChartInvalid(f"{field}: give text.", field=field)
        if len(fields[field]) > LONGEST_TEXT:
            raise ChartInvalid(f"{field}: at most {LONGEST_TEXT:,} characters.", field=field)
    if "is_active" in fields:
        fields["is_active"] = bool(fields["is_active"])
    return fields


def _saved(template: ChartTemplate) -> ChartTemplate:
    try:
        with transaction.atomic():
            template.save()
    except IntegrityError as error:
        constraint = getattr(getattr(error.__cause__, "diag", None), "constraint_name", "")
        if constraint == "chart_template_name_once":
            raise ChartInvalid(
                f"name: the organisation already has a template named {template.name}.",
                field="name",
            ) from None
        raise
    return template


@transaction.atomic
def create_chart_template(*, organization: Organization, by, **fields) -> ChartTemplate:
    """Add a chart template to the organisation (organisation admins)."""
    if not access.can_at(by, "add", ChartTemplate, organization=organization):
        raise NotPermitted("Organisation admins keep the chart templates.")
    fields = _checked(fields)
    if "name" not in fields:
        raise ChartInvalid("name: name the template (up to 100 characters).", field="name")
    return _saved(ChartTemplate(organization=organization, **fields))


@transaction.atomic
def update_chart_template(*, template: ChartTemplate, by, **fields) -> ChartTemplate:
    """Change a template's name, text or whether it is offered; charts made from it keep theirs."""
    template = (
        ChartTemplate.objects.select_for_update(of=("self",))
        .select_related("organization")
        .get(pk=template.pk)
    )
    if not access.can(by, "change", template):
        raise NotPermitted("Organisation admins keep the chart templates.")
    for name, value in _checked(fields).items():
        setattr(template, name, value)
    return _saved(template)
