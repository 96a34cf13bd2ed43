"""`make bench`'s results written out: JSON (everything), Markdown (the table) and SVG
(one chart of latency per path, Fascia beside the floor).

The chart is written by hand, so that drawing it needs nothing beyond the standard
library: a standalone SVG with no fonts or scripts of its own, readable at 800 px.
"""

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from benchmarks.serving.load import Sample

TIMES = "\N{MULTIPLICATION SIGN}"  # named, as ruff (RUF001) takes the sign for a letter x


@dataclass
class Result:
    """One path measured at one concurrency, under Fascia and under the floor."""

    path: str
    label: str
    concurrency: int
    fascia: Sample
    floor: Sample
    queries: int | None = None

    @property
    def ratio(self) -> float | None:
        """Fascia's p50 ÷ the floor's."""
        if self.fascia.p50 is None or not self.floor.p50:
            return None
        return self.fascia.p50 / self.floor.p50

    def as_dict(self) -> dict:
        return {
            "path": self.path,
            "label": self.label,
            "concurrency": self.concurrency,
            "queries": self.queries,
            "ratio_p50": None if self.ratio is None else round(self.ratio, 3),
            "fascia": self.fascia.as_dict(),
            "floor": self.floor.as_dict(),
        }


def write(results: list[Result], machine: dict, directory: Path, stem: str) -> dict[str, Path]:
    """Write `<stem>.json`, `<stem>.md` and `<stem>.svg` into `directory`; return their paths
    by suffix ("json", "md", "svg")."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {suffix: directory / f"{stem}.{suffix}" for suffix in ("json", "md", "svg")}
    document = {"machine": machine, "results": [result.as_dict() for result in results]}
    # default=str: the machine's description may hold dates or paths.
    text = json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n"
    paths["json"].write_text(text, encoding="utf-8")
    paths["md"].write_text(markdown(results, machine, chart=paths["svg"].name), encoding="utf-8")
    paths["svg"].write_text(chart(results), encoding="utf-8")  # XML's default, undeclared
    return paths


def number(value: float | None) -> str:
    """A figure as the table shows it: one decimal under 10, whole numbers above."""
    if value is None:
        return "—"
    return f"{value:.1f}" if value < 10 else f"{value:,.0f}".replace(",", " ")


def markdown(results: list[Result], machine: dict, *, chart: str | None = None) -> str:
    """The table, one row per path and concurrency, then the machine it ran on."""
    with_errors = any(result.fascia.errors or result.floor.errors for result in results)
    head = [
        "path",
        "users",
        "Fascia p50 / p95 / p99 ms",
        "Fascia req/s",
        "floor p50 / p95 ms",
        "floor req/s",
        "Fascia ÷ floor",
        "queries",
    ]
    if with_errors:
        head.append("errors (Fascia, floor)")
    lines = [
        "# Fascia against its floor",
        "",
        "Latencies in milliseconds, by nearest rank; req/s counts answered requests only; "
        "Fascia ÷ floor is the ratio of the p50s.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + " --- |" * len(head),
    ]
    for result in results:
        fascia, floor = result.fascia, result.floor
        row = [
            result.label.replace("|", "\\|"),
            str(result.concurrency),
            " / ".join(number(value) for value in (fascia.p50, fascia.p95, fascia.p99)),
            number(fascia.throughput),
            " / ".join(number(value) for value in (floor.p50, floor.p95)),
            number(floor.throughput),
            "—" if result.ratio is None else f"{result.ratio:.1f}{TIMES}",
            "—" if result.queries is None else str(result.queries),
        ]
        if with_errors:
            row.append(f"{fascia.errors}, {floor.errors}")
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", f"Machine: {describe(machine)}."]
    if with_errors:
        lines += ["", "Errors (the first few of each kind):", ""]
        for result in results:
            for target, sample in (("Fascia", result.fascia), ("floor", result.floor)):
                for example in sample.error_examples:
                    shown = " ".join(example.split())  # one line, whatever the body held
                    lines.append(
                        f"- {result.label}, {target}, concurrency {result.concurrency}: `{shown}`"
                    )
    if chart:
        lines += ["", f"![Latency per path, Fascia beside the floor]({chart})"]
    return "\n".join(lines) + "\n"


def describe(machine: dict) -> str:
    """The machine's description on one line: `key: value; key: key value, key value`."""

    def shown(value) -> str:
        if isinstance(value, dict):
            return ", ".join(f"{key} {shown(each)}" for key, each in value.items())
        if isinstance(value, list | tuple):
            return ", ".join(shown(each) for each in value)
        return str(value)

    return "; ".join(f"{key}: {shown(value)}" for key, value in machine.items())


# The chart's geometry, in px: a bar is BAR high, a path's two bars GAP apart, paths GROUP apart.
WIDTH, BAR, GAP, GROUP = 800, 14, 3, 16
TOP, BOTTOM = 64, 48
COLOURS = {"Fascia": "#2166ac", "floor": "#f4a582"}  # told apart without colour vision too


