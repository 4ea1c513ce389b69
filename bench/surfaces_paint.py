"""What the surface generators (bench/surfaces.py) share: defect shapes made through the origin,
painters that change a frame only through the raster of a defect's label, the unlabeled marks
every real frame has (dust, fibres, glints, a texture's own look-alikes), and the camera's light
and optics.

Why one place: surfaces differ in their texture and in which defects they have, not in how a
label and its pixels are kept the same. Every painter is handed the label's own raster
(isegui.core.geometry.rasterize, as isegui/core/demo_defects.py paints) and writes nowhere
else, and every unlabeled mark is kept DISTRACTOR_GAP px away from every label, so a perfect
model could reach AP 1 and a false positive on a mark is the model's fault, not the data's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import LineString, Polygon

from isegui.core.geometry import Mask, Shape

RGB = tuple[float, float, float]
# paints one defect into `region` (float32 RGB, a window of the frame) through `mask`, the raster
# of its label over that window; `origin` is the window's top-left pixel in the frame
Painter = Callable[[np.ndarray, Mask, Shape, tuple[int, int], np.random.Generator], None]
DISTRACTOR_GAP = 6  # px between an unlabeled mark and any label (more than the optics' blur)
RIM_FLOOR = 0.35  # a soft rim fades to this share of the defect's change at the label's edge
SHADING_STEP = 8  # light fields are made on a grid this many times coarser, then resized


# --------------------------------------------------------------------------- shapes

def line_shape(rng: np.random.Generator, width: tuple[float, float],
               length: tuple[float, float], angle: float, limit: float,
               bow: float = 0.05, wiggle: float = 0.0) -> Polygon:
    """A band `width` px wide along a centre line `length` px long (log-uniform, at most
    `limit`) at `angle` degrees, through the origin somewhere in its middle half. `bow` bends
    it gently (a share of its length); `wiggle` (px per 6-px step) makes it jagged, a crack."""
    high = min(length[1], limit)
    span = math.exp(rng.uniform(math.log(min(length[0], high)), math.log(high)))
    n = max(3, int(span / 6))
    t = np.linspace(0.0, 1.0, n)
    y = 4 * rng.uniform(-bow, bow) * span * t * (1 - t)
    if wiggle:
        y = y + np.cumsum(rng.normal(0.0, wiggle, n))
    through = int(rng.integers(n // 4, max(n // 4 + 1, 3 * n // 4)))
    points = np.column_stack([t * span - t[through] * span, y - y[through]])
    line = affinity.rotate(LineString(points), angle, origin=(0, 0))
    band: Polygon = line.buffer(rng.uniform(*width) / 2, quad_segs=2)
    return band


def star_shape(rng: np.random.Generator, across: tuple[float, float],
               aspect: tuple[float, float] = (0.75, 1.0), lobes: float = 0.06,
               ragged: float = 0.03, angle: float | None = None) -> Polygon:
    """A round-ish outline `across` px long around the origin: an ellipse of `aspect`, bent by
    a few smooth `lobes` and a `ragged` edge. Star-shaped about the origin, so always simple."""
    size = rng.uniform(*across)
    vertices = 20 if size < 30 else 48
    theta = np.linspace(0, 2 * math.pi, vertices, endpoint=False)
    r = np.ones_like(theta)
    for k in (2, 3, 5):
        r += rng.uniform(0, lobes) * np.cos(k * theta + rng.uniform(0, 2 * math.pi))
    r *= np.clip(1 + ragged * rng.standard_normal(vertices), 0.6, 1.4)
    minor = size * rng.uniform(*aspect)
    ring = np.column_stack([size / 2 * r * np.cos(theta), minor / 2 * r * np.sin(theta)])
    turn = rng.uniform(0, 180) if angle is None else angle
    outline: Polygon = affinity.rotate(Polygon(ring), turn, origin=(0, 0))
    return outline


def radius(shape: Shape) -> float:
    """The radius of the disc with the shape's area."""
    return math.sqrt(shape.area / math.pi)


# --------------------------------------------------------------------------- painters

