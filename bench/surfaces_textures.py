"""The textures of the five surfaces in bench/surfaces.py, one function each:
(rng, width, height, grain, marks) -> float32 RGB image. `grain` is the frame's texture
direction in degrees (brushing, weave); `marks` (bench/surfaces_paint.Marks) takes the
texture's own look-alikes of defects — die lines, grain pits, knots, vias, silkscreen strokes —
which are drawn only clear of every label and are never labeled.

Why these: they are the surfaces a line camera meets that the demo's one brushed-metal frame
does not cover — streaks in any direction and gently curved, a rough granular casting, a glossy
coloured coat, a periodic weave, a designed layout of sharp-edged parts — each with something
that looks like a defect and is not. Everything is made from low-resolution random grids resized
(cv2) or 1-D tables looked up per pixel, so a 5-MP frame takes about a second.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from bench.surfaces_paint import RGB, Marks, per_frame


def noise(rng: np.random.Generator, width: int, height: int, cell: float) -> np.ndarray:
    """Smooth random field of unit-ish spread with features about `cell` px across."""
    if cell <= 1:
        return rng.standard_normal((height, width), dtype=np.float32)
    grid = rng.standard_normal((int(height / cell) + 3, int(width / cell) + 3)).astype(np.float32)
    big = cv2.resize(grid, (int(grid.shape[1] * cell), int(grid.shape[0] * cell)),
                     interpolation=cv2.INTER_CUBIC)
    skip = math.ceil(cell)  # the cubic's border
    return np.ascontiguousarray(big[skip:skip + height, skip:skip + width])


def rotated(width: int, height: int, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel: (along, across) the direction `degrees`, in px."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return xx * c + yy * s, -xx * s + yy * c


def sampled(grid: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """`grid` read at float positions (columns x, rows y), linearly, wrapping around."""
    out: np.ndarray = cv2.remap(grid, x.astype(np.float32), y.astype(np.float32),
                                cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
    return out


def colored(gray: np.ndarray, tint: RGB) -> np.ndarray:
    return gray[:, :, None] * np.asarray(tint, np.float32)


# --------------------------------------------------------------------------- brushed steel

def brushed_steel(rng: np.random.Generator, width: int, height: int, grain: float,
                  marks: Marks) -> np.ndarray:
    """Hairline-brushed stainless at any angle, the brushing gently wavy: fine 1-px streaks
    and wider soft ones whose brightness changes every few hundred px along them. Die lines
    (look-alikes): faint 1-px lines exactly along the brushing, 60-250 px long."""
    along, across = rotated(width, height, grain)
    across += rng.uniform(2, 10) * np.sin(along / rng.uniform(300, 1500) + rng.uniform(0, 6.3))
    level = rng.uniform(125, 165)
    gray = np.full((height, width), level, np.float32)
    for cell_across, cell_along, amount in ((1.0, rng.uniform(80, 250), 7.0),
                                            (4.0, rng.uniform(250, 600), 5.0)):
        grid = rng.standard_normal((int(4000 / cell_across), int(4000 / cell_along) + 2))
        gray += amount * sampled(grid.astype(np.float32), along / cell_along,
                                 across / cell_across)
    gray += 4 * noise(rng, width, height, 160)
    for _ in range(per_frame(rng, 3, (height, width))):
        start = np.array([rng.uniform(0, width), rng.uniform(0, height)])
        heading = np.array([math.cos(math.radians(grain)), math.sin(math.radians(grain))])
        marks.path(np.vstack([start, start + heading * rng.uniform(60, 250)]), 1,
                   rng.uniform(12, 20))
    tint = (0.97, 1.0, 1.04) if rng.random() < 0.6 else (1.0, 1.0, 1.0)
    return colored(gray, tint)


# --------------------------------------------------------------------------- cast metal

def cast_iron(rng: np.random.Generator, width: int, height: int, grain: float,
              marks: Marks) -> np.ndarray:
    """Sand-cast or shot-blasted metal: granular at every scale, no direction. Grain pits
    (look-alikes): dark specks 1-3 px, smaller and shallower than pores; metal sparkles."""
    gray = np.full((height, width), rng.uniform(95, 130), np.float32)
    fine = cv2.GaussianBlur(noise(rng, width, height, 1), (0, 0), 0.8)
    gray += 22 * fine + 7 * noise(rng, width, height, 6) + 6 * noise(rng, width, height, 24)
    gray += 8 * noise(rng, width, height, 140)
    for _ in range(per_frame(rng, 220, (height, width))):
        marks.dot(rng.uniform(0, width), rng.uniform(0, height), rng.uniform(0.5, 1.5),
                  -rng.uniform(20, 40))
    for _ in range(per_frame(rng, 120, (height, width))):
        marks.dot(rng.uniform(0, width), rng.uniform(0, height), 0, rng.uniform(40, 90))
    tint = (1.03, 1.0, 0.95) if rng.random() < 0.5 else (0.99, 1.0, 1.02)
    return colored(gray, tint)


# --------------------------------------------------------------------------- painted panel

PAINTS: tuple[RGB, ...] = ((170, 35, 40), (40, 70, 150), (175, 177, 180), (200, 200, 196),
                           (70, 72, 76), (40, 110, 70))


def painted_panel(rng: np.random.Generator, width: int, height: int, grain: float,
                  marks: Marks) -> np.ndarray:
    """Glossy paint in one colour: orange peel (a soft dimpled waviness), on light metallic
    colours a fine flake sparkle; its reflections come with the light (Lighting's glare).
    Look-alikes: small round soft highlights off the peel, crater-sized."""
    paint = np.asarray(PAINTS[int(rng.integers(len(PAINTS)))], np.float32)
    peel = 0.035 * noise(rng, width, height, 9) + 0.025 * noise(rng, width, height, 28)
    shade = 1 + peel + 0.04 * noise(rng, width, height, 400)
    image = shade[:, :, None] * paint
    if paint.mean() > 150 and rng.random() < 0.6:  # metallic: flakes
        image += (4 * noise(rng, width, height, 1))[:, :, None]
    for _ in range(per_frame(rng, 25, (height, width))):
        x, y, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(2, 5)
        if marks.dot(x, y, r, rng.uniform(15, 30)):
            marks.dot(x, y, r / 2, rng.uniform(30, 50))
    return image


# --------------------------------------------------------------------------- woven fabric

YARNS: tuple[RGB, ...] = ((40, 50, 95), (150, 135, 100), (120, 122, 125), (150, 45, 50),
                          (70, 95, 130), (200, 195, 180))


def woven_fabric(rng: np.random.Generator, width: int, height: int, grain: float,
                 marks: Marks) -> np.ndarray:
    """Plain or twill weave, threads 5-9 px apart along `grain` and across it: each crossing
    shows the thread on top, rounded and darker at its edges; threads vary in thickness and
    shade. Knots and slubs (look-alikes): short bright thickenings along a thread."""
    along, across = rotated(width, height, grain)
    pitch = rng.uniform(5, 9)
    u, v = along / pitch, across / pitch
    i, j = np.floor(u), np.floor(v)
    twill = rng.random() < 0.4
    warp_on_top = ((i + j) % 4 < 2) if twill else ((i + j) % 2 == 0)
    fu, fv = u - i, v - j
    rounded_warp = np.sqrt(np.sin(math.pi * fv))  # across the warp thread (rows of v)
    rounded_weft = np.sqrt(np.sin(math.pi * fu))
    dip = 0.88 + 0.12 * np.where(warp_on_top, np.sin(math.pi * fu), np.sin(math.pi * fv))
    shade = np.where(warp_on_top, rounded_warp, rounded_weft) * dip
    threads = rng.normal(0, 0.06, (2, 4096)).astype(np.float32)  # each thread's own shade
    idx_warp = (j.astype(np.int64) % 4096)
    idx_weft = (i.astype(np.int64) % 4096)
    shade *= 1 + np.where(warp_on_top, threads[0][idx_warp], threads[1][idx_weft])
    shade = 0.55 + 0.45 * shade + 0.03 * noise(rng, width, height, 1)
    shade += 0.05 * noise(rng, width, height, 300)
    yarn = np.asarray(YARNS[int(rng.integers(len(YARNS)))], np.float32)
    brightness = 30 if yarn.mean() < 110 else 25
    for _ in range(per_frame(rng, 18, (height, width))):
        angle = grain + (90 if rng.random() < 0.5 else 0)
        long = rng.uniform(3, 7)
        marks.ellipse(rng.uniform(0, width), rng.uniform(0, height),
                      (long, rng.uniform(1.5, 2.5)), angle, brightness)
    image: np.ndarray = shade[:, :, None] * yarn
    return image


# --------------------------------------------------------------------------- printed circuit

MASKS: tuple[RGB, ...] = ((30, 105, 50), (25, 85, 45), (25, 50, 110), (35, 35, 38))
GOLD: RGB = (210, 175, 85)
HOLE: RGB = (15, 15, 14)
SILK: RGB = (230, 230, 222)


def _route(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A trace's corners: 2-5 runs, each across, down or at 45 degrees."""
    point = np.array([rng.uniform(0, width), rng.uniform(0, height)])
    points = [point]
    for _ in range(int(rng.integers(2, 6))):
        heading = math.radians(45 * int(rng.integers(8)))
        point = point + rng.uniform(40, 400) * np.array([math.cos(heading), math.sin(heading)])
        points.append(point)
    return np.round(np.array(points)).astype(np.int32)


def circuit_board(rng: np.random.Generator, width: int, height: int, grain: float,
                  marks: Marks) -> np.ndarray:
    """Solder mask over copper traces (lighter where copper lies under the mask), bare gold
    pads in rows, the glass weave faintly through it all. Look-alikes: vias (a gold ring round
    a dark hole: a pit's twin) and white silkscreen strokes (a scratch's)."""
    mask_color = np.asarray(MASKS[int(rng.integers(len(MASKS)))], np.float32)
    copper = np.zeros((height, width), np.uint8)
    for _ in range(per_frame(rng, 30, (height, width))):
        cv2.polylines(copper, [_route(rng, width, height)], False, 255,
                      int(rng.integers(4, 13)))
    pads = np.zeros((height, width), np.uint8)
    for _ in range(per_frame(rng, 4, (height, width))):  # a component's row of pads
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        pw, ph, pitch = rng.uniform(8, 20), rng.uniform(15, 40), rng.uniform(20, 40)
        across = rng.random() < 0.5
        for k in range(int(rng.integers(3, 12))):
            x0, y0 = (x + k * pitch, y) if across else (x, y + k * pitch)
            w, h = (pw, ph) if across else (ph, pw)
            cv2.rectangle(pads, (int(x0), int(y0)), (int(x0 + w), int(y0 + h)), 255, -1)
    weave = 1 + 0.03 * noise(rng, width, height, 3) + 0.04 * noise(rng, width, height, 200)
    under = (copper > 0)[:, :, None]
    image = np.where(under, mask_color * 1.4 + 12, mask_color) * weave[:, :, None]
    image = np.where((pads > 0)[:, :, None], np.asarray(GOLD, np.float32) * weave[:, :, None],
                     image).astype(np.float32)
    _vias_and_silkscreen(rng, image, marks)
    return image


def _vias_and_silkscreen(rng: np.random.Generator, image: np.ndarray, marks: Marks) -> None:
    """Drawn straight into `image` (they replace what is there) and noted in `marks`."""
    height, width = image.shape[:2]
    for _ in range(per_frame(rng, 60, (height, width))):
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        outer = rng.uniform(4.5, 8)
        if marks.dot(x, y, outer, 0):
            center = (int(round(x)), int(round(y)))
            cv2.circle(image, center, int(round(outer)), GOLD, -1, cv2.LINE_AA)
            cv2.circle(image, center, int(round(outer * rng.uniform(0.35, 0.55))), HOLE, -1,
                       cv2.LINE_AA)
    for _ in range(per_frame(rng, 8, (height, width))):  # outlines and marking strokes
        start = np.array([rng.uniform(0, width), rng.uniform(0, height)])
        corners = [start]
        for _ in range(int(rng.integers(1, 4))):
            heading = math.radians(90 * int(rng.integers(4)))
            corners.append(corners[-1] + rng.uniform(10, 120) * np.array(
                [math.cos(heading), math.sin(heading)]))
        points = np.array(corners)
        if marks.path(points, 2, 0):
            cv2.polylines(image, [np.round(points).astype(np.int32)], False, SILK, 2,
                          cv2.LINE_AA)
