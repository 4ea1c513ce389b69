"""Labeled frames of five kinds of surface, for bench/defect_suite.py: brushed steel, cast iron,
a painted panel, woven fabric and a printed circuit board, each with its own defect classes.

Why: isegui's small-defect defaults were tuned on one generator (isegui/core/demo_defects.py:
brushed metal, defects always apart). Real lines differ in the ways that break a tuned model,
so each surface here differs from it and from the others in those ways: its texture (and
things in it that look like defects and are not: die lines, grain pits, knots, vias,
silkscreen), its classes, defects that touch and cross (crossing lines, a line through a pit,
2-5 touching pits, a stain round a pit; each its own instance, the later one painted on top,
labels overlapping where they cross), dark and bright, soft-rimmed and hard-edged defects,
uneven light (gradient, vignetting, glare bands), noise, and loose dust, fibres and glints.
Sizes are camera pixels whatever the frame size: lines 1-4 px wide and 50-600 px long, pits
4-25 px across, stains 20-120 px.

Labels are exact: each defect is painted through the raster of its own label
(bench/surfaces_paint.py), the unlabeled marks stay clear of every label, and with
`paint_defects=False` a frame is the same frame with its defects left out (every layer draws
from its own random stream), so the two differ inside the labels only.

UNSEEN names the surface kept out of all tuning: tune on the others, and read its figures as
what a new line would see.
"""

from __future__ import annotations

import math
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from shapely import affinity, unary_union

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.surfaces_paint import (  # noqa: E402
    RGB, Lighting, Marks, Painter, Tone, blotch, coat, dent, develop, line_shape, pit, radius,
    scatter_dust, scatter_fibres, scatter_glints, smudge, star_shape, streak)
from bench.surfaces_textures import (  # noqa: E402
    HOLE, brushed_steel, cast_iron, circuit_board, painted_panel, woven_fabric)
from isegui.core.demo import DemoObject  # noqa: E402
from isegui.core.geometry import Mask, Shape, bounds_window, rasterize  # noqa: E402

FRAME_SIZE = (2448, 2048)  # a common 5-MP machine-vision sensor
UNSEEN = "fabric"  # never used to tune anything; the suite reports it apart
DEFECTS_PER_FRAME = (3, 10)
DEFECT_GAP = 12  # px between two groups of defects (defects within a group touch or cross)
LINE, SPOT, PATCH = "line", "spot", "patch"  # the roles a class plays in touching groups
SINGLE_ODDS = 0.45  # the share of groups that are one defect alone
# a lone defect's role: patches mostly, as touching groups bring spots and lines in plenty
ROLE_ODDS = {LINE: 0.35, SPOT: 0.15, PATCH: 0.5}
# the odds of each touching group (a cluster adds up to five spots: it is drawn less often)
GROUP_ODDS = {"crossing": 0.3, "through": 0.25, "cluster": 0.2, "around": 0.25}

# (rng, angle in degrees, longest length that fits) -> a shape through the origin
Shaper = Callable[[np.random.Generator, float, float], Shape]
# (rng, the frame's grain in degrees) -> a line defect's angle in degrees
Angle = Callable[[np.random.Generator, float], float]
Texture = Callable[[np.random.Generator, int, int, float, Marks], np.ndarray]
Scatter = Callable[[np.random.Generator, Marks], None]


@dataclass(frozen=True)
class DefectKind:
    """A defect class of a surface: its shape, how it is painted, its role in touching groups
    (LINE, SPOT or PATCH), and for lines the angles it takes."""
    name: str
    color: str
    role: str
    shape: Shaper
    paint: Painter
    angle: Angle | None = None  # None: any


@dataclass(frozen=True)
class Surface:
    name: str
    kinds: tuple[DefectKind, ...]
    texture: Texture
    scatter: Scatter  # the loose dust, fibres and glints
    lighting: Lighting
    grain: Callable[[np.random.Generator], float] = field(
        default=lambda rng: float(rng.uniform(0, 180)))
    mark_tint: RGB = (1.0, 1.0, 1.0)

    @property
    def classes(self) -> tuple[tuple[str, str], ...]:
        return tuple((k.name, k.color) for k in self.kinds)

    def generate(self, seed: int, width: int = FRAME_SIZE[0], height: int = FRAME_SIZE[1]
                 ) -> tuple[np.ndarray, list[DemoObject]]:
        """An RGB uint8 frame and its labeled defects (isegui.core.demo's SceneGenerator)."""
        frame = render(self, seed, width, height)
        return frame.image, frame.objects


@dataclass(frozen=True)
class Frame:
    image: np.ndarray  # RGB uint8
    objects: list[DemoObject]  # the labeled defects, in paint order (the later on top)
    distractors: Mask  # where the unlabeled marks are; never within a label


