"""Before the needle in the API (patients.safety): the same lines the pages show."""

from rest_framework import serializers

from patients.safety import Kind


class NoticeSerializer(serializers.Serializer):
    """One line about the patient to read before the needle, with where to act on it."""

    # Plain text rather than choice fields: other resources already answer a `kind`
    # and a `level` with other choices, and the schema would rename one of them.
    kind = serializers.CharField(
        help_text="What it is about, in reading order: "
        + ", ".join(kind.name.lower() for kind in Kind)
        + "."
    )
    level = serializers.CharField(
        help_text="danger (needling waits for it) or warning (needling may go on, knowingly)."
    )
    text = serializers.CharField(help_text="The line as the pages show it.")
    mark = serializers.CharField(help_text="The same in a few words, for a list.")
    url = serializers.CharField(
        allow_null=True, help_text="The page where it is seen or cleared, if the user may open it."
    )
    link_text = serializers.CharField(allow_null=True)


class BlockerSerializer(serializers.Serializer):
    """Something that refuses the start of a session, and where to clear it."""

    text = serializers.CharField()
    url = serializers.CharField(allow_null=True)
    link_text = serializers.CharField(allow_null=True)