@dataclass(frozen=True)
class Tone:
    """A defect's change of colour: `color` per channel times a strength drawn from `strength`;
    `flip` the odds it goes the other way (a bright scratch rather than a dark one); `soft` a
    rim fading toward the label's edge (down to RIM_FLOOR, never to nothing), else a hard edge."""
    color: RGB
    strength: tuple[float, float]
    flip: float = 0.0
    soft: bool = False

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        sign = -1.0 if rng.random() < self.flip else 1.0
        return np.asarray(self.color, np.float32) * np.float32(sign * rng.uniform(*self.strength))


def inner_distance(mask: Mask) -> np.ndarray:
    """Per pixel of `mask`: how far (px) it lies from the nearest pixel outside."""
    return cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)


def rim_weight(mask: Mask, soft: bool) -> np.ndarray:
    """1 inside a hard-edged label; a smoothstep from RIM_FLOOR at the edge to 1 inside a soft
    one; 0 outside either way."""
    if not soft:
        return mask.astype(np.float32)
    depth = inner_distance(mask)
    s = np.clip(depth / max(1.5, 0.4 * float(depth.max())), 0, 1)
    weight = RIM_FLOOR + (1 - RIM_FLOOR) * s * s * (3 - 2 * s)
    return np.where(mask, weight, 0).astype(np.float32)


def _along(mask: Mask, shape: Shape, origin: tuple[int, int]) -> tuple[np.ndarray, ...]:
    """The mask's pixels (rows, columns) and where each lies along the shape's long axis, 0-1."""
    rect = shapely.get_coordinates(shape.minimum_rotated_rectangle)[:3]
    axis = max([rect[1] - rect[0], rect[2] - rect[1]], key=lambda v: float(np.hypot(*v)))
    axis = axis / max(1e-6, float(np.hypot(*axis)))
    ys, xs = np.nonzero(mask)
    along = (xs + origin[0]) * axis[0] + (ys + origin[1]) * axis[1]
    return ys, xs, (along - along.min()) / max(1.0, float(np.ptp(along)))


def streak(tone: Tone) -> Painter:
    """A scratch, snag or crack: the tone, weaker toward both ends and varying along."""
    def paint(region: np.ndarray, mask: Mask, shape: Shape, origin: tuple[int, int],
              rng: np.random.Generator) -> None:
        ys, xs, t = _along(mask, shape, origin)
        fade = np.clip(np.minimum(t, 1 - t) / 0.15, 0.5, 1.0)
        waves = 0.85 + 0.15 * np.sin(2 * math.pi * rng.uniform(1, 4) * t + rng.uniform(0, 6.3))
        weight = rim_weight(mask, tone.soft)[ys, xs] * fade * waves
        region[ys, xs] += weight[:, None].astype(np.float32) * tone.draw(rng)
    return paint


def pit(tone: Tone, lip: float = 0.0) -> Painter:
    """A pit, pore, crater or void: the tone, strongest at its deepest middle; with `lip`, the
    outermost pixels of a pit wide enough to have one get `lip` times the opposite change (a
    raised rim catching the light)."""
    def paint(region: np.ndarray, mask: Mask, shape: Shape, origin: tuple[int, int],
              rng: np.random.Generator) -> None:
        depth = inner_distance(mask)
        core = np.clip((depth - 1) / max(1.0, float(depth.max()) - 1), 0, 1)
        change = tone.draw(rng)
        weight = rim_weight(mask, tone.soft) * (0.6 + 0.4 * core)
        if lip and depth.max() > 2.5:
            weight = np.where(mask & (depth <= 1.0), -lip, weight)
        region[mask] += weight[mask][:, None] * change
    return paint


def dent(strength: tuple[float, float]) -> Painter:
    """A dent in a polished surface: lit on the side facing the light, shaded on the other,
    fading softly into the surface around it."""
    def paint(region: np.ndarray, mask: Mask, shape: Shape, origin: tuple[int, int],
              rng: np.random.Generator) -> None:
        ys, xs = np.nonzero(mask)
        c = shape.centroid
        heading = rng.uniform(0, 2 * math.pi)
        side = ((xs + origin[0] + 0.5 - c.x) * math.cos(heading)
                + (ys + origin[1] + 0.5 - c.y) * math.sin(heading)) / max(1.0, radius(shape))
        relief = np.where(side >= 0, 1.0, -1.0) * (0.4 + 0.6 * np.clip(np.abs(side), 0, 1))
        weight = rim_weight(mask, True)[ys, xs] * relief * rng.uniform(*strength)
        region[ys, xs] += weight[:, None].astype(np.float32)
    return paint