# --------------------------------------------------------------------------- the five surfaces

def lines(width: tuple[float, float], length: tuple[float, float], bow: float = 0.05,
          wiggle: float = 0.0) -> Shaper:
    return lambda rng, angle, limit: line_shape(rng, width, length, angle, limit, bow, wiggle)


def spots(across: tuple[float, float], ragged: float = 0.03) -> Shaper:
    return lambda rng, angle, limit: star_shape(rng, across, (0.75, 1.0), 0.04, ragged)


def patches(across: tuple[float, float], aspect: tuple[float, float] = (0.6, 1.0),
            lobes: float = 0.1, turn: bool = True) -> Shaper:
    """Blotches; `turn=False` keeps them at the angle the layout draws (a sag runs down)."""
    return lambda rng, angle, limit: star_shape(rng, across, aspect, lobes, 0.02,
                                                None if turn else angle)


def off_grain(least: float) -> Angle:
    """Any angle at least `least` degrees off the grain (a scratch across brushing)."""
    return lambda rng, grain: grain + rng.uniform(least, 180 - least)


def along_weave(rng: np.random.Generator, grain: float) -> float:
    return grain + 90 * int(rng.integers(2)) + rng.normal(0, 1.0)


def downward(rng: np.random.Generator, grain: float) -> float:
    return 90 + rng.normal(0, 10)


def scatter(dust: float, fibres: float, glints: float, dark_odds: float = 0.3) -> Scatter:
    """Loose marks at these densities (per megapixel)."""
    def draw(rng: np.random.Generator, marks: Marks) -> None:
        scatter_dust(rng, marks, dust, (45, 110), dark_odds)
        scatter_fibres(rng, marks, fibres, (35, 80), dark_odds)
        scatter_glints(rng, marks, glints, (60, 120))
    return draw


def brushed() -> Surface:
    """Brushed stainless at any angle: scratches across the brushing (bright or dark, hard),
    dents (lit on one side, soft), oily smudges that dull the brushing (soft)."""
    return Surface("brushed", (
        DefectKind("scratch", "#f58231", LINE, lines((1, 4), (50, 600)),
                   streak(Tone((1.0, 1.0, 1.02), (16, 34), flip=0.45)), off_grain(12)),
        DefectKind("dent", "#911eb4", SPOT, spots((6, 25)), dent((14, 26))),
        DefectKind("smudge", "#42d4f4", PATCH, patches((30, 120)),
                   smudge(Tone((-0.8, -0.85, -0.9), (10, 20)), (0.15, 0.4)))),
        brushed_steel, scatter(12, 1.5, 8), Lighting(glare=(15, 40), bands=(1, 2)))


def cast() -> Surface:
    """Sand-cast iron: pores (dark, soft, often in touching clusters), jagged dark cracks that
    run through pores, inclusions of sand or slag (lighter or darker, hard-edged)."""
    return Surface("cast", (
        DefectKind("pore", "#911eb4", SPOT, spots((5, 25), ragged=0.08),
                   pit(Tone((-1, -1, -1), (45, 75), soft=True))),
        DefectKind("crack", "#e6194b", LINE, lines((1, 3), (50, 400), bow=0.1, wiggle=1.2),
                   streak(Tone((-1, -1, -0.95), (35, 55)))),
        DefectKind("inclusion", "#3cb44b", PATCH, patches((20, 80), lobes=0.15),
                   blotch(Tone((0.95, 1.0, 1.05), (20, 32), flip=0.5), mottle=0.3))),
        cast_iron, scatter(8, 1, 20, dark_odds=0.5),
        Lighting(glare=(5, 20), bands=(0, 1), read_noise=2.5))


def painted() -> Surface:
    """A glossy painted panel: scratches (whitened or dark, hard), craters (fish-eyes: a dark
    dimple inside a bright rim, soft), sags (elongated runs down the panel, darker, soft)."""
    return Surface("painted", (
        DefectKind("scratch", "#f58231", LINE, lines((1, 3), (50, 600), bow=0.08),
                   streak(Tone((1, 1, 1), (20, 40), flip=0.3))),
        DefectKind("crater", "#911eb4", SPOT, spots((6, 25)),
                   pit(Tone((-1, -1, -1), (20, 35), soft=True), lip=0.8)),
        DefectKind("sag", "#42d4f4", PATCH, patches((20, 120), (0.3, 0.55), 0.08, turn=False),
                   blotch(Tone((-0.6, -0.6, -0.6), (16, 28), soft=True)), downward)),
        painted_panel, scatter(8, 1, 3, dark_odds=0.5),
        Lighting(glare=(30, 70), bands=(1, 3)))


