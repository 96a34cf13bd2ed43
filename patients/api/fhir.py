"""FHIR R4 through the API: one patient's record as a Bundle (an action on the patient), and
a whole organisation's as NDJSON files made in the background (Bulk Data style)."""

from django.http import StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.decorators import action
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from clinics import access
from clinics.fhir import instant
from patients import fhir
from patients.exceptions import ExportRefused
from patients.models import ExportStatus, FhirExport, ReadVia
from patients.services import fhir_export


class FhirJSONRenderer(JSONRenderer):
    """FHIR's own media type; a client that asks for plain JSON gets the same body as JSON."""

    media_type = "application/fhir+json"
    format = "fhir"


class FhirAction:
    """For the patient viewset: GET /patients/{id}/fhir/."""

    @extend_schema(
        summary="The patient's record as FHIR R4",
        description="Everything about the patient that you may read, as a FHIR R4 Bundle of "
        "type `collection`: the Patient, their intake and screening answers with their "
        "forms, consents, contraindications, sessions (Encounter) and, for clinical roles, "
        "the charts (ClinicalImpression, Procedure with one bodySite per needle site, "
        "Observations, AdverseEvents), aftercare plans, check-ins and alerts. "
        "docs/fhir.md lists every element and code. Each part shown is written to the "
        "access log.",
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="A FHIR R4 Bundle.")},
    )
    @action(
        detail=True,
        methods=["get"],
        permission_classes=[access.LoggedInWithMfa],
        renderer_classes=[FhirJSONRenderer, JSONRenderer],
    )
    def fhir(self, request, pk=None):
        patient = self.get_object()
        return Response(fhir.patient_bundle(request.user, patient, via=ReadVia.API))


# --- A whole organisation, in the background (FHIR Bulk Data style) -----------------

RETRY_AFTER_SECONDS = 5


class ExportAnswerSerializer(serializers.Serializer):
    """An export under way (202) or just asked for."""

    id = serializers.UUIDField()
    status = serializers.CharField()
    patients_done = serializers.IntegerField()
    patients_total = serializers.IntegerField()
    status_url = serializers.URLField(help_text="Poll this address until it answers 200.")


UNSUPPORTED = ("_since", "_typeFilter", "_elements", "patient", "includeAssociatedData")
"""Bulk Data parameters Fascia does not apply: refused, rather than an export that says it
holds what it does not."""


def _given(request, name: str):
    """A parameter from the address, or from a form or JSON object body."""
    if name in request.query_params:
        return request.query_params.get(name)
    return request.data.get(name) if isinstance(request.data, dict) else None


def _types(request) -> list[str]:
    """`_type`: resource types, comma-separated and/or given more than once."""
    given = request.query_params.getlist("_type") or [_given(request, "_type") or ""]
    return [kind.strip() for each in given for kind in str(each).split(",") if kind.strip()]


def _status_url(request, export) -> str:
    return request.build_absolute_uri(reverse("fhir-export-status", args=[export.pk]))


def _under_way(request, export, code: int) -> Response:
    response = Response(
        {
            "id": export.pk,
            "status": export.status,
            "patients_done": export.patients_done,
            "patients_total": export.patients_total,
            "status_url": _status_url(request, export),
        },
        status=code,
    )
    response["Content-Location"] = _status_url(request, export)
    state = export.get_status_display().lower()
    response["X-Progress"] = f"{export.patients_done} of {export.patients_total} patients ({state})"
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _export_or_404(user, export_id) -> FhirExport:
    export = (
        access.visible_to(user, FhirExport.objects.select_related("organization"))
        .filter(pk=export_id)
        .first()
    )
    if export is not None:
        export = fhir_export.end_if_stalled(export)
    if export is None or fhir_export.gone(export):
        raise exceptions.NotFound("No such export: it was cancelled, or its files were deleted.")
    return export