def coat(color: RGB, cover: tuple[float, float], soft: bool = False,
         grain: float = 0.0) -> Painter:
    """Something in its own colour lying on the surface or showing through it (exposed copper,
    solder, the backing behind a hole): the surface blended toward `color` by `cover`, with
    `grain` of its own texture."""
    def paint(region: np.ndarray, mask: Mask, shape: Shape, origin: tuple[int, int],
              rng: np.random.Generator) -> None:
        weight = (rim_weight(mask, soft) * rng.uniform(*cover))[mask][:, None]
        target = np.asarray(color, np.float32) * rng.uniform(0.9, 1.1)
        texture = 1 + grain * rng.standard_normal((int(mask.sum()), 1)).astype(np.float32)
        region[mask] += weight * (target * texture - region[mask])
    return paint


def blotch(tone: Tone, mottle: float = 0.15) -> Painter:
    """A stain: the tone, uneven inside (mottled) and with the tone's edge."""
    def paint(region: np.ndarray, mask: Mask, shape: Shape, origin: tuple[int, int],
              rng: np.random.Generator) -> None:
        h, w = mask.shape
        spots = cv2.resize(rng.standard_normal((4, 4)).astype(np.float32), (w, h),
                           interpolation=cv2.INTER_CUBIC)
        weight = rim_weight(mask, tone.soft) * (1 - mottle + mottle * np.clip(spots, -1.5, 1.5))
        region[mask] += weight[mask][:, None] * tone.draw(rng)
    return paint


def smudge(tone: Tone, keep: tuple[float, float]) -> Painter:
    """An oily film or a fingerprint: the texture's contrast cut to `keep` and the tone added,
    with a soft rim."""
    def paint(region: np.ndarray, mask: Mask, shape: Shape, origin: tuple[int, int],
              rng: np.random.Generator) -> None:
        local = cv2.blur(region, (9, 9))
        flat = local + (region - local) * np.float32(rng.uniform(*keep))
        weight = rim_weight(mask, True)[mask][:, None]
        region[mask] += weight * (flat[mask] - region[mask] + tone.draw(rng))
    return paint


# --------------------------------------------------------------------------- unlabeled marks

