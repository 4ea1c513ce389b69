"""Telling touching and crossing objects of one class apart, in a pixel model's map.

A pixel model (ml.infer.blobs) says which class each pixel shows; its connected regions are
objects only while objects of a class never touch. On real parts they do: scratches cross,
a scratch runs through a pit, pits come in clusters. The field's pixel models (StarDist,
Cellpose, HoVer-Net) learn an extra output per pixel to separate them; the shapes here have
simpler tells, read from the region itself, so nothing more has to be learned in a few CPU
minutes (and nothing more can be learned wrong on a surface never seen):

- lines (scratches, cracks, snags): a region's skeleton branches at crossings; the branches
  through a crossing that continue one another (the straightest pairs) are one line, and the
  crossing's pixels belong to every line through it. Two pieces of a line that another
  object interrupts (a scratch through a pit) are joined across it.
- spots (pits, pores, voids): a region much larger than one spot is split at its necks: one
  spot per peak of the distance to the region's edge, each pixel to the disc it lies
  deepest in.
- regions (stains, smudges): as found.

Which of the three a class is comes from its labels (core.working_scale.pixel_classes). All
work is on a region's own window, so a 20-MP frame costs what its defects cost.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from isegui.core.mask_window import MaskWindow
from isegui.core.working_scale import LINE, SPOT, ShapeKind

SPLIT_SPOTS_FROM = 1.6  # a spot region this many typical spots large may be several
STRAIGHT_ENOUGH = math.radians(35)  # two branches meeting at most this far off straight
DIRECTION_PX = 12  # a branch's direction is taken over this much of it from the crossing
SHORT_LINK_WIDTHS = 6  # a branch between two crossings this many widths long joins them
JOIN_LONGEST_GAP = 40.0  # px: the longest gap between two pieces of a line that is bridged
JOIN_GAP_COVER = 0.6  # a gap between two pieces of a line is bridged when another object
# covers this share of it
MOST_SPOTS = 256  # a region with more distance peaks than this is a flood, not a cluster:
# left whole (the class's area limit then drops it), never split at pixels x peaks cost
PAIRWISE_CELLS = 4_000_000  # end-end pairs held at once (bounds memory)
OWNER_REACH = 3.0  # radii from a spot's centre within which its pixels are weighed


def separate(window: MaskWindow, kind: ShapeKind) -> list[MaskWindow]:
    """The objects of one class in one connected region (its window), as windows."""
    if kind.kind == LINE:
        return split_lines(window, kind.size)
    if kind.kind == SPOT and kind.size > 0 and \
            window.area > SPLIT_SPOTS_FROM * math.pi * (kind.size / 2) ** 2:
        return split_spots(window, kind.size)
    return [window]


# ------------------------------------------------------------------------------------ spots

def split_spots(window: MaskWindow, diameter: float) -> list[MaskWindow]:
    """Touching spots: one per peak of the distance to the region's edge (peaks nearer than
    half a typical spot are one), each peak a disc as wide as that distance; every pixel of
    the region goes to the disc it lies deepest in (its distance to the centre over the
    disc's radius), which splits touching discs of unequal size at their neck."""
    mask = window.mask.astype(np.uint8)
    distance = cv2.distanceTransform(np.pad(mask, 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
    reach = max(1, int(round(diameter / 4)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
    peaks = (distance >= cv2.dilate(distance, kernel) - 1e-3) & (distance >= 1.0) & \
        (mask > 0)
    count, labels, _, centroids = cv2.connectedComponentsWithStats(
        peaks.astype(np.uint8), connectivity=8)
    if count <= 2 or count - 1 > MOST_SPOTS:  # one peak (or none): one spot; or a flood
        return [window]
    centres = centroids[1:, ::-1].astype(np.float32)  # (row, col) of each peak
    radii = np.zeros(count, np.float32)
    np.maximum.at(radii, labels[peaks].astype(np.intp), distance[peaks])
    return _pieces(window, _deepest_disc_owner(mask > 0, centres, radii[1:]), range(1, count))


def _deepest_disc_owner(mask: np.ndarray, centres: np.ndarray, radii: np.ndarray
                        ) -> np.ndarray:
    """Per pixel of `mask`, 1 + the index of the disc (centre (row, col), radius) it lies
    deepest in (least distance over radius). Each disc is weighed only within OWNER_REACH
    radii of its centre (all pairs at once cost pixels x discs: 0.2 s a region on a model
    early in training); pixels beyond every disc's reach take their nearest owned pixel's."""
    height, width = mask.shape
    best = np.full(mask.shape, np.inf, np.float32)
    owner = np.zeros(mask.shape, np.int32)
    for k, ((row, col), radius) in enumerate(zip(centres, radii), start=1):
        reach = int(math.ceil(OWNER_REACH * max(float(radius), 1.0)))
        r0, r1 = max(0, int(row) - reach), min(height, int(row) + reach + 2)
        c0, c1 = max(0, int(col) - reach), min(width, int(col) + reach + 2)
        rows = np.arange(r0, r1, dtype=np.float32)[:, None] - row
        cols = np.arange(c0, c1, dtype=np.float32)[None, :] - col
        ratio = np.sqrt(rows * rows + cols * cols) / max(float(radius), 1e-3)
        closer = (ratio < best[r0:r1, c0:c1]) & mask[r0:r1, c0:c1]
        best[r0:r1, c0:c1][closer] = ratio[closer]
        owner[r0:r1, c0:c1][closer] = k
    unowned = mask & (owner == 0)
    if unowned.any():
        owner = np.where(mask, _nearest_owner(owner, mask), 0).astype(np.int32)
    return owner


# ------------------------------------------------------------------------------------ lines

def split_lines(window: MaskWindow, width: float) -> list[MaskWindow]:
    """Crossing lines: the region's skeleton cut at its crossings into branches, branches
    paired through each crossing by how straight they continue, each chain of branches one
    line. A pixel goes to the branch its skeleton point is on; a crossing's to each line
    through it."""
    mask = window.mask
    if max(mask.shape) < 4 * width + 8:  # too short to hold two lines that cross
        return [window]
    skeleton = thin(mask)
    skeleton = prune(skeleton, max(3, int(round(2 * width))))
    junctions = skeleton & (_crossings(skeleton) >= 3)
    if not junctions.any():
        return [window]
    # one crossing of lines w px wide thins to several junction pixels a few px apart
    reach = max(1, int(math.ceil(width)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
    hubs = cv2.dilate(junctions.astype(np.uint8), kernel) > 0
    # lines crossing at a shallow angle share a stretch: its two junctions, and the short
    # branch between them, are one crossing
    hubs |= _short_links(skeleton, hubs, max(8.0, SHORT_LINK_WIDTHS * width))
    hub_count, hub_labels = cv2.connectedComponents(hubs.astype(np.uint8), connectivity=8)
    branch_count, branches = cv2.connectedComponents((skeleton & ~hubs).astype(np.uint8),
                                                     connectivity=8)
    if branch_count <= 2:
        return [window]
    parent = list(range(branch_count))

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    meeting: dict[int, list[int]] = {}  # hub -> the branches that reach it
    ring = cv2.dilate(hubs.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    for hub in range(1, hub_count):
        touching = np.unique(branches[ring & (cv2.dilate(
            (hub_labels == hub).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)])
        meeting[hub] = [int(b) for b in touching if b]
    for hub, members in meeting.items():
        centre = np.argwhere(hub_labels == hub).mean(axis=0)
        heading = {b: _heading(branches == b, centre) for b in members}
        for a, b in _straightest_pairs(heading):
            parent[root(b)] = root(a)
    # every pixel goes to its nearest skeleton point's branch (or hub)
    owner = np.where(skeleton & ~hubs, branches, 0).astype(np.int32)
    owner[hubs & skeleton] = -hub_labels[hubs & skeleton]
    nearest = _nearest_owner(owner, mask)
    lines: dict[int, np.ndarray] = {}
    for b in range(1, branch_count):
        lines.setdefault(root(b), np.zeros(mask.shape, bool))
        lines[root(b)] |= nearest == b
    for hub, members in meeting.items():
        for line in {root(b) for b in members}:
            lines[line] |= nearest == -hub
    found = [MaskWindow.trimmed(m & mask, window.origin) for m in lines.values()]
    return [w for w in found if w is not None]


def join_lines(lines: Sequence[MaskWindow], width: float, covered: np.ndarray,
               origin: tuple[int, int] = (0, 0), longest_gap: float = JOIN_LONGEST_GAP
               ) -> list[MaskWindow]:
    """Pieces of one line that another object interrupts (a scratch through a pit) joined
    across it: two pieces whose facing ends point at each other, at most `longest_gap` px
    apart, with the gap between them at least JOIN_GAP_COVER covered by `covered` (a bool
    map of the other objects, its pixel [0, 0] at image position `origin`). The join is
    drawn `width` px wide through the gap."""
    lines = list(lines)
    parent = list(range(len(lines)))

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    bridges: list[tuple[int, tuple[float, float], tuple[float, float]]] = []
    for i, j, pa, pb in _facing_ends(lines, longest_gap):
        if root(i) != root(j) and _cover(covered, origin, pa, pb) >= JOIN_GAP_COVER:
            parent[root(j)] = root(i)
            bridges.append((i, pa, pb))
    groups: dict[int, list[int]] = {}
    for k in range(len(lines)):
        groups.setdefault(root(k), []).append(k)
    joined = []
    # a join drawn near the map's edge stays on the map (its pixels are read from it)
    inside = (origin[0], origin[1], origin[0] + covered.shape[1], origin[1] + covered.shape[0])
    for members in groups.values():
        window = MaskWindow.union(lines[k] for k in members)
        for i, pa, pb in bridges:
            if root(i) == root(members[0]):
                window = _with_segment(window, pa, pb, width, inside)
        joined.append(window)
    return joined


# --------------------------------------------------------------------------- thinning

def thin(mask: np.ndarray) -> np.ndarray:
    """The one-pixel skeleton of a bool mask (Zhang and Suen's thinning, in numpy)."""
    image = np.pad(mask.astype(np.uint8), 1)
    while True:
        changed = False
        for step in (0, 1):
            p = _neighbours(image)
            p2, p3, p4, p5, p6, p7, p8, p9 = p
            count = sum(p)
            ring = p + [p2]
            transitions = sum(((a == 0) & (b == 1)).astype(np.uint8)
                              for a, b in zip(ring, ring[1:]))  # as _crossings counts
            if step == 0:
                gone = (p2 * p4 * p6 == 0) & (p4 * p6 * p8 == 0)
            else:
                gone = (p2 * p4 * p8 == 0) & (p2 * p6 * p8 == 0)
            remove = (image[1:-1, 1:-1] == 1) & (count >= 2) & (count <= 6) & \
                (transitions == 1) & gone
            if remove.any():
                image[1:-1, 1:-1][remove] = 0
                changed = True
        if not changed:
            return image[1:-1, 1:-1].astype(bool)


def prune(skeleton: np.ndarray, shortest: int) -> np.ndarray:
    """The skeleton without the spurs (branches from an end to a junction) shorter than
    `shortest` px, which a thick line's corners and ragged edges grow."""
    skeleton = skeleton.copy()
    for _ in range(shortest):
        ends = skeleton & (_crossings(skeleton) == 1)
        if not ends.any():
            break
        # only ends of spurs: an end whose line reaches a junction within `shortest` px
        spurs = _spur_ends(skeleton, ends, shortest)
        if not spurs.any():
            break
        skeleton &= ~spurs
    return skeleton


# --------------------------------------------------------------------------- helpers

def _neighbours(image: np.ndarray) -> list[np.ndarray]:
    """The 8 neighbours of each inner pixel of a padded image, clockwise from the top."""
    c = image
    return [c[:-2, 1:-1], c[:-2, 2:], c[1:-1, 2:], c[2:, 2:], c[2:, 1:-1], c[2:, :-2],
            c[1:-1, :-2], c[:-2, :-2]]


def _crossings(skeleton: np.ndarray) -> np.ndarray:
    """How many separate runs of skeleton pixels surround each skeleton pixel: 1 at an end,
    2 along a line (also where it steps diagonally), 3 or more where lines meet."""
    ring = _neighbours(np.pad(skeleton.astype(np.uint8), 1))
    ring = ring + ring[:1]
    runs = sum(((a == 0) & (b == 1)).astype(np.uint8) for a, b in zip(ring, ring[1:]))
    out: np.ndarray = np.asarray(runs, np.uint8) * skeleton
    return out


def _spur_ends(skeleton: np.ndarray, ends: np.ndarray, shortest: int) -> np.ndarray:
    """The ends whose branch meets a junction within `shortest` px: walking from each end."""
    junction = skeleton & (_crossings(skeleton) >= 3)
    if not junction.any():
        return np.zeros_like(skeleton)
    out = np.zeros_like(skeleton)
    height, width = skeleton.shape
    for y, x in np.argwhere(ends):
        path, prev, cur = [(y, x)], None, (y, x)
        for _ in range(shortest):
            cy, cx = cur
            nxt = [(cy + dy, cx + dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                   if (dy or dx) and 0 <= cy + dy < height and 0 <= cx + dx < width
                   and skeleton[cy + dy, cx + dx] and (cy + dy, cx + dx) != prev
                   and (cy + dy, cx + dx) not in path]
            if not nxt:
                break
            if any(junction[p] for p in nxt):
                out[y, x] = True
                break
            prev, cur = cur, nxt[0]
            path.append(cur)
    return out


def _short_links(skeleton: np.ndarray, hubs: np.ndarray, longest: float) -> np.ndarray:
    """The skeleton's branches that link two different hubs and are at most `longest` px."""
    _, hub_labels = cv2.connectedComponents(hubs.astype(np.uint8), connectivity=8)
    count, branches = cv2.connectedComponents((skeleton & ~hubs).astype(np.uint8),
                                              connectivity=8)
    near = cv2.dilate(hub_labels.astype(np.float32), np.ones((3, 3), np.uint8))
    links = np.zeros_like(skeleton)
    sizes = np.bincount(branches.ravel(), minlength=count)
    for b in range(1, count):
        if sizes[b] > longest:
            continue
        pixels = branches == b
        touched = set(np.unique(near[cv2.dilate(pixels.astype(np.uint8),
                                                np.ones((3, 3), np.uint8)) > 0])) - {0.0}
        if len(touched) >= 2:
            links |= pixels
    return links


def _heading(branch: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """The unit direction in which a branch leaves the crossing at `centre` (row, col),
    from its pixels within DIRECTION_PX of the crossing's edge."""
    points = np.argwhere(branch).astype(float)
    distance = np.linalg.norm(points - centre, axis=1)
    near = points[distance <= distance.min() + DIRECTION_PX]
    vector: np.ndarray = near.mean(axis=0) - centre
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector


def _straightest_pairs(heading: dict[int, np.ndarray]) -> list[tuple[int, int]]:
    """Branches at one crossing paired, straightest first: two that leave it in nearly
    opposite directions continue each other."""
    options = []
    names = sorted(heading)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            cos = float(np.clip(np.dot(heading[a], heading[b]), -1, 1))
            bend = math.pi - math.acos(cos)  # 0: straight on
            if bend <= STRAIGHT_ENOUGH:
                options.append((bend, a, b))
    pairs, used = [], set()
    for _, a, b in sorted(options):
        if a not in used and b not in used:
            pairs.append((a, b))
            used |= {a, b}
    return pairs


def _nearest_owner(owner: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """For each pixel of `mask`, the owner (non-zero value of `owner`) of its nearest
    skeleton pixel."""
    seeds = owner != 0
    if not seeds.any():
        return np.zeros_like(owner)
    _, labels = cv2.distanceTransformWithLabels((~seeds).astype(np.uint8), cv2.DIST_L2, 5,
                                                labelType=cv2.DIST_LABEL_PIXEL)
    ys, xs = np.nonzero(seeds)
    # DIST_LABEL_PIXEL numbers the zero pixels in row-major order, from 1
    order = np.zeros(len(ys) + 1, np.int32)
    order[1:] = owner[ys, xs]
    return np.where(mask, order[labels], 0)


def _pieces(window: MaskWindow, labels: np.ndarray, ids: range) -> list[MaskWindow]:
    found = [MaskWindow.trimmed((labels == k) & window.mask, window.origin) for k in ids]
    return [w for w in found if w is not None]


def _ends(window: MaskWindow) -> list[tuple[tuple[float, float], np.ndarray]]:
    """A line piece's two ends (image x, y) and the direction it leaves each by."""
    points = np.argwhere(window.mask).astype(float)[:, ::-1]  # x, y
    if len(points) < 2:
        return []
    centre = points.mean(axis=0)
    _, _, vt = np.linalg.svd(points - centre, full_matrices=False)
    axis = vt[0]
    along = (points - centre) @ axis
    ox, oy = window.origin
    out = []
    for sign, pick in ((1.0, along.argmax()), (-1.0, along.argmin())):
        x, y = points[pick]
        out.append(((float(x + ox + 0.5), float(y + oy + 0.5)), sign * axis))
    return out


def _facing_ends(lines: Sequence[MaskWindow], longest_gap: float
                 ) -> list[tuple[int, int, tuple[float, float], tuple[float, float]]]:
    """The pairs of line pieces (i, j) whose ends face each other across a gap, shortest
    gap first, with those ends: the gap at most `longest_gap`, both pieces heading into it
    within STRAIGHT_ENOUGH."""
    owners, points, headings = [], [], []
    for k, line in enumerate(lines):
        for point, heading in _ends(line):
            owners.append(k)
            points.append(point)
            headings.append(heading)
    if len(points) < 2:
        return []
    owner, at, way = np.array(owners), np.array(points), np.array(headings)
    enough = math.cos(STRAIGHT_ENOUGH)
    found: list[tuple[float, int, int]] = []
    step = max(1, PAIRWISE_CELLS // len(at))
    for start in range(0, len(at), step):  # ends a in chunks: all pairs at once is n² memory
        a = slice(start, start + step)
        gap = at[None, :, :] - at[a, None, :]  # from end a to end b
        length = np.linalg.norm(gap, axis=2)
        toward = gap / np.maximum(length, 1e-9)[:, :, None]
        facing = ((owner[a, None] < owner[None, :]) & (length > 0) & (length <= longest_gap)
                  & (np.einsum("ad,abd->ab", way[a], toward) >= enough)
                  & (np.einsum("bd,abd->ab", way, -toward) >= enough))
        found += [(float(length[i, j]), start + int(i), int(j))
                  for i, j in zip(*np.nonzero(facing))]
    return [(int(owner[i]), int(owner[j]), (float(at[i, 0]), float(at[i, 1])),
             (float(at[j, 0]), float(at[j, 1]))) for _, i, j in sorted(found)]


def _cover(covered: np.ndarray, origin: tuple[int, int], a: tuple[float, float],
           b: tuple[float, float]) -> float:
    """The share of the segment a-b (image px) that `covered` (placed at `origin`) covers."""
    steps = max(2, int(math.ceil(math.dist(a, b))))
    xs = np.linspace(a[0], b[0], steps) - origin[0]
    ys = np.linspace(a[1], b[1], steps) - origin[1]
    cols, rows = np.floor(xs).astype(int), np.floor(ys).astype(int)
    inside = (rows >= 0) & (rows < covered.shape[0]) & (cols >= 0) & (cols < covered.shape[1])
    hits = np.zeros(steps, bool)
    hits[inside] = covered[rows[inside], cols[inside]]
    return float(hits.mean())


def _with_segment(window: MaskWindow, a: tuple[float, float], b: tuple[float, float],
                  width: float, inside: tuple[int, int, int, int]) -> MaskWindow:
    """The window with the segment a-b drawn `width` px wide into it, no further than the
    rectangle `inside` (x0, y0, x1, y1) holding them both."""
    half = max(1, int(math.ceil(width / 2)))
    x0 = max(inside[0], min(window.rect[0], int(min(a[0], b[0])) - half))
    y0 = max(inside[1], min(window.rect[1], int(min(a[1], b[1])) - half))
    x1 = min(inside[2], max(window.rect[2], int(max(a[0], b[0])) + half + 1))
    y1 = min(inside[3], max(window.rect[3], int(max(a[1], b[1])) + half + 1))
    canvas = window.on((x0, y0, x1, y1)).astype(np.uint8)
    cv2.line(canvas, (int(a[0] - x0), int(a[1] - y0)), (int(b[0] - x0), int(b[1] - y0)), 1,
             thickness=max(1, int(round(width))))
    return MaskWindow(canvas.astype(bool), (x0, y0))
