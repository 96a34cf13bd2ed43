"""The advice text of a template, as the patient reads it: headings, paragraphs and lists.

The text is typed by an organisation admin as plain text: a blank line starts
a new block; a block's first line followed by more lines, ending in no full
stop, is its heading; lines starting with "- " are the points of a list.
"""

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


@register.filter
def advice(text: str, heading_level: int = 3) -> SafeString:
    blocks = [block.strip("\n") for block in (text or "").replace("\r\n", "\n").split("\n\n")]
    html = []
    for block in filter(None, blocks):
        lines = [line.strip() for line in block.split("\n") if line.strip()]
        if (
            len(lines) > 1
            and not lines[0].endswith((".", ":", "!", "?"))
            and not lines[0].startswith("- ")
        ):
            html.append(format_html("<h{0}>{1}</h{0}>", heading_level, lines[0]))
            lines = lines[1:]
        points = [line[2:] for line in lines if line.startswith("- ")]
        prose = [line for line in lines if not line.startswith("- ")]
        if prose:
            html.append(format_html("<p>{}</p>", " ".join(prose)))
        if points:
            html.append(
                format_html(
                    "<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((p,) for p in points))
                )
            )
    return mark_safe("".join(html))  # noqa: S308 - every piece above is escaped by format_html