class Marks:
    """Unlabeled things on a frame (dust, fibres, glints, a texture's look-alikes): the
    brightness each adds (value > 0) or takes away (< 0), and where they are. A mark goes only
    where it stays DISTRACTOR_GAP px clear of every label (`labels`: all of them, one mask).
    Value 0 only notes the place: a texture that paints a look-alike itself (a via) claims it."""

    def __init__(self, labels: Mask):
        size = 2 * DISTRACTOR_GAP + 1
        self.near = cv2.dilate(labels.astype(np.uint8), np.ones((size, size), np.uint8)) > 0
        self.lighter = np.zeros(labels.shape, np.uint8)
        self.darker = np.zeros(labels.shape, np.uint8)
        self.noted = np.zeros(labels.shape, np.uint8)

    @property
    def where(self) -> Mask:
        return (self.lighter > 0) | (self.darker > 0) | (self.noted > 0)

    def free(self, points: np.ndarray, reach: float) -> bool:
        """Whether every point (x, y rows) lies `reach` px inside the frame and clear of labels."""
        h, w = self.near.shape
        r = int(math.ceil(reach))
        for x, y in np.round(points).astype(int):
            if not (r <= x < w - r and r <= y < h - r) or self.near[y - r:y + r + 1,
                                                                    x - r:x + r + 1].any():
                return False
        return True

    def _canvas(self, value: float) -> tuple[np.ndarray, int]:
        if value == 0:
            return self.noted, 255
        return (self.lighter if value > 0 else self.darker), min(255, abs(int(value)))

    def dot(self, x: float, y: float, r: float, value: float) -> bool:
        if not self.free(np.array([[x, y]]), r + 1):
            return False
        center = (int(round(x)), int(round(y)))
        canvas, level = self._canvas(value)
        cv2.circle(canvas, center, int(round(r)), level, -1, cv2.LINE_AA)
        return True

    def ellipse(self, x: float, y: float, axes: tuple[float, float], angle: float,
                value: float) -> bool:
        if not self.free(np.array([[x, y]]), max(axes) + 1):
            return False
        canvas, level = self._canvas(value)
        cv2.ellipse(canvas, (int(round(x)), int(round(y))),
                    (max(1, int(round(axes[0]))), max(1, int(round(axes[1])))), angle, 0, 360,
                    level, -1, cv2.LINE_AA)
        return True

    def path(self, points: np.ndarray, thickness: int, value: float) -> bool:
        dense = np.vstack([np.linspace(a, b, int(np.hypot(*(b - a))) + 2)
                           for a, b in zip(points[:-1], points[1:])])
        if not self.free(dense, thickness / 2 + 1):
            return False
        canvas, level = self._canvas(value)
        cv2.polylines(canvas, [np.round(points).astype(np.int32)], False, level, thickness,
                      cv2.LINE_AA)
        return True

    def apply(self, image: np.ndarray, tint: RGB = (1.0, 1.0, 1.0)) -> None:
        change = self.lighter.astype(np.float32) - self.darker.astype(np.float32)
        image += change[:, :, None] * np.asarray(tint, np.float32)
        self.noted |= (change != 0).astype(np.uint8)  # applied once, still marked
        self.lighter[:] = 0
        self.darker[:] = 0


def per_frame(rng: np.random.Generator, per_megapixel: float, shape: Sequence[int]) -> int:
    """How many marks of a kind a frame of `shape` gets at this density (at least one)."""
    return 1 + int(rng.poisson(per_megapixel * shape[0] * shape[1] / 1e6))


def scatter_dust(rng: np.random.Generator, marks: Marks, per_megapixel: float,
                 value: tuple[float, float], dark_odds: float = 0.0) -> None:
    """Specks 1-5 px across, alone and in small clusters."""
    h, w = marks.near.shape
    sign = lambda: -1 if rng.random() < dark_odds else 1  # noqa: E731
    for _ in range(per_frame(rng, per_megapixel, (h, w))):
        marks.dot(rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.5, 2.5),
                  sign() * rng.uniform(*value))
    for _ in range(per_frame(rng, per_megapixel / 15, (h, w))):
        cx, cy, spread = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(6, 25)
        for _ in range(int(rng.integers(4, 12))):
            marks.dot(cx + rng.normal(0, spread), cy + rng.normal(0, spread),
                      rng.uniform(0.5, 1.8), sign() * rng.uniform(*value))


def scatter_fibres(rng: np.random.Generator, marks: Marks, per_megapixel: float,
                   value: tuple[float, float], dark_odds: float = 0.0) -> None:
    """Lint: curling threads 15-90 px long, 1-2 px wide — line-like, but not scratches."""
    h, w = marks.near.shape
    for _ in range(per_frame(rng, per_megapixel, (h, w))):
        steps = int(rng.integers(3, 8))
        heading = rng.uniform(0, 2 * math.pi) + np.cumsum(rng.normal(0, 0.6, steps))
        step = rng.uniform(15, 90) / steps
        start = np.array([rng.uniform(0, w), rng.uniform(0, h)])
        moves = np.column_stack([np.cos(heading), np.sin(heading)]) * step
        points = np.vstack([start, start + np.cumsum(moves, axis=0)])
        sign = -1 if rng.random() < dark_odds else 1
        marks.path(points, int(rng.integers(1, 3)), sign * rng.uniform(*value))


def scatter_glints(rng: np.random.Generator, marks: Marks, per_megapixel: float,
                   value: tuple[float, float]) -> None:
    """Specular glints: small soft bright flecks 3-10 px long where a facet faces the light."""
    h, w = marks.near.shape
    for _ in range(per_frame(rng, per_megapixel, (h, w))):
        x, y, angle = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0, 180)
        long = rng.uniform(1.5, 5)
        peak = rng.uniform(*value)
        if marks.ellipse(x, y, (long, long * rng.uniform(0.3, 0.7)), angle, peak * 0.5):
            marks.ellipse(x, y, (long * 0.5, long * 0.25), angle, peak)


