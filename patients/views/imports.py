"""The import page: an organisation admin uploads a file of patients from another system,
chooses its columns, reads the dry run, then imports (patients.services.import_files)."""

from functools import wraps

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from clinics import access
from clinics.exceptions import Conflict, FasciaError
from clinics.spreadsheet import safe_cell, streamed_csv
from patients import imports
from patients.forms import ImportColumnsForm, ImportStartForm, ImportUploadForm, show_error
from patients.imports import Outcome
from patients.models import (
    WORKING,
    ImportFileStatus,
    Patient,
    PatientImport,
    ReadVia,
    RecordPart,
)
from patients.services import import_files, record_reads
from patients.views.scope import refuse, staff_page

SHOWN = 100
"""Rows of each outcome the page lists; the report (CSV) has them all."""
REFRESH_SECONDS = 2
"""How often a page waiting for the worker asks again."""
OUTCOMES = (
    (Outcome.REFUSED, "Refused"),
    (Outcome.DUPLICATE, "Likely duplicates"),
    (Outcome.ALREADY_IMPORTED, "Already imported"),
    (Outcome.NEW, "New patients"),
)


@staff_page
def import_list(request):
    """The files being imported and the imports done, and the form to upload a file."""
    if not import_files.may_import(request.user):
        return refuse(request, "Only an organisation admin imports patients.")
    clinics = import_files.clinics_to_import_into(request.user)
    form = ImportUploadForm(request.POST or None, request.FILES or None, clinics=clinics)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            file = import_files.upload(
                clinic=form.cleaned_data["clinic"],
                by=request.user,
                source_system=form.cleaned_data["source_system"],
                file_name=upload.name,
                content=upload,
            )
        except FasciaError as error:
            show_error(form, error)
        else:
            return redirect("patients:import_file", file.pk)
    done = (
        access.visible_to(
            request.user, PatientImport.objects.select_related("clinic", "imported_by")
        )
        .defer("report", "mapping")
        .order_by("-imported_at")[:20]
    )
    return render(
        request,
        "patients/imports/list.html",
        {
            "form": form,
            "files": [
                import_files.end_if_stalled(file)
                for file in import_files.files_of(request.user).exclude(
                    status=ImportFileStatus.IMPORTED
                )
            ],
            "done": done,
            "no_open_clinic": not clinics.exists(),
        },
        status=400 if form.errors else 200,
    )


def file_page(view):
    """A page of one file: `file_id` becomes `file`, among those the user may see. A file
    elsewhere answers 404 before anything else, even a wrong method."""

    @staff_page
    @wraps(view)
    def page(request, file_id, **kwargs):
        file = import_files.files_of(request.user).filter(pk=file_id).first()
        if file is None:
            raise Http404("No such file.")
        return view(request, import_files.end_if_stalled(file), **kwargs)

    return page


@file_page
@require_safe
def import_file(request, file):
    return _page(request, file)


def _page(request, file, status: int = 200, **forms):
    context = {
        "file": file,
        "working": file.status in WORKING,
        "refresh_seconds": REFRESH_SECONDS,
        "percent": round(100 * file.done / file.total) if file.total else 0,
    }
    if file.status in import_files.MAY_CHECK:
        context["columns_form"] = forms.get("columns_form") or ImportColumnsForm(
            initial={"date_format": file.date_format, **file.mapping},
            columns=imports.COLUMNS,
            headers=file.headers,
        )
    if file.status == ImportFileStatus.CHECKED:
        context["start_form"] = forms.get("start_form") or ImportStartForm(
            initial={"include_duplicates": file.include_duplicates, "attempt": file.attempt}
        )
    if file.status == ImportFileStatus.IMPORTED:
        context["record"] = file.patient_import
    report = import_files.report_shown(file)
    if report:
        context["outcomes"] = _outcomes(report, _counted(report))
        groups = context["outcomes"]
        _log_reads(request.user, [row["patient"] for group in groups for row in group["rows"]])
    return render(request, "patients/imports/file.html", context, status=status)


def _counted(report: list[dict]) -> dict[str, int]:
    counts = {outcome: 0 for outcome, _ in OUTCOMES}
    for row in report:
        counts[row["outcome"]] += 1
    return counts


def _outcomes(report: list[dict], counts: dict[str, int]) -> list[dict]:
    """Each outcome's count and its first SHOWN rows, refusals first."""
    rows = {outcome: [] for outcome, _ in OUTCOMES}
    for row in report:
        if len(rows[row["outcome"]]) < SHOWN:
            rows[row["outcome"]].append(row)
    return [
        {"outcome": outcome, "title": title, "count": counts.get(outcome, 0), "rows": rows[outcome]}
        for outcome, title in OUTCOMES
    ]


def _log_reads(user, patient_ids) -> None:
    """The rows shown that are patients of the organisation: a list read of each."""
    patient_ids = [patient_id for patient_id in patient_ids if patient_id]
    if patient_ids:
        patients = access.visible_to(user, Patient.all_records.filter(pk__in=patient_ids))
        record_reads(
            reader=user,
            patients=patients.only("pk", "organization_id"),
            part=RecordPart.LIST,
            via=ReadVia.PAGE,
        )


@file_page
@require_POST
def import_check(request, file):
    form = ImportColumnsForm(request.POST, columns=imports.COLUMNS, headers=file.headers)
    if not form.is_valid():
        return _page(request, file, status=400, columns_form=form)
    try:
        import_files.check(
            file=file,
            by=request.user,
            mapping=form.mapping(),
            date_format=form.cleaned_data["date_format"],
        )
    except Conflict as error:  # a second click: the check is under way
        messages.error(request, error.message)
    except FasciaError as error:
        show_error(form, error)
        return _page(request, file, status=getattr(error, "status", 400), columns_form=form)
    return redirect("patients:import_file", file.pk)


@file_page
@require_POST
def import_start(request, file):
    form = ImportStartForm(request.POST)
    if not form.is_valid():  # a page without the dry run's number: shown again
        messages.error(request, "Read the dry run below, then import.")
        return redirect("patients:import_file", file.pk)
    try:
        import_files.start_import(
            file=file,
            by=request.user,
            include_duplicates=form.cleaned_data["include_duplicates"],
            attempt=form.cleaned_data["attempt"],
        )
    except FasciaError as error:
        messages.error(request, error.message)
    return redirect("patients:import_file", file.pk)


@file_page
@require_POST
def import_discard(request, file):
    try:
        import_files.discard(file=file, by=request.user)
    except FasciaError as error:
        messages.error(request, error.message)
        return redirect("patients:import_file", file.pk)
    messages.success(request, f"{file.file_name or 'The file'} was discarded.")
    return redirect("patients:imports")


@file_page
@require_safe
def import_report(request, file):
    """Every row of the dry run, or of the import once done, as a CSV file."""
    report = import_files.report_shown(file)
    if not report:
        raise Http404("The file has no dry run to show.")
    _log_reads(request.user, [row["patient"] for row in report])
    return streamed_csv(
        [
            ["line", "outcome", "name", "patient", "reasons"],
            *(
                [
                    row["line"],
                    row["outcome"],
                    safe_cell(row["name"]),
                    row["patient"] or "",
                    safe_cell(" ".join(row["reasons"])),
                ]
                for row in report
            ),
        ],
        filename=f"import-report-{file.pk}.csv",
    )
