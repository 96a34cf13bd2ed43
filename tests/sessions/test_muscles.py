"""The default muscle vocabulary and body chart: plain data, checked without a database."""

import itertools
import math
import re

import pytest

from sessions.muscles import BODY_OUTLINES, DEFAULT_MUSCLES, REGIONS, VIEWBOX, DefaultMuscle

MIDLINE = 100
CLEARANCE = 4
SPACING = 7


def by_code(code: str) -> DefaultMuscle:
    return next(m for m in DEFAULT_MUSCLES if m.code == code)


def chart_points(view: str) -> list[tuple[str, int, int]]:
    """Every point drawn on a view: each muscle's right side and its mirrored left side."""
    points = []
    for m in DEFAULT_MUSCLES:
        if m.view == view:
            points.append((m.code, m.x, m.y))
            points.append((f"{m.code} (left)", 2 * MIDLINE - m.x, m.y))
    return points


def outline_polygon(d: str, steps: int = 16) -> list[tuple[float, float]]:
    """Flatten an outline made of one M, cubic C segments and Z into a polygon."""
    tokens = re.findall(r"[MCZ]|-?\d+(?:\.\d+)?", d)
    assert tokens[0] == "M" and tokens[-1] == "Z", "one closed path: M ... Z"
    numbers = iter(float(t) for t in tokens[1:-1] if t != "C")
    pairs = list(zip(numbers, numbers, strict=True))
    start, segments = pairs[0], pairs[1:]
    assert len(segments) % 3 == 0, "only cubic segments after the move"
    polygon = [start]
    for i in range(0, len(segments), 3):
        p0, (c1, c2, p3) = polygon[-1], segments[i : i + 3]
        for step in range(1, steps + 1):
            t = step / steps
            u = 1 - t
            polygon.append(
                tuple(
                    u**3 * p0[k] + 3 * u * u * t * c1[k] + 3 * u * t * t * c2[k] + t**3 * p3[k]
                    for k in (0, 1)
                )
            )
    return polygon


def inside(polygon: list[tuple[float, float]], x: float, y: float) -> bool:
    crossings = 0
    for (x1, y1), (x2, y2) in itertools.pairwise([*polygon, polygon[0]]):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            crossings += 1
    return crossings % 2 == 1


def test_the_vocabulary_holds_about_eighty_muscles():
    assert 76 <= len(DEFAULT_MUSCLES) <= 90


def test_codes_are_unique_slugs():
    codes = [m.code for m in DEFAULT_MUSCLES]
    assert len(codes) == len(set(codes))
    for code in codes:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", code), code


def test_names_are_unique_and_sentence_case():
    names = [m.name for m in DEFAULT_MUSCLES]
    assert len(names) == len(set(names))
    for name in names:
        assert name.strip() == name and name[0].isupper(), name


def test_every_region_is_known_and_has_at_least_three_muscles():
    used = {m.region for m in DEFAULT_MUSCLES}
    assert used <= set(REGIONS)
    for region in REGIONS:
        assert sum(m.region == region for m in DEFAULT_MUSCLES) >= 3, region


def test_muscles_are_listed_region_by_region_head_to_toe():
    order = list(REGIONS)
    positions = [order.index(m.region) for m in DEFAULT_MUSCLES]
    assert positions == sorted(positions)


def test_every_muscle_is_on_the_front_or_back_view():
    assert {m.view for m in DEFAULT_MUSCLES} == {"front", "back"}
    assert set(BODY_OUTLINES) == {"front", "back"}


def test_points_lie_inside_the_viewbox():
    min_x, min_y, width, height = VIEWBOX
    for m in DEFAULT_MUSCLES:
        assert min_x <= m.x <= min_x + width and min_y <= m.y <= min_y + height, m.code


def test_the_patients_right_side_is_viewer_left_on_the_front_and_viewer_right_on_the_back():
    for m in DEFAULT_MUSCLES:
        if m.view == "front":
            assert m.x <= MIDLINE - CLEARANCE, m.code
        else:
            assert m.x >= MIDLINE + CLEARANCE, m.code


@pytest.mark.parametrize("view", ["front", "back"])
def test_points_and_their_mirrors_are_far_enough_apart_to_click(view):
    for (a, ax, ay), (b, bx, by) in itertools.combinations(chart_points(view), 2):
        assert math.dist((ax, ay), (bx, by)) >= SPACING, (a, b)


@pytest.mark.parametrize("view", ["front", "back"])
def test_points_and_their_mirrors_lie_inside_the_body_outline(view):
    polygon = outline_polygon(BODY_OUTLINES[view])
    for code, x, y in chart_points(view):
        assert inside(polygon, x, y), code


@pytest.mark.parametrize(
    "code",
    [
        "upper-trapezius",
        "levator-scapulae",
        "scalenes",
        "rhomboids",
        "middle-trapezius",
        "lower-trapezius",
        "serratus-anterior",
        "pectoralis-major-sternocostal",
        "pectoralis-minor",
        "intercostals",
        "thoracic-multifidus",
        "infraspinatus",
        "supraspinatus",
        "subscapularis",
        "latissimus-dorsi",
    ],
)
def test_muscles_over_the_lung_carry_a_pneumothorax_risk(code):
    assert by_code(code).pneumothorax_risk


@pytest.mark.parametrize(
    "code",
    [
        "gluteus-medius",
        "gastrocnemius-medial",
        "gastrocnemius-lateral",
        "wrist-extensors",
        "masseter",
        "lumbar-multifidus",
        "quadratus-lumborum",
        "biceps-brachii",
        "deltoid-middle",
    ],
)
def test_limb_lumbar_buttock_and_face_muscles_carry_no_pneumothorax_risk(code):
    assert not by_code(code).pneumothorax_risk