def chart(results: list[Result]) -> str:
    """A horizontal grouped bar chart of each path's p50 at the lowest concurrency measured
    (1 in `make bench`), Fascia's bar above the floor's, each with its p95 as a whisker."""
    users = min((result.concurrency for result in results), default=1)
    shown = [result for result in results if result.concurrency == users]
    labels = [
        result.label if len(result.label) <= 40 else result.label[:39] + "…" for result in shown
    ]
    left = min(340, max(120, 12 + 7 * max((len(label) for label in labels), default=0)))
    height = TOP + len(shown) * (2 * BAR + GAP + GROUP) + BOTTOM
    highest = max(
        (value or 0 for r in shown for s in (r.fascia, r.floor) for value in (s.p50, s.p95)),
        default=0,
    )
    step = tick_step(highest)
    top_ms = max(step, math.ceil(highest / step) * step)
    # Room on the right for the figures written past the longest whisker.
    figures = [bar_figures(r.fascia, r.ratio) for r in shown] + [
        bar_figures(r.floor, None) for r in shown
    ]
    right = 16 + 6.5 * max((len(each) for each in figures), default=0)
    plot = WIDTH - left - right

    def x(ms: float) -> float:
        return round(left + plot * ms / top_ms, 1)

    title = f"Latency per path, {users} user{'s' if users != 1 else ''}: Fascia beside the floor"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12" '
        f'role="img" aria-labelledby="chart-title">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>',
        f'<text x="{WIDTH / 2}" y="22" text-anchor="middle" font-size="15" '
        f'font-weight="bold">{escape(title)}</text>',
    ]
    # The legend, under the title.
    legend_x = left
    for name, colour in COLOURS.items():
        parts.append(
            f'<rect x="{legend_x}" y="34" width="{BAR}" height="{BAR}" fill="{colour}"/>'
            f'<text x="{legend_x + BAR + 5}" y="45">{escape(name)}</text>'
        )
        legend_x += 90
    parts.append(
        f'<text x="{legend_x}" y="45" fill="#555555">'
        f"bar p50, line p95; {TIMES} = Fascia ÷ floor</text>"
    )
    # The axis: a grid line and a figure at each tick.
    axis_y = height - BOTTOM + 6
    for tick in range(0, round(top_ms / step) + 1):
        ms = tick * step
        parts.append(
            f'<line x1="{x(ms)}" y1="{TOP - 4}" x2="{x(ms)}" y2="{axis_y}" stroke="#dddddd"/>'
            f'<text x="{x(ms)}" y="{axis_y + 16}" text-anchor="middle">{ms:g}</text>'
        )
    parts.append(
        f'<line x1="{left}" y1="{axis_y}" x2="{left + plot}" y2="{axis_y}" stroke="#333333"/>'
        f'<text x="{left + plot / 2}" y="{axis_y + 36}" text-anchor="middle">milliseconds</text>'
    )
    for index, (result, label) in enumerate(zip(shown, labels, strict=True)):
        y = TOP + index * (2 * BAR + GAP + GROUP)
        parts.append(
            f'<text class="label" x="{left - 8}" y="{y + BAR + GAP / 2 + 4}" '
            f'text-anchor="end">{escape(label)}<title>{escape(result.label)}</title></text>'
        )
        for row, (name, sample) in enumerate((("Fascia", result.fascia), ("floor", result.floor))):
            parts.append(bar(name, sample, y + row * (BAR + GAP), x, result.ratio))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def bar(
    name: str, sample: Sample, y: float, x: Callable[[float], float], ratio: float | None
) -> str:
    """One bar (p50) with its whisker (p50 to p95) and its figures at the end."""
    if sample.p50 is None:
        return (
            f'<text x="{x(0) + 4}" y="{y + BAR - 3}" fill="#b2182b">'
            f"{escape(name)}: no answer</text>"
        )
    p95 = sample.p95 if sample.p95 is not None else sample.p50
    middle = y + BAR / 2
    figures = bar_figures(sample, ratio if name == "Fascia" else None)
    return (
        f'<rect class="bar {name.lower()}" x="{x(0)}" y="{y}" width="{x(sample.p50) - x(0)}" '
        f'height="{BAR}" fill="{COLOURS[name]}"><title>{escape(name)} p50 '
        f"{number(sample.p50)} ms, p95 {number(p95)} ms</title></rect>"
        f'<line x1="{x(sample.p50)}" y1="{middle}" x2="{x(p95)}" y2="{middle}" stroke="#222222"/>'
        f'<line x1="{x(p95)}" y1="{y + 2}" x2="{x(p95)}" y2="{y + BAR - 2}" stroke="#222222"/>'
        f'<text x="{x(p95) + 5}" y="{y + BAR - 3}" font-size="11" fill="#333333">'
        f"{escape(figures)}</text>"
    )


def bar_figures(sample: Sample, ratio: float | None) -> str:
    """What is written at the end of a bar: `p50 / p95 ms`, and Fascia's ratio to the floor."""
    p95 = sample.p95 if sample.p95 is not None else sample.p50
    figures = f"{number(sample.p50)} / {number(p95)} ms"
    return figures if ratio is None else f"{figures} · {ratio:.1f}{TIMES}"


def tick_step(highest: float) -> float:
    """A step of 1, 2 or 5 times a power of ten giving about five to ten ticks up to `highest`."""
    if highest <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(highest / 5))
    return next(power * m for m in (1, 2, 5, 10) if highest / (power * m) <= 10)
