"""The pain-progress chart on the patient page: pain before and after each signed session,
and a follow-up score where an app above (aftercare's check-in) gives one.

Drawn on the server as SVG coordinates; the template adds a table with the
same numbers for screen readers and for reading exact values.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from sessions.models import TreatmentSession
from sessions.selectors import PainPoint

FollowUp = Callable[[object, Iterable[TreatmentSession]], dict]
"""(user, sessions) -> {session id: pain 0 to 10 some time after the session}."""

_follow_up: list[tuple[FollowUp, str]] = []


def register_follow_up(source: FollowUp, *, label: str) -> None:
    """Let an app above sessions add a later pain score to each point (one source at most).

    `label` says when it was given, for the legend ("2 days after").
    """
    _follow_up[:] = [(source, label)]


def with_follow_up(user, points: list[PainPoint]) -> tuple[list[PainPoint], str]:
    """`points` with their follow-up scores, and the label of that series ("" if none)."""
    if not _follow_up or not points:
        return points, ""
    source, label = _follow_up[0]
    scores = source(user, [point.session for point in points])
    return [replace(point, pain_later=scores.get(point.session.pk)) for point in points], label

WIDTH, HEIGHT = 360, 160
LEFT, RIGHT, TOP, BOTTOM = 28, 12, 10, 24
"""Margins for the axis labels, in the SVG's units."""


@dataclass(frozen=True)
class Mark:
    x: float
    y: float
    value: int
    label: str


@dataclass(frozen=True)
class ProgressChart:
    width: int
    height: int
    before: list[Mark]
    after: list[Mark]
    later: list[Mark]
    later_label: str
    gridlines: list[tuple[float, int]]
    x_labels: list[tuple[float, str, str]]
    """x, text and its text-anchor: the first starts at its point, the last ends at it."""
    points: list[PainPoint]

    @property
    def before_line(self) -> str:
        return " ".join(f"{mark.x:.1f},{mark.y:.1f}" for mark in self.before)

    @property
    def after_line(self) -> str:
        return " ".join(f"{mark.x:.1f},{mark.y:.1f}" for mark in self.after)

    @property
    def later_line(self) -> str:
        return " ".join(f"{mark.x:.1f},{mark.y:.1f}" for mark in self.later)


def progress_chart(points: list[PainPoint], later_label: str = "") -> ProgressChart | None:
    """None until there is a pain score to draw."""
    if not any(
        p.pain_before is not None or p.pain_after is not None or p.pain_later is not None
        for p in points
    ):
        return None
    span = max(len(points) - 1, 1)
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM

    def x_of(index: int) -> float:
        return LEFT + plot_width * (index / span if len(points) > 1 else 0.5)

    def y_of(score: int) -> float:
        return TOP + plot_height * (1 - score / 10)

    def marks(attribute: str, word: str) -> list[Mark]:
        return [
            Mark(
                x_of(index),
                y_of(score),
                score,
                f"{point.day:%d %b %Y}: pain {word} {score}/10",
            )
            for index, point in enumerate(points)
            if (score := getattr(point, attribute)) is not None
        ]

    step = max(1, len(points) // 6)  # at most about six dates under the axis
    return ProgressChart(
        width=WIDTH,
        height=HEIGHT,
        before=marks("pain_before", "before"),
        after=marks("pain_after", "after"),
        later=marks("pain_later", later_label.lower() or "later"),
        later_label=later_label,
        gridlines=[(y_of(score), score) for score in (0, 5, 10)],
        x_labels=[
            (x_of(index), f"{point.day:%d %b}", _anchor(index, len(points)))
            for index, point in enumerate(points)
            if index % step == 0
        ],
        points=points,
    )


def _anchor(index: int, count: int) -> str:
    if count == 1:
        return "middle"
    if index == 0:
        return "start"
    return "end" if index == count - 1 else "middle"
