"""Benchmark (issue 15): labeling effort with a simulated annotator, per tool.

    python bench/labeling_effort.py DIR [--run R] [--split val] [--limit N] [--out FILE]
                                    [--device cpu] [--tools a,b] [--click-model FILE]
                                    [--no-large-frame]

The protocol of interactive-segmentation papers: for every labeled (not crowd) instance of the
split's images, a simulated annotator clicks until the tool's mask reaches IoU >= 0.9 with the
label, at most 20 clicks; each click goes to the point farthest inside the largest error
region (core.labeling_aids.next_click: positive on missed object, negative on extra). NoC@90 is
the mean number of clicks, counting 20 where 0.9 is never reached ("never" is their share).

- polygon: no tool, the baseline: the fewest vertices of a simplified outline of the label
  that reaches 0.9 (every vertex one click).
- grabcut: the label's tight box (2 clicks: two corners) -> core.labeling_aids.grabcut, then
  clicks refined by a ClickSession without a model.
- box_mask: the same box -> the run's mask head (ml.model.box_segmenter.BoxSegmenter), then clicks
  refined by a ClickSession whose box segmenter is the model.
- click: clicks only, the first on the model's detections of the image (score >= 0.05; the
  prediction, once per image, is timed apart in "frame_ms"), the rest as above.
- click_no_model: clicks only, GrabCut around the first.
- click_model: clicks only, every one answered by the project's click model (ml.click,
  `isegui train-clicks`; --click-model FILE for another), the first from the run's detection
  under it when a run is there; where an answer ignores a click, GrabCut refines from it.
- click_model_alone: the same without the run (a project that has labels but no run yet).
- scissors: Intelligent Scissors (core.labeling_aids.EdgeTracer) through k anchors evenly
  spaced along the label's outline, k = 3..20; NoC is the smallest k that reaches 0.9. The
  tool draws one outline, so a label with a hole may never get there (see *_without_holes).

"ms" is the mean wall time of one interaction (a box or a click; for scissors one path_to,
the preview of a mouse move) on this machine. "box_ms_large" and "scissors_ms" time a
~100 x 80 px box and scissors mouse moves on a 2448 x 2048 frame tiled from a project image
(the issue's targets: <= 150 ms and <= 30 ms). Model tools need --run or an active run.
Prints one JSON object (and writes it to --out FILE).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import shapely  # noqa: E402
from shapely.geometry import LineString, MultiPolygon, Polygon  # noqa: E402

from isegui.core.entities import Split  # noqa: E402
from isegui.core.errors import ShapeError  # noqa: E402
from isegui.core.geometry import (  # noqa: E402
    Shape,
    bounds_window,
    has_holes,
    polygon_from_points,
    polygons_of,
    rasterize,
    repair,
)
from isegui.core.images import load_image  # noqa: E402
from isegui.core.labeling_aids import (  # noqa: E402
    ClickSession,
    EdgeTracer,
    Point,
    grabcut,
    next_click_on,
)
from isegui.core.mask_window import Box, MaskWindow, Rect, enclosing  # noqa: E402
from isegui.ml.infer.detection import prepare_image  # noqa: E402

MAX_CLICKS = 20
TARGET_IOU = 0.9
BOX_CLICKS = 2  # a box is two corners
SCISSORS_ANCHORS = range(3, MAX_CLICKS + 1)
SCISSORS_SIMPLIFY_PX = 0.75  # what the app's scissors tool simplifies its outline by
DETECTION_THRESHOLD = 0.05  # the click tool's candidates: also those below review
LARGE_FRAME = (2448, 2048)  # width, height
LARGE_BOX = (100, 80)
TARGETS_MS = {"box_ms_large": 150.0, "scissors_ms": 30.0, "click_model_next_ms": 100.0}
TOOLS = ("polygon", "box_mask", "click", "grabcut", "scissors", "click_no_model",
         "click_model", "click_model_alone")
CLICK_MODEL_TOOLS = ("click_model", "click_model_alone")
MODEL_TOOLS = ("box_mask", "click")
# COCO's size buckets, by the label's area in image px
SIZE_BUCKETS = (("small", 32 ** 2), ("medium", 96 ** 2), ("large", math.inf))


@dataclass
class Effort:
    """One instance with one tool: clicks used (MAX_CLICKS when never reached), whether 0.9
    was reached, the time of each interaction (s) and tool-specific numbers."""
    clicks: int
    reached: bool
    times: list[float] = field(default_factory=list)
    first_iou: float | None = None
    extra: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- windows

def truth_window(shape: Shape, height: int, width: int) -> MaskWindow | None:
    """The label as a bool window (rasterize's rule) cut to its pixels; None when empty."""
    x0, y0, x1, y1 = bounds_window(shape, height, width)
    if x1 <= x0 or y1 <= y0:
        return None
    return MaskWindow.trimmed(rasterize(shape, y1 - y0, x1 - x0, origin=(x0, y0)), (x0, y0))


def union_rect(*windows: MaskWindow | None) -> Rect:
    """The smallest pixel rectangle holding every window."""
    return enclosing(w.rect for w in windows if w is not None)


def window_iou(predicted: MaskWindow | None, truth: MaskWindow) -> float:
    """Mask IoU of two windows, exactly as on the whole image (the truth is never empty)."""
    return predicted.iou(truth) if predicted is not None else 0.0


def annotator_click(predicted: MaskWindow | None, truth: MaskWindow
                    ) -> tuple[Point, bool] | None:
    """next_click on the windows, in image coordinates."""
    return next_click_on(predicted, truth)


# --------------------------------------------------------------------------- the tools

def polygon_effort(shape: Shape, truth: MaskWindow, height: int, width: int) -> Effort:
    """The fewest vertices of a simplified label outline that reaches TARGET_IOU: the
    fewest of Visvalingam-Whyatt (drop the vertex that spans the least area, one at a time:
    every vertex count) and Douglas-Peucker at decreasing tolerances, each with and without
    holes and small parts (which the annotator may leave out when 0.9 is reached without)."""
    parts = polygons_of(shape)
    largest = max(parts, key=lambda p: p.area)
    variants = [shape, _without_holes(parts), largest, Polygon(largest.exterior)]
    x0, y0, x1, y1 = bounds_window(shape, height, width)
    size = max(x1 - x0, y1 - y0)
    tolerances = [size / 2 * 0.8 ** i for i in range(40) if size / 2 * 0.8 ** i >= 0.2]
    best = _vertex_count(shape)  # the label itself always reaches IoU 1

    def reaches(candidate) -> bool:
        mask = rasterize(candidate, y1 - y0, x1 - x0, origin=(x0, y0))
        return window_iou(MaskWindow(mask, (x0, y0)), truth) >= TARGET_IOU

    for variant in variants:
        for candidate in _visvalingam(variant):
            count = _vertex_count(candidate)
            if count >= best:
                continue
            if not reaches(candidate):
                break  # fewer vertices only lose more
            best = count
        for tolerance in tolerances:
            for keep in (False, True):
                candidate = shapely.simplify(variant, tolerance, preserve_topology=keep)
                if candidate.is_empty:
                    continue
                count = _vertex_count(candidate)
                if count < best and reaches(candidate):
                    best = count
    return Effort(min(best, MAX_CLICKS), best <= MAX_CLICKS, [], None, {"vertices": best})


def _visvalingam(shape: Shape):
    """`shape` with one vertex fewer at each step (the one whose triangle with its neighbours
    has the least area, over all rings; every ring keeps 3)."""
    rings = [[np.asarray(ring.coords, dtype=float)[:-1] for ring in (p.exterior, *p.interiors)]
             for p in polygons_of(shape)]
    while True:
        smallest = None
        for i, polygon in enumerate(rings):
            for j, ring in enumerate(polygon):
                if len(ring) <= 3:
                    continue
                before, after = np.roll(ring, 1, axis=0) - ring, np.roll(ring, -1, axis=0) - ring
                areas = np.abs(before[:, 0] * after[:, 1] - before[:, 1] * after[:, 0])
                k = int(areas.argmin())
                if smallest is None or areas[k] < smallest[0]:
                    smallest = (areas[k], i, j, k)
        if smallest is None:
            return
        _, i, j, k = smallest
        rings[i][j] = np.delete(rings[i][j], k, axis=0)
        polygons = [Polygon(polygon[0], polygon[1:]) for polygon in rings]
        yield polygons[0] if len(polygons) == 1 else MultiPolygon(polygons)


def _without_holes(parts: Sequence[Polygon]) -> Shape:
    shells = [Polygon(p.exterior) for p in parts]
    return shells[0] if len(shells) == 1 else MultiPolygon(shells)


def _vertex_count(shape) -> int:
    """Vertices an annotator places: each ring's points (its closing repeat not counted)."""
    count = 0
    for polygon in polygons_of(shape):
        for ring in (polygon.exterior, *polygon.interiors):
            count += len(ring.coords) - 1
    return count


def refine(session: ClickSession, truth: MaskWindow, used: int, times: list[float],
           first_iou: float | None = None) -> Effort:
    """The annotator's clicks on `session` (its current mask the start, `used` clicks spent
    already) until TARGET_IOU or MAX_CLICKS."""
    iou = window_iou(session.current, truth)
    ious = [(used, iou)] if used else []  # (clicks so far, IoU)
    while iou < TARGET_IOU and used < MAX_CLICKS:
        found = annotator_click(session.current, truth)
        if found is None:
            break
        point, positive = found
        start = time.perf_counter()
        session.click(point, positive)
        times.append(time.perf_counter() - start)
        used += 1
        iou = window_iou(session.current, truth)
        ious.append((used, iou))
        if first_iou is None:
            first_iou = iou
    reached = iou >= TARGET_IOU
    return Effort(used if reached else MAX_CLICKS, reached, times, first_iou,
                  {"final_iou": iou, "ious": ious, "area": truth.area})


def grabcut_effort(image: np.ndarray, truth: MaskWindow) -> Effort:
    box = truth.tight_box()
    start = time.perf_counter()
    first = grabcut(image, box)
    times = [time.perf_counter() - start]
    session = ClickSession(image)
    session.start_from(first)
    return refine(session, truth, BOX_CLICKS, times, window_iou(first, truth))


def box_mask_effort(image: np.ndarray, truth: MaskWindow, segment_box: Callable) -> Effort:
    box = truth.tight_box()
    start = time.perf_counter()
    found = segment_box(box, None)
    times = [time.perf_counter() - start]
    session = ClickSession(image, segment_box=segment_box)
    if found is None:
        session.start_from(None)
    else:
        session.start_from(found.window, found.class_index, found.score)
    return refine(session, truth, BOX_CLICKS, times, window_iou(session.current, truth))


def click_effort(image: np.ndarray, truth: MaskWindow, segment_box: Callable | None = None,
                 detections: Callable | None = None,
                 click_model: Callable | None = None) -> Effort:
    session = ClickSession(image, segment_box=segment_box, detections=detections,
                           click_model=click_model)
    return refine(session, truth, 0, [])


def clicks_to_reach(effort: Effort, target: float) -> int:
    """The clicks an instance took to reach `target` IoU (MAX_CLICKS when never)."""
    return next((n for n, iou in effort.extra.get("ious", ()) if iou >= target), MAX_CLICKS)


def noc_figures(efforts: Sequence[Effort]) -> dict:
    """NoC@85 (tools that click until 0.9) and NoC@90 per COCO size bucket of the labels."""
    out = {}
    if all("ious" in e.extra for e in efforts):
        out["noc85"] = _round(statistics.fmean(clicks_to_reach(e, 0.85) for e in efforts), 2)
    lower = 0.0
    for name, upper in SIZE_BUCKETS:
        inside = [e for e in efforts if lower <= e.extra.get("area", 0) < upper]
        if inside:
            out[f"noc90_{name}"] = _round(statistics.fmean(e.clicks for e in inside), 2)
            out[f"instances_{name}"] = len(inside)
        lower = upper
    return out


def scissors_outline(tracer: EdgeTracer, anchors: Sequence[Point], times: list[float],
                     anchor_times: list[float], app_order: bool = False,
                     offset: tuple[int, int] = (0, 0)) -> Shape | None:
    """The closed outline through `anchors` (tracer image pixels) along edges, in image
    pixels (`offset` is the tracer image's place there), as the app's scissors tool makes it:
    paths through pixel centres, repaired, simplified by 0.75 px. Each path is put in
    anchor-to-anchor order unless `app_order` (path_to's own order, which the app uses)."""
    points: list[tuple[float, float]] = []
    for i, anchor in enumerate(anchors):
        target = anchors[(i + 1) % len(anchors)]
        start = time.perf_counter()
        tracer.start(anchor)
        middle = time.perf_counter()
        path = tracer.path_to(target)
        end = time.perf_counter()
        anchor_times.append(middle - start)
        times.append(end - middle)
        if not app_order and path and tuple(path[0]) != tracer.anchor:
            path = path[::-1]
        for x, y in path:
            p = (x + offset[0] + 0.5, y + offset[1] + 0.5)
            if not points or points[-1] != p:
                points.append(p)
    if len(points) < 3:
        return None
    try:
        shape = polygon_from_points(points).shape
        return repair(shape.simplify(SCISSORS_SIMPLIFY_PX)).shape
    except ShapeError:
        return None


def scissors_effort(image: np.ndarray, shape: Shape, truth: MaskWindow,
                    tracer: EdgeTracer | None = None) -> Effort:
    """The smallest number of anchors, evenly spaced (by arc length) on the label's largest
    outline, whose traced outline reaches TARGET_IOU. The tracing runs on a crop around the
    object (its box grown by its size, at least 32 px, each way): start() on the whole image
    costs the same for every anchor and k = 3..20 needs up to 207 of them. `tracer` (on the
    whole image, as the app has it) times one start() for "anchor_ms"."""
    height, width = image.shape[:2]
    x0, y0, x1, y1 = union_rect(truth)
    margin = max(32, x1 - x0, y1 - y0)
    cx0, cy0 = max(0, x0 - margin), max(0, y0 - margin)
    cx1, cy1 = min(width, x1 + margin), min(height, y1 + margin)
    crop = EdgeTracer(np.ascontiguousarray(image[cy0:cy1, cx0:cx1]))
    ring = LineString(max(polygons_of(shape), key=lambda p: p.area).exterior.coords)
    times: list[float] = []
    anchor_times: list[float] = []
    if tracer is not None:
        point = ring.interpolate(0)
        start = time.perf_counter()
        tracer.start((point.x, point.y))
        anchor_times.append(time.perf_counter() - start)
    best_iou = 0.0
    for k in SCISSORS_ANCHORS:
        anchors = [(p.x - cx0, p.y - cy0) for p in
                   (ring.interpolate(ring.length * i / k) for i in range(k))]
        outline = scissors_outline(crop, anchors, times, [], offset=(cx0, cy0))
        iou = _shape_iou(outline, truth, height, width)
        best_iou = max(best_iou, iou)
        if iou >= TARGET_IOU:
            app = scissors_outline(crop, anchors, [], [], app_order=True, offset=(cx0, cy0))
            return Effort(k, True, times, None, {
                "anchor_times": anchor_times, "final_iou": iou, "holes": has_holes(shape),
                "app_order_iou": _shape_iou(app, truth, height, width)})
    return Effort(MAX_CLICKS, False, times, None, {
        "anchor_times": anchor_times, "final_iou": best_iou, "holes": has_holes(shape)})


def _shape_iou(shape: Shape | None, truth: MaskWindow, height: int, width: int) -> float:
    if shape is None or shape.is_empty:
        return 0.0
    return window_iou(truth_window(shape, height, width), truth)


# --------------------------------------------------------------------------- a project

@dataclass
class Model:
    """The run's model as the tools use it."""
    run_id: int
    run_name: str
    predictor: object
    segmenter: object


def load_model(project_dir: Path, run: str | None, device: str) -> tuple[Model | None, str]:
    """The run's model (by id or name; without `run`, the active run) and its checkpoint
    file, or None and why not."""
    from isegui.core.project import Project
    from isegui.ml.runs import checkpoint_file, find_run
    with Project.open(project_dir, read_only=True) as project:
        if run is None and project.active_run_id is None:
            return None, "no --run given and the project has no active run"
        found = find_run(project, run)
        path = checkpoint_file(project, found, "best")
    from isegui.ml.model.box_segmenter import BoxSegmenter
    from isegui.ml.model.torch_predictor import Predictor
    predictor = Predictor.from_checkpoint(path, device, threshold=DETECTION_THRESHOLD)
    return Model(found.id, found.name, predictor, BoxSegmenter(predictor)), str(path)


def load_click_model(project_dir: Path, path: Path | None, device: str
                     ) -> tuple[Callable | None, str]:
    """The click model's segment function (the project's, or `path`) and what it is, or None
    and why not."""
    from isegui.ml.click.model_file import click_model_path
    from isegui.ml.click.segmenter import ClickSegmenter
    path = path or click_model_path(project_dir)
    if not path.exists():
        return None, f"{path}: no click model (isegui train-clicks makes one)"
    segmenter = ClickSegmenter.load(path, device)
    info = segmenter.info
    return segmenter.segment, (f"{path}: {info.steps} steps in {info.seconds:.0f} s on "
                               f"{info.device}, {info.instances} instances, {info.created}")


def measure_image(image: np.ndarray, shapes: Sequence[Shape], model: Model | None,
                  tools: Sequence[str], frame_times: list[float],
                  click_model: Callable | None = None) -> dict[str, list[Effort]]:
    """Every tool on every shape of one RGB uint8 image."""
    height, width = image.shape[:2]
    out: dict[str, list[Effort]] = {tool: [] for tool in tools}
    segment_box = detections = None
    if model is not None and any(t in MODEL_TOOLS + CLICK_MODEL_TOOLS for t in tools):
        def segment_box(box: Box, class_index: int | None):
            return model.segmenter.segment(image, box, class_index)
        if "click" in tools or "click_model" in tools:  # the first click's candidates
            start = time.perf_counter()
            found = model.predictor.predict([image])[0]
            frame_times.append(time.perf_counter() - start)

            def detections():
                return found
    tracer = EdgeTracer(image) if "scissors" in tools else None
    for shape in shapes:
        truth = truth_window(shape, height, width)
        if truth is None:
            continue
        for tool in tools:
            if tool == "polygon":
                effort = polygon_effort(shape, truth, height, width)
            elif tool == "grabcut":
                effort = grabcut_effort(image, truth)
            elif tool == "click_no_model":
                effort = click_effort(image, truth)
            elif tool == "scissors":
                effort = scissors_effort(image, shape, truth, tracer)
            elif tool in CLICK_MODEL_TOOLS:
                if click_model is None:
                    continue
                effort = click_effort(image, truth, segment_box, detections, click_model) \
                    if tool == "click_model" else click_effort(image, truth,
                                                               click_model=click_model)
            elif segment_box is None:
                continue
            elif tool == "box_mask":
                effort = box_mask_effort(image, truth, segment_box)
            else:
                effort = click_effort(image, truth, segment_box, detections)
            effort.extra.setdefault("area", truth.area)
            out[tool].append(effort)
    return out


def summarize(efforts: Sequence[Effort], tool: str) -> dict:
    if not efforts:
        return {"noc90": None, "never": None, "ms": None, "instances": 0}
    times = [t for e in efforts for t in e.times]
    out = {"noc90": _round(statistics.fmean(e.clicks for e in efforts), 2),
           "never": _round(sum(not e.reached for e in efforts) / len(efforts), 3),
           "ms": _ms(times) if tool != "polygon" else 0.0,
           "noc90_median": statistics.median(e.clicks for e in efforts),
           "instances": len(efforts), **noc_figures(efforts)}
    firsts = [e.first_iou for e in efforts if e.first_iou is not None]
    if firsts:
        out["first_iou"] = _round(statistics.fmean(firsts), 3)
    if tool in ("grabcut", "box_mask"):
        out["box_ms"] = _ms([e.times[0] for e in efforts])
        out["click_ms"] = _ms([t for e in efforts for t in e.times[1:]])
        out["note"] = "the box counts as 2 clicks; ms is the mean over box and clicks"
    elif tool == "polygon":
        out["vertices"] = _round(statistics.fmean(e.extra["vertices"] for e in efforts), 2)
        out["note"] = ("fewest vertices of a simplified label outline reaching IoU 0.9 (capped "
                       "at 20 for noc90; 'vertices' is uncapped); ms is 0: no computation")
    elif tool == "scissors":
        out["anchor_ms"] = _ms([t for e in efforts for t in e.extra["anchor_times"]])
        app = [e.extra["app_order_iou"] for e in efforts if "app_order_iou" in e.extra]
        if app:
            out["app_order_iou"] = _round(statistics.fmean(app), 3)
        solid = [e for e in efforts if not e.extra["holes"]]
        if solid and len(solid) < len(efforts):  # one outline: a hole is never traced
            out["noc90_without_holes"] = _round(statistics.fmean(e.clicks for e in solid), 2)
            out["never_without_holes"] = _round(
                sum(not e.reached for e in solid) / len(solid), 3)
        out["note"] = ("anchors evenly spaced on the label's largest outline, k = 3..20 (one "
                       "outline, as the tool makes it: holes are not traced; *_without_holes: "
                       "the labels with none); ms is one path_to (a mouse move) on a crop "
                       "around the object, anchor_ms one start() on the whole image as the app "
                       "does it; app_order_iou: the reaching outlines joined in path_to's own "
                       "point order, as the app joins them")
    elif tool.startswith("click"):
        out["note"] = "clicks only; ms is one ClickSession.click"
    return out


def _ms(seconds: Sequence[float]) -> float | None:
    return round(1000 * statistics.fmean(seconds), 1) if seconds else None


def _round(value, digits):
    return None if value is None else round(float(value), digits)


# --------------------------------------------------------------------------- large frames

def large_frame_latency(image: np.ndarray, shape: Shape, model: Model | None,
                        repeats: int = 5, click_model: Callable | None = None) -> dict:
    """A ~100 x 80 box (and scissors moves, and a first and a second click of the click
    model) on a LARGE_FRAME tiled from `image`, around the copy of `shape` nearest the
    frame's centre."""
    width, height = LARGE_FRAME
    h, w = image.shape[:2]
    frame = np.ascontiguousarray(np.tile(image, (math.ceil(height / h), math.ceil(width / w),
                                                 1))[:height, :width])
    cx, cy = shape.centroid.x, shape.centroid.y
    cx += w * ((width // 2) // w)
    cy += h * ((height // 2) // h)
    bw, bh = LARGE_BOX
    box = (cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2)
    out: dict = {"frame": [width, height], "box": [round(v, 1) for v in box]}
    if model is not None:
        model.segmenter.segment(frame, box)  # warm-up
        out["box_ms"] = _median_ms(lambda: model.segmenter.segment(frame, box), repeats)
        gray16 = (frame[:, :, 1].astype(np.uint16) * 257)  # a 16-bit camera frame
        out["box_ms_16bit_gray"] = _median_ms(lambda: model.segmenter.segment(gray16, box),
                                              repeats)
    if click_model is not None:
        first = [((cx, cy), True)]
        click_model(frame, first, None)  # warm-up
        out["click_model_first_ms"] = _median_ms(lambda: click_model(frame, first, None),
                                                 repeats)
        found = click_model(frame, first, None)
        second = [*first, ((cx + bw / 2, cy), False)]
        out["click_model_next_ms"] = _median_ms(lambda: click_model(frame, second, found),
                                                repeats)
    out["grabcut_ms"] = _median_ms(lambda: grabcut(frame, box), repeats)
    tracer = EdgeTracer(frame)
    anchor = (cx - bw / 2, cy)
    out["scissors_anchor_ms"] = _median_ms(lambda: tracer.start(anchor), repeats)
    moves = []
    for i in range(40):  # mouse positions from near to ~300 px away
        angle, radius = i * 2.4, 10 + 8 * i
        point = (anchor[0] + radius * math.cos(angle), anchor[1] + radius * math.sin(angle))
        start = time.perf_counter()
        tracer.path_to(point)
        moves.append(time.perf_counter() - start)
    out["scissors_move_ms"] = _ms(moves)
    out["scissors_move_ms_max"] = round(1000 * max(moves), 1)
    out["note"] = f"medians of {repeats} runs after a warm-up; moves: the mean of 40"
    return out


def _median_ms(call: Callable, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return round(1000 * statistics.median(times), 1)


# --------------------------------------------------------------------------- the benchmark

def measure_tools(project_dir: str | Path, split: str = "val", limit: int | None = None,
                  run: str | None = None, device: str = "cpu",
                  tools: Sequence[str] | None = None, large_frame: bool = True,
                  click_model_file: Path | None = None) -> dict:
    """The benchmark's JSON object for a project (opened read-only); `tools` default TOOLS
    (click_model only where the project has a click model, or `click_model_file` names one)."""
    from isegui.core.project import Project
    tools = TOOLS if tools is None else tuple(tools)
    project_dir = Path(project_dir)
    load_before = os.getloadavg()[0]
    model, where = (None, "no model tool asked for")
    if any(t in MODEL_TOOLS or t == "click_model" for t in tools):
        model, where = load_model(project_dir, run, device)
    click_model, click_where = load_click_model(project_dir, click_model_file, device) \
        if any(t in CLICK_MODEL_TOOLS for t in tools) else (None, "not asked for")
    with Project.open(project_dir, read_only=True) as project:
        name = project.name
        records = [r for r in project.store.images(Split(split))
                   if any(not i.crowd for i in project.store.instances(r.id))]
        if limit is not None:
            records = records[:limit]
        work = [(project.image_path(r.path),
                 [i.shape for i in project.store.instances(r.id) if not i.crowd])
                for r in records]
    if model is not None:  # the first call of a model is slow: not the annotator's wait
        first = prepare_image(load_image(work[0][0])) if work else None
        if first is not None:
            model.predictor.predict([first])
            model.segmenter.segment(first, (0, 0, min(64, first.shape[1]),
                                            min(64, first.shape[0])))
    efforts: dict[str, list[Effort]] = {tool: [] for tool in tools}
    frame_times: list[float] = []
    for path, shapes in work:
        image = prepare_image(load_image(path))
        for tool, found in measure_image(image, shapes, model, tools, frame_times,
                                         click_model).items():
            efforts[tool].extend(found)
    result: dict = {
        "benchmark": "labeling_effort", "project": name, "split": split,
        "run": model.run_id if model else None,
        "run_name": model.run_name if model else None,
        "checkpoint": where if model else None,
        "instances": max((len(v) for v in efforts.values()), default=0),
        "images": len(work), "max_clicks": MAX_CLICKS, "target_iou": TARGET_IOU,
        "device": str(model.predictor.device) if model else "cpu",
        "cpu": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
    }
    if model is not None:
        import torch
        result["torch_threads"] = torch.get_num_threads()
    if model is not None and frame_times:
        result["frame_ms"] = {"predict": _ms(frame_times), "images": len(frame_times),
                              "note": f"the click tool's detections (score >= "
                                      f"{DETECTION_THRESHOLD}), once per image"}
    result["tools"] = {tool: None if model is None and tool in MODEL_TOOLS else
                       summarize(efforts[tool], tool) for tool in tools}
    asked = [t for t in CLICK_MODEL_TOOLS if t in tools]
    if asked:
        result["click_model"] = click_where
        if click_model is None:
            result["tools"].update({t: None for t in asked})
    if model is None:
        result["skipped"] = {tool: where for tool in tools if tool in MODEL_TOOLS}
    if click_model is None and asked:
        result.setdefault("skipped", {}).update({t: click_where for t in asked})
    if large_frame and work:
        image = prepare_image(load_image(work[0][0]))
        large = large_frame_latency(image, work[0][1][0], model, click_model=click_model)
        result["large_frame"] = large
        result["box_ms_large"] = large.get("box_ms")
        result["scissors_ms"] = large["scissors_move_ms"]
        result["targets_ms"] = TARGETS_MS
    # other work on the machine slows every timing (torch's threads worst): say how busy
    result["load_average"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dir", type=Path, help="the project folder (opened read-only)")
    parser.add_argument("--run", help="run id or name (default: the active run, if any)")
    parser.add_argument("--split", default="val", choices=[s.value for s in Split])
    parser.add_argument("--limit", type=int, help="at most this many images")
    parser.add_argument("--out", type=Path, help="also write the JSON object to this file")
    parser.add_argument("--device", default="cpu", help="the model's device (default cpu)")
    parser.add_argument("--tools", help=f"comma-separated, of {','.join(TOOLS)} (default all)")
    parser.add_argument("--click-model", type=Path, help="a click model file (default: the "
                        "project's click_model.pt)")
    parser.add_argument("--no-large-frame", dest="large_frame", action="store_false",
                        help="skip the 2448 x 2048 latency measurements")
    args = parser.parse_args()
    tools = tuple(args.tools.split(",")) if args.tools else None
    unknown = set(tools or ()) - set(TOOLS)
    if unknown:
        parser.error(f"unknown tools: {', '.join(sorted(unknown))}")
    result = measure_tools(args.dir, args.split, args.limit, args.run, args.device, tools,
                           args.large_frame, args.click_model)
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
