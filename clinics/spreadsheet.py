"""CSV downloads that a spreadsheet opens safely (the recall, the security log).

Cells a spreadsheet would read as a formula (those starting with = + - @, a tab
or a carriage return) are written with a leading apostrophe, so a name or note
typed as "=HYPERLINK(...)" stays text.
"""

import csv
import itertools
from collections.abc import Iterable

from django.http import StreamingHttpResponse

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    """`value` as text a spreadsheet shows as it is, never runs as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class _Echo:
    def write(self, value: str) -> str:
        return value


def streamed_csv(rows: Iterable[Iterable], *, filename: str) -> StreamingHttpResponse:
    """A CSV download written line by line as `rows` are read (a log of any length),
    with a byte-order mark first so spreadsheets read it as UTF-8."""
    writer = csv.writer(_Echo())
    lines = itertools.chain(["\ufeff"], (writer.writerow(row) for row in rows))
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
