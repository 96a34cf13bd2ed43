"""The organisation's screening questionnaire and consent text: current versions and publishing."""

import datetime

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Max

from clinics import access
from clinics.models import Organization
from patients import defaults
from patients.contraindications import Contraindication
from patients.exceptions import NotPermitted, ScreeningInvalid
from patients.models import (
    ClinicalPolicy,
    ConsentTemplate,
    Question,
    Questionnaire,
    ScreeningResponse,
)


def current_questionnaire(organization: Organization) -> Questionnaire:
    """The newest version; an organisation's first use creates version 1 from the defaults."""
    latest = Questionnaire.objects.filter(organization=organization).order_by("-version").first()
    if latest is not None:
        return latest
    return _create_default(
        organization,
        lambda: _publish_questionnaire(
            organization=organization,
            by=None,
            title=defaults.SCREENING_TITLE,
            questions=[
                {"key": key, "text": text, "help_text": help_text, "contraindication": flag}
                for key, text, help_text, flag in defaults.SCREENING_QUESTIONS
            ],
        ),
        Questionnaire,
    )


def current_consent_template(organization: Organization) -> ConsentTemplate:
    """The newest version; an organisation's first use creates version 1 from the defaults."""
    latest = ConsentTemplate.objects.filter(organization=organization).order_by("-version").first()
    if latest is not None:
        return latest
    return _create_default(
        organization,
        lambda: _publish_consent(
            organization=organization,
            by=None,
            title=defaults.CONSENT_TITLE,
            body=defaults.CONSENT_BODY,
        ),
        ConsentTemplate,
    )


def _create_default(organization, create, model):
    try:
        with transaction.atomic():
            return create()
    except IntegrityError:  # another request created version 1 a moment ago
        return model.objects.get(organization=organization, version=1)


def hold_published_versions(organization: Organization) -> None:
    """Wait for a publication in progress, and hold off new ones until this transaction ends.

    Publishing takes the organisation row FOR UPDATE; a signature or a
    screening takes it FOR SHARE before reading the current version, so it
    never lands on a version replaced while it was being written.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM clinics_organization WHERE id = %s FOR SHARE", [organization.pk]
        )


def policy_for(organization: Organization) -> ClinicalPolicy:
    """The organisation's saved policy, or the defaults (unsaved) until an admin saves one."""
    policy = ClinicalPolicy.objects.filter(organization=organization).first()
    return policy or ClinicalPolicy(organization=organization)


@transaction.atomic
def save_policy(*, organization: Organization, by, **settings) -> ClinicalPolicy:
    if not access.can_add(by, ClinicalPolicy, organization=organization):
        raise NotPermitted("Only an organisation admin can change the clinical policy.")
    policy, _ = ClinicalPolicy.objects.select_for_update().get_or_create(organization=organization)
    for name, value in settings.items():
        if name not in ("screening_valid_days", "outdated_consent_counts"):
            raise TypeError(f"unexpected setting: {name}")
        setattr(policy, name, value)
    policy.full_clean()
    policy.save()
    # A shorter period applies to screenings already given; a longer one does
    # not stretch them (they were answered for the shorter one).
    period = datetime.timedelta(days=policy.screening_valid_days)
    ScreeningResponse.objects.filter(
        organization=organization, valid_until__gt=F("submitted_at") + period
    ).update(valid_until=F("submitted_at") + period)
    return policy


@transaction.atomic
def publish_questionnaire(
    *, organization: Organization, by, title: str, questions: list[dict]
) -> Questionnaire:
    """A new version of the screening questions; answers already given keep their version."""
    if not access.can_add(by, Questionnaire, organization=organization):
        raise NotPermitted("Only an organisation admin can publish screening questions.")
    return _publish_questionnaire(
        organization=organization, by=by, title=title, questions=questions
    )


def _publish_questionnaire(*, organization, by, title, questions) -> Questionnaire:
    if not questions:
        raise ScreeningInvalid("A questionnaire needs at least one question.", field="questions")
    keys = [question["key"] for question in questions]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise ScreeningInvalid(
            f"Each question needs its own key; repeated: {', '.join(repeated)}.", field="questions"
        )
    for question in questions:
        if question.get("contraindication") == Contraindication.UNDER_12:
            raise ScreeningInvalid(
                "Age under 12 is worked out from the date of birth; do not ask it.",
                field="questions",
            )
    # Publishing locks the organisation's row, so two versions never get one number.
    Organization.objects.select_for_update().get(pk=organization.pk)
    version = _next_version(Questionnaire, organization)
    questionnaire = Questionnaire(
        organization=organization, version=version, title=title.strip(), published_by=by
    )
    questionnaire.full_clean(exclude=["published_by"])
    questionnaire.save()
    rows = []
    for position, question in enumerate(questions, start=1):
        row = Question(
            organization=organization,
            questionnaire=questionnaire,
            position=position,
            key=question["key"],
            text=question["text"].strip(),
            help_text=question.get("help_text", "").strip(),
            contraindication=question.get("contraindication", ""),
        )
        row.full_clean(exclude=["questionnaire"], validate_unique=False)
        rows.append(row)
    Question.objects.bulk_create(rows)
    return questionnaire


@transaction.atomic
def publish_consent_template(
    *, organization: Organization, by, title: str, body: str
) -> ConsentTemplate:
    """A new version of the consent text; older signatures become outdated."""
    if not access.can_add(by, ConsentTemplate, organization=organization):
        raise NotPermitted("Only an organisation admin can publish a consent text.")
    return _publish_consent(organization=organization, by=by, title=title, body=body)


def _publish_consent(*, organization, by, title, body) -> ConsentTemplate:
    Organization.objects.select_for_update().get(pk=organization.pk)
    template = ConsentTemplate(
        organization=organization,
        version=_next_version(ConsentTemplate, organization),
        title=title.strip(),
        body=body.strip(),
        published_by=by,
    )
    template.full_clean(exclude=["published_by"])
    template.save()
    return template


def _next_version(model, organization) -> int:
    latest = model.objects.filter(organization=organization).aggregate(latest=Max("version"))
    return (latest["latest"] or 0) + 1
