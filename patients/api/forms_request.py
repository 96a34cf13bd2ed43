"""Sending a patient their forms through the API: an action on the patient."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from clinics import access
from patients.models import FormsRequest
from patients.services import send_forms
from patients.services.forms_request import send_failed


class FormsRequestSerializer(serializers.ModelSerializer):
    invitation_expires_at = serializers.DateTimeField(
        source="invitation.expires_at",
        allow_null=True,
        read_only=True,
        help_text="When the invitation's link stops working; null for a reminder.",
    )
    send_failed = serializers.SerializerMethodField(
        help_text="The e-mail could not be sent just now: send again in a few minutes."
    )

    class Meta:
        model = FormsRequest
        fields = [
            "id",
            "patient",
            "forms",
            "sent_as",
            "email",
            "sent_at",
            "sent_by",
            "invitation_expires_at",
            "send_failed",
        ]
        read_only_fields = fields

    def get_send_failed(self, request: FormsRequest) -> bool:
        return send_failed(request)


class SendFormsAction:
    """For the patient viewset: POST /patients/{id}/send-forms/."""

    @extend_schema(request=None, responses={202: FormsRequestSerializer})
    @action(
        detail=True,
        methods=["post"],
        url_path="send-forms",
        permission_classes=[access.LoggedInWithMfa],
    )
    def send_forms(self, request, pk=None):
        """E-mail the patient the forms they still have to fill in before needling.

        Without a portal login, the portal invitation; with one, a reminder with
        a link to each form. 409 when screening and consent are in order, 400
        naming `email` when the record has none. The same forms again within ten
        minutes answer the first request and send nothing.
        """
        sent = send_forms(patient=self.get_object(), by=request.user)
        return Response(FormsRequestSerializer(sent).data, status=status.HTTP_202_ACCEPTED)