# --------------------------------------------------------------------------- light and optics

@dataclass(frozen=True)
class Lighting:
    """How a surface is lit and seen: a gradient across the frame (up to ± `gradient` of the
    light), vignetting (`vignette`: the light lost in the corners), broad reflections (glare
    bands adding up to `glare` grey levels) and the sensor's read and shot noise. None of it
    is a defect; all of it lies across defects."""
    gradient: tuple[float, float] = (0.05, 0.2)
    vignette: tuple[float, float] = (0.1, 0.35)
    glare: tuple[float, float] = (10.0, 35.0)
    bands: tuple[int, int] = (0, 2)
    read_noise: float = 1.5
    shot_noise: float = 0.03  # noise variance per grey level


def light_fields(rng: np.random.Generator, width: int, height: int,
                 lighting: Lighting) -> tuple[np.ndarray, np.ndarray]:
    """(gain, glare): float32 per pixel, the light's share and the glare's added brightness."""
    w, h = max(2, -(-width // SHADING_STEP)), max(2, -(-height // SHADING_STEP))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32) * SHADING_STEP
    heading = rng.uniform(0, 2 * math.pi)
    ramp = (xx - width / 2) * math.cos(heading) + (yy - height / 2) * math.sin(heading)
    gain = 1 + rng.uniform(*lighting.gradient) * ramp / (0.5 * max(width, height))
    r2 = ((xx - width / 2) ** 2 + (yy - height / 2) ** 2) / ((width / 2) ** 2 + (height / 2) ** 2)
    gain *= 1 - rng.uniform(*lighting.vignette) * r2
    glare = np.zeros_like(gain)
    for _ in range(int(rng.integers(lighting.bands[0], lighting.bands[1] + 1))):
        angle = rng.uniform(0, math.pi)
        cx, cy = rng.uniform(0.15, 0.85) * width, rng.uniform(0.15, 0.85) * height
        d = (xx - cx) * math.cos(angle) + (yy - cy) * math.sin(angle)
        sigma = rng.uniform(0.02, 0.08) * max(width, height)
        glare += rng.uniform(*lighting.glare) * np.exp(-0.5 * (d / sigma) ** 2)
    size = (width, height)
    return (cv2.resize(gain, size, interpolation=cv2.INTER_LINEAR),
            cv2.resize(glare, size, interpolation=cv2.INTER_LINEAR))


def tone_curve(values: np.ndarray) -> np.ndarray:
    """The camera's response: linear in the middle, a soft shoulder above 200 and a soft toe
    below 20, so glare and deep shadow compress rather than clip (a defect there stays seen)."""
    high = 200 + 55 * (1 - np.exp(-(values - 200) / 55))
    low = 20 * np.exp(np.minimum(values, 20) / 20 - 1)
    out: np.ndarray = np.where(values > 200, high, np.where(values < 20, low, values))
    return out


def develop(image: np.ndarray, rng: np.random.Generator, lighting: Lighting,
            glare_tint: RGB = (1.0, 1.0, 1.0)) -> np.ndarray:
    """The surface as the camera records it: lit, blurred by the lens, noisy, toned; uint8."""
    height, width = image.shape[:2]
    gain, glare = light_fields(rng, width, height, lighting)
    lit = image * gain[:, :, None] + glare[:, :, None] * np.asarray(glare_tint, np.float32)
    lit = cv2.GaussianBlur(lit, (3, 3), 0.6)  # no edge is one pixel sharp
    luma = np.clip(lit.mean(axis=2), 0, 255)
    sigma = np.sqrt(lighting.read_noise ** 2 + lighting.shot_noise * luma)
    lit = lit + (rng.standard_normal((height, width), dtype=np.float32) * sigma)[:, :, None]
    return np.clip(tone_curve(lit), 0, 255).astype(np.uint8)