def fabric() -> Surface:
    """Woven cloth, plain or twill (the UNSEEN kind): holes (the dark backing through a
    ragged gap, hard), snags (a pulled thread along the warp or the weft, bright or a dark
    gap), stains (oil darker, bleach lighter, soft)."""
    return Surface("fabric", (
        DefectKind("hole", "#911eb4", SPOT, spots((4, 20), ragged=0.15),
                   coat((18, 18, 20), (0.85, 1.0), grain=0.15)),
        DefectKind("snag", "#f58231", LINE, lines((1, 3), (50, 300), bow=0.01),
                   streak(Tone((1, 1, 1), (24, 40), flip=0.35)), along_weave),
        DefectKind("stain", "#42d4f4", PATCH, patches((20, 120)),
                   blotch(Tone((-0.7, -0.9, -1.2), (14, 26), flip=0.25, soft=True)))),
        woven_fabric, scatter(6, 4, 0, dark_odds=0.5),
        Lighting(glare=(0, 10), bands=(0, 1)), grain=lambda rng: float(rng.uniform(-8, 8)),
        mark_tint=(1.0, 0.97, 0.9))


def pcb() -> Surface:
    """A printed circuit board: scratches through the solder mask (copper shows, hard), voids
    (dark holes like a via's without its ring), shorts (solder splashes, hard-edged)."""
    return Surface("pcb", (
        DefectKind("scratch", "#f58231", LINE, lines((1, 4), (50, 600), bow=0.03),
                   coat((190, 115, 65), (0.55, 0.85), grain=0.1)),
        DefectKind("void", "#911eb4", SPOT, spots((4, 15)), coat(HOLE, (0.85, 1.0))),
        DefectKind("short", "#e6194b", PATCH, patches((20, 60), (0.4, 1.0), 0.15),
                   coat((205, 205, 200), (0.85, 1.0), grain=0.08))),
        circuit_board, scatter(6, 1, 4), Lighting(glare=(5, 20), bands=(0, 1)),
        grain=lambda rng: 0.0)


SURFACES: dict[str, Callable[[], Surface]] = {
    "brushed": brushed, "cast": cast, "painted": painted, "fabric": fabric, "pcb": pcb}


def surface(name: str) -> Surface:
    if name not in SURFACES:
        raise KeyError(f"no surface {name!r}: one of {', '.join(SURFACES)}")
    return SURFACES[name]()


# --------------------------------------------------------------------------- the layout

Placed = list[tuple[DefectKind, Shape]]


def _angle(rng: np.random.Generator, kind: DefectKind, grain: float,
           away_from: float | None = None) -> float:
    """The kind's angle; with `away_from`, one at least 25 degrees off it (lines that cross)."""
    for _ in range(30):
        angle = kind.angle(rng, grain) if kind.angle else float(rng.uniform(0, 180))
        if away_from is None or 25 <= (angle - away_from) % 180 <= 155:
            return angle
    return (away_from or 0.0) + 90


def _pick(rng: np.random.Generator, kinds: list[DefectKind]) -> DefectKind:
    odds = np.array([ROLE_ODDS[k.role] for k in kinds])
    return kinds[int(rng.choice(len(kinds), p=odds / odds.sum()))]


def _cluster(rng: np.random.Generator, kind: DefectKind, grain: float, limit: float) -> Placed:
    """2-5 spots, each new one touching or overlapping an earlier one a little."""
    group = [kind.shape(rng, 0.0, limit)]
    wanted = int(rng.integers(2, 6))
    for _ in range(40):
        if len(group) == wanted:
            break
        base = group[int(rng.integers(len(group)))]
        new = kind.shape(rng, 0.0, limit)
        reach = (radius(base) + radius(new)) * rng.uniform(0.75, 0.95)
        heading = rng.uniform(0, 2 * math.pi)
        c = base.centroid
        moved = affinity.translate(new, c.x + reach * math.cos(heading),
                                   c.y + reach * math.sin(heading))
        overlaps = [moved.intersection(s).area / min(moved.area, s.area) for s in group]
        if moved.distance(base) <= 1 and max(overlaps) < 0.25:
            group.append(moved)
    return [(kind, s) for s in group]


