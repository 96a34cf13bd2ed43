"""The body chart of the charting screen: a front and a back view, a point per muscle and side.

Each point is a link (to the same page with that muscle and side chosen), so
the chart works by keyboard and without JavaScript; sessions/chart.js fills the
needle-site form in place instead of following the link.
"""

from dataclasses import dataclass

from sessions.models import Side, View
from sessions.muscles import BODY_OUTLINES, VIEWBOX


@dataclass(frozen=True)
class Point:
    code: str
    name: str
    side: str
    x: int
    y: int
    risk: bool
    charted: bool

    @property
    def label(self) -> str:
        risk = ", pneumothorax risk" if self.risk else ""
        charted = ", already charted" if self.charted else ""
        return f"{self.name}, {self.side}{risk}{charted}"


@dataclass(frozen=True)
class BodyView:
    key: str
    label: str
    outline: str
    points: list[Point]
    viewbox: str = " ".join(map(str, VIEWBOX))


def body_chart(regions, needle_sites) -> list[BodyView]:
    """Both views, with the points of every muscle that has a place on the chart."""
    charted = set()
    for site in needle_sites:
        sides = [Side.LEFT, Side.RIGHT] if site.side == Side.BOTH else [site.side]
        charted.update((site.muscle_entry.code, side) for side in sides)
    views = []
    for view in View:
        points = []
        for region in regions:
            for muscle in region.muscles:
                if getattr(muscle, "view", None) != view:
                    continue  # an organisation's own muscle is chosen from the list
                for side, x in ((Side.RIGHT, muscle.x), (Side.LEFT, VIEWBOX[2] - muscle.x)):
                    points.append(
                        Point(
                            code=muscle.code,
                            name=muscle.name,
                            side=side.value,
                            x=x,
                            y=muscle.y,
                            risk=muscle.pneumothorax_risk,
                            charted=(muscle.code, side) in charted,
                        )
                    )
        views.append(BodyView(view.value, view.label, BODY_OUTLINES[view.value], points))
    return views