class FhirExportKickOff(APIView):
    """POST /api/v1/fhir/$export: export the organisation's records, in the background."""

    permission_classes = [access.LoggedInWithMfa]

    @extend_schema(
        summary="Export the whole organisation as FHIR R4 (kick-off)",
        description="Organisation admins only. Answers 202 at once, with the address to poll "
        "in `Content-Location`; the task worker writes one NDJSON file per resource type. "
        "Asking again for the same types while an export runs answers the same export. "
        "Every patient exported is written to the access log.",
        parameters=[
            OpenApiParameter(
                "_type",
                str,
                description="Comma-separated resource types to export (default: all).",
            ),
            OpenApiParameter(
                "organization",
                OpenApiTypes.UUID,
                description="Needed only by an admin of more than one organisation.",
            ),
        ],
        request=None,
        responses={202: ExportAnswerSerializer},
    )
    def post(self, request):
        for name in UNSUPPORTED:
            if _given(request, name) is not None:
                raise ExportRefused(
                    f"Fascia does not apply {name}: it exports every record of the "
                    "organisation, of the types in `_type`.",
                    field=name,
                )
        export = fhir_export.start_export(
            organization=fhir_export.organization_to_export(
                request.user, _given(request, "organization")
            ),
            by=request.user,
            types=_types(request),
        )
        return _under_way(request, export, status.HTTP_202_ACCEPTED)


class FhirExportStatus(APIView):
    """GET polls an export; DELETE cancels it, or deletes its files once it ended."""

    permission_classes = [access.LoggedInWithMfa]
    renderer_classes = [FhirJSONRenderer, JSONRenderer]

    @extend_schema(
        summary="An export's progress, then its files",
        description="202 while it runs (`X-Progress`, `Retry-After`); 200 with the Bulk Data "
        "manifest (one file per resource type) once it is complete; 500 with an "
        "OperationOutcome if it failed; 404 once cancelled or deleted.",
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="The Bulk Data manifest."),
            202: ExportAnswerSerializer,
            500: OpenApiResponse(
                OpenApiTypes.OBJECT, description="The export failed: an OperationOutcome says why."
            ),
        },
    )
    def get(self, request, export_id):
        export = _export_or_404(request.user, export_id)
        if export.status == ExportStatus.COMPLETED:
            body = fhir_export.manifest(
                export,
                url_of=lambda kind: request.build_absolute_uri(
                    reverse("fhir-export-file", args=[export.pk, kind])
                ),
            )
            asked = f"?_type={','.join(export.types)}" if export.types else ""
            body["request"] = request.build_absolute_uri(reverse("fhir-export")) + asked
            body["transactionTime"] = instant(body["transactionTime"])
            return Response(body)
        if export.status == ExportStatus.FAILED:
            return Response(
                {
                    "resourceType": "OperationOutcome",
                    "issue": [
                        {"severity": "error", "code": "exception", "diagnostics": export.error}
                    ],
                },
                status=status.HTTP_500_INTERNAL_SERVER_ERROR,
            )
        return _under_way(request, export, status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Cancel an export, or delete its files",
        request=None,
        responses={202: OpenApiResponse(description="Cancelled; its files are deleted.")},
    )
    def delete(self, request, export_id):
        fhir_export.cancel_export(export=_export_or_404(request.user, export_id), by=request.user)
        return Response(status=status.HTTP_202_ACCEPTED)


class FhirExportFile(APIView):
    """GET one resource type's file of a complete export: NDJSON, one resource a line."""

    permission_classes = [access.LoggedInWithMfa]

    @extend_schema(
        summary="One file of a complete export (NDJSON)",
        responses={
            (200, "application/fhir+ndjson"): OpenApiResponse(
                OpenApiTypes.STR, description="One FHIR resource (JSON) a line."
            )
        },
    )
    def get(self, request, export_id, resource_type):
        export = _export_or_404(request.user, export_id)
        if not fhir_export.has_file(export, resource_type):
            raise exceptions.NotFound(f"This export has no {resource_type} file.")
        fhir_export.log_download(export, by=request.user)
        response = StreamingHttpResponse(
            fhir_export.file_lines(export, resource_type),
            content_type="application/fhir+ndjson",
        )
        response["Content-Disposition"] = f'attachment; filename="{resource_type}.ndjson"'
        response["Cache-Control"] = "no-store"
        return response