def _group(rng: np.random.Generator, surface: Surface, grain: float, limit: float) -> Placed:
    """One defect alone, or a touching group: crossing lines, a line through a spot, a cluster
    of spots, a patch round a spot (listed bottom to top)."""
    by_role = {role: [k for k in surface.kinds if k.role == role] for role in (LINE, SPOT, PATCH)}
    cases = [case for case, roles in (("crossing", (LINE,)), ("through", (LINE, SPOT)),
                                      ("cluster", (SPOT,)), ("around", (PATCH, SPOT)))
             if all(by_role[r] for r in roles)]
    if not cases or rng.random() < SINGLE_ODDS:
        kind = _pick(rng, list(surface.kinds))
        return [(kind, kind.shape(rng, _angle(rng, kind, grain), limit))]
    odds = np.array([GROUP_ODDS[c] for c in cases])
    case = cases[int(rng.choice(len(cases), p=odds / odds.sum()))]
    if case == "cluster":
        return _cluster(rng, _pick(rng, by_role[SPOT]), grain, limit)
    if case == "crossing":
        first, second = _pick(rng, by_role[LINE]), _pick(rng, by_role[LINE])
        angle = _angle(rng, first, grain)
        return [(first, first.shape(rng, angle, limit)),
                (second, second.shape(rng, _angle(rng, second, grain, angle), limit))]
    spot = _pick(rng, by_role[SPOT])
    if case == "through":
        line = _pick(rng, by_role[LINE])
        return [(spot, spot.shape(rng, 0.0, limit)),
                (line, line.shape(rng, _angle(rng, line, grain), limit))]
    patch = _pick(rng, by_role[PATCH])
    under = patch.shape(rng, _angle(rng, patch, grain), limit)
    shift = rng.uniform(0, 0.3) * radius(under)
    heading = rng.uniform(0, 2 * math.pi)
    on_top = affinity.translate(spot.shape(rng, 0.0, limit), shift * math.cos(heading),
                                shift * math.sin(heading))
    return [(patch, under), (spot, on_top)]


def _place(rng: np.random.Generator, group: Placed, taken: list[Shape], width: int,
           height: int, margin: float = 4) -> Placed | None:
    """The group moved to a random spot inside the frame, DEFECT_GAP px from the others."""
    whole = unary_union([s for _, s in group])
    minx, miny, maxx, maxy = whole.bounds
    if maxx - minx > width - 2 * margin or maxy - miny > height - 2 * margin:
        return None
    for _ in range(30):
        dx = rng.uniform(margin - minx, width - margin - maxx)
        dy = rng.uniform(margin - miny, height - margin - maxy)
        moved = affinity.translate(whole, dx, dy)
        if all(moved.distance(t) > DEFECT_GAP for t in taken):
            taken.append(moved)
            return [(k, affinity.translate(s, dx, dy)) for k, s in group]
    return None


def layout(rng: np.random.Generator, surface: Surface, grain: float, width: int,
           height: int) -> Placed:
    """The frame's defects, bottom to top: 3-10 where they fit, in groups."""
    wanted = int(rng.integers(DEFECTS_PER_FRAME[0], DEFECTS_PER_FRAME[1] + 1))
    limit = 0.8 * min(width, height)
    placed: Placed = []
    taken: list[Shape] = []
    for _ in range(60):
        if len(placed) >= wanted:
            break
        group = _group(rng, surface, grain, limit)
        if len(placed) + len(group) > DEFECTS_PER_FRAME[1]:
            continue
        placed += _place(rng, group, taken, width, height) or []
    return placed


# --------------------------------------------------------------------------- the frame

def _window(shape: Shape, height: int, width: int, pad: int = 2) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = bounds_window(shape, height, width)
    return max(0, x0 - pad), max(0, y0 - pad), min(width, x1 + pad), min(height, y1 + pad)


def render(surface: Surface, seed: int, width: int = FRAME_SIZE[0],
           height: int = FRAME_SIZE[1], paint_defects: bool = True) -> Frame:
    """The frame of `seed`: its image, labeled defects and unlabeled marks. Without
    `paint_defects` the same frame with its defects left out."""
    # the surface's name in the seed: two surfaces' frames of one seed share nothing
    streams = np.random.SeedSequence([seed, zlib.crc32(surface.name.encode())]).spawn(5)
    layout_rng, texture_rng, paint_rng, marks_rng, camera_rng = (
        np.random.default_rng(s) for s in streams)
    grain = surface.grain(layout_rng)
    defects = layout(layout_rng, surface, grain, width, height)
    labels = np.zeros((height, width), dtype=bool)
    rasters = []
    for _, shape in defects:
        x0, y0, x1, y1 = _window(shape, height, width)
        mask = rasterize(shape, y1 - y0, x1 - x0, origin=(x0, y0))
        labels[y0:y1, x0:x1] |= mask
        rasters.append(((x0, y0, x1, y1), mask))
    marks = Marks(labels)
    image = surface.texture(texture_rng, width, height, grain, marks)
    marks.apply(image, surface.mark_tint)
    if paint_defects:
        for (kind, shape), ((x0, y0, x1, y1), mask) in zip(defects, rasters):
            kind.paint(image[y0:y1, x0:x1], mask, shape, (x0, y0), paint_rng)
    surface.scatter(marks_rng, marks)
    marks.apply(image, surface.mark_tint)
    pixels = develop(image, camera_rng, surface.lighting)
    return Frame(pixels, [DemoObject(k.name, s) for k, s in defects], marks.where)
