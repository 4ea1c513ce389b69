"""The working scale a run needs: how wide the labeled objects are, and how far images can be
shrunk before the smallest of them become too narrow to learn. No torch.

An object's width is the shorter side of its minimum rotated rectangle, in native (camera)
pixels: a 3-px scratch is 3 px wide however long it is. A model finds objects that stay at
least MIN_OBJECT_PX wide at the scale it sees them.

The rule (`required_scale`): the scale factor k applied to native pixels must keep the narrow
objects (the LOW_PERCENTILE-th percentile of the widths, so one stray slip does not decide)
at least MIN_OBJECT_PX wide: k >= MIN_OBJECT_PX / width. A run on whole images resized to a
long side S works at k = S / long side (`advise_size`); when k must exceed 1 the images hold
too few pixels and resizing the whole image cannot help: full resolution, or tiles of the
frame at scale k (the large-frame path chooses its tiles by this same rule).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from isegui.core.entities import ImageRecord, ImageStatus, Instance, Split

MIN_OBJECT_PX = 10.0  # narrower than this at the working scale, objects are hard to find
LOW_PERCENTILE = 5  # the "smallest objects": this percentile of the widths
SIZE_STEP = 32  # input sizes are multiples of this (the models' coarsest stride)
# blobs of one class closer than this (model px) are joined into one region (ml.infer.blobs):
# a scratch that fades in its middle stays one
BLOB_JOIN_PX = 2
BLOB_AREA_SPAN = 4.0  # how far beyond its labeled areas a blob may go and still count
WHOLE, TILES = "whole", "tiles"  # the two modes of a working scale
# how a blob class's regions are told apart (ml.infer.separate): crossing lines at their
# crossings, touching spots at their necks, regions not at all
LINE, SPOT, REGION = "line", "spot", "region"
LINE_ELONGATION = 4.0  # a class whose objects are mostly this many times longer than wide
SPOT_ELONGATION = 2.0  # ... or at most this: compact
SOLID_SPOT = 0.85  # ... and this solid (area over its convex hull's): a ring is no spot
# touching spots wider than this (model px) stay with the detector, whose boxes tell heaped
# parts apart; touching pits are narrower
DETECTOR_WIDTH_PX = 32.0
BLOB_THRESHOLD = 0.5  # a blob pixel's probability threshold before calibration


@dataclass(frozen=True)
class ShapeKind:
    """How a blob class's regions are separated: `kind` LINE, SPOT or REGION, and its
    objects' typical size in model px (a line's width, a spot's diameter); for a line also
    how long the short ones are (`length`: the LOW_PERCENTILE-th percentile of its labels'
    lengths), since a bit of texture a few px long is no scratch."""
    kind: str = REGION
    size: float = 0.0
    length: float = 0.0


@dataclass(frozen=True)
class WorkingScale:
    """How a run sees its images: `mode` WHOLE (long side resized to `size`) or TILES
    (`size` x `size` tiles at `scale` of the frame), and why it was chosen."""
    mode: str = WHOLE
    size: int = 512
    scale: float = 1.0  # tiles only: model pixels per frame pixel
    reason: str = ""
    # tiles only: classes found pixel by pixel (ml.infer.blobs)
    blob_classes: tuple[str, ...] = ()
    # per blob class, the (least, most) area in model px² of a blob that counts as an object
    blob_areas: tuple[tuple[float, float], ...] = ()
    # per blob class, how its touching objects are told apart (none: connected regions)
    blob_shapes: tuple[ShapeKind, ...] = ()
    # per blob class, the probability above which a pixel is the class's, calibrated on the
    # run's validation frames (ml.train.calibrate; none: BLOB_THRESHOLD)
    blob_thresholds: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in (WHOLE, TILES):
            raise ValueError(f"working scale: unknown mode {self.mode!r}")
        if self.mode == TILES and not (0.05 <= self.scale <= 4.0):
            raise ValueError(f"--scale must be between 0.05 and 4, got {self.scale}")
        if self.blob_classes and self.mode != TILES:
            raise ValueError("blob classes are found on tiles only")

    @property
    def tiled(self) -> bool:
        return self.mode == TILES

    @property
    def window(self) -> int:
        """The side of a tile in frame pixels."""
        return max(1, round(self.size / self.scale)) if self.tiled else self.size

    def describe(self) -> str:
        if self.tiled:
            return f"tiles of {self.size} px at scale {self.scale:g} " \
                   f"({self.window} x {self.window} frame px each)"
        return f"whole images at {self.size} px"

    def blob_labels(self, classes: Sequence[str]) -> list[int]:
        """The 1-based indices, in `classes`, of the blob classes."""
        return [list(classes).index(name) + 1 for name in self.blob_classes if name in classes]

    def line_labels(self, classes: Sequence[str]) -> list[int]:
        """The 1-based indices, in `classes`, of the blob classes whose shape kind is LINE."""
        labels = self.blob_labels(classes)
        return [label for label, kind in zip(labels, self.blob_kinds(classes))
                if kind.kind == LINE]

    def blob_kinds(self, classes: Sequence[str]) -> list[ShapeKind]:
        """The shape kinds of the blob classes in `classes`, in `blob_labels`' order; runs
        from before shape kinds separate by connected regions."""
        kinds = dict(zip(self.blob_classes, self.blob_shapes))
        return [kinds.get(name, ShapeKind()) for name in self.blob_classes if name in classes]

    def blob_cutoffs(self, classes: Sequence[str]) -> list[float]:
        """The pixel probability thresholds of the blob classes in `classes`, in
        `blob_labels`' order (BLOB_THRESHOLD where none was calibrated)."""
        cutoffs = dict(zip(self.blob_classes, self.blob_thresholds))
        return [cutoffs.get(name, BLOB_THRESHOLD) for name in self.blob_classes
                if name in classes]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "blob_classes": list(self.blob_classes),
                "blob_areas": [list(pair) for pair in self.blob_areas],
                "blob_shapes": [[k.kind, k.size, k.length] for k in self.blob_shapes],
                "blob_thresholds": list(self.blob_thresholds)}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, size: int = 512) -> WorkingScale:
        """A stored working scale; runs from before tiles have none: the whole image."""
        if not data:
            return cls(WHOLE, int(size))
        return cls(str(data.get("mode", WHOLE)), int(data.get("size", size)),
                   float(data.get("scale", 1.0)), str(data.get("reason", "")),
                   tuple(str(c) for c in data.get("blob_classes") or ()),
                   tuple((float(lo), float(hi)) for lo, hi in data.get("blob_areas") or ()),
                   tuple(ShapeKind(str(kind), *(float(v) for v in values))
                         for kind, *values in data.get("blob_shapes") or ()),
                   tuple(float(v) for v in data.get("blob_thresholds") or ()))


@dataclass(frozen=True)
class ObjectSizes:
    """Per labeled instance: its width in native pixels and the long side of its image."""
    widths: npt.NDArray[np.float64]  # native px
    long_sides: npt.NDArray[np.float64]  # native px, of each instance's image
    images: int = 0  # images measured (those with objects)

    def __len__(self) -> int:
        return len(self.widths)

    @property
    def relative(self) -> npt.NDArray[np.float64]:
        """Width as a share of the image's long side: the width at input size S is S times
        this (images are resized so their long side is S)."""
        return self.widths / self.long_sides

    def smallest(self, values: np.ndarray | None = None) -> float:
        values = self.widths if values is None else values
        return float(np.percentile(values, LOW_PERCENTILE)) if len(values) else math.nan


@dataclass(frozen=True)
class SizeAdvice:
    """What input size S does to the narrow objects, and the size that keeps them."""
    size: int
    objects: int  # instances measured
    smallest_px: float  # the LOW_PERCENTILE-th percentile width at S
    minimum_px: float  # the narrowest one at S
    native_smallest_px: float  # the same percentile in native pixels
    needed_size: float  # the input size at which they are MIN_OBJECT_PX wide (inf: never)
    largest_long_side: int  # of the images measured

    @property
    def keeping_size(self) -> int | None:
        """The smallest multiple of SIZE_STEP that keeps them >= MIN_OBJECT_PX wide."""
        if not math.isfinite(self.needed_size):
            return None
        return int(math.ceil(self.needed_size / SIZE_STEP - 1e-9) * SIZE_STEP)

    @property
    def too_small(self) -> bool:
        return self.smallest_px < MIN_OBJECT_PX

    @property
    def native_too_small(self) -> bool:
        """Narrower than MIN_OBJECT_PX even in the camera's pixels."""
        return self.native_smallest_px < MIN_OBJECT_PX

    @property
    def needs_full_resolution(self) -> bool:
        """No whole-image size keeps them: the size needed exceeds the images themselves, so
        resizing only interpolates. Full resolution, or tiles at the required scale."""
        return self.needed_size > self.largest_long_side


def object_width(shape: BaseGeometry) -> float:
    """The shorter side of the shape's minimum rotated rectangle (0 for a line or a point)."""
    rect = shapely.minimum_rotated_rectangle(shape)
    if not isinstance(rect, Polygon) or rect.is_empty:
        return 0.0
    (x0, y0), (x1, y1), (x2, y2) = list(rect.exterior.coords)[:3]
    return float(min(math.hypot(x1 - x0, y1 - y0), math.hypot(x2 - x1, y2 - y1)))


def measure_objects(items: Iterable[tuple[ImageRecord, list[Instance]]],
                    splits: tuple[Split, ...] = (Split.TRAIN, Split.VAL)) -> ObjectSizes:
    """The widths of the objects training would see: labeled (or reviewed) images of
    `splits`, instances that are objects (not regions to ignore)."""
    return object_sizes((max(record.width, record.height),
                         [i.shape for i in instances if not i.crowd])
                        for record, instances in items
                        if record.status != ImageStatus.UNLABELED and record.split in splits)


def object_sizes(images: Iterable[tuple[int, Iterable[BaseGeometry]]]) -> ObjectSizes:
    """The widths of the shapes with an area, per image given as (long side, shapes)."""
    widths, long_sides, count = [], [], 0
    for long_side, shapes in images:
        found = [object_width(s) for s in shapes if not s.is_empty and s.area > 0]
        if found:
            count += 1
            widths += found
            long_sides += [long_side] * len(found)
    return ObjectSizes(np.asarray(widths, float), np.asarray(long_sides, float), count)


def required_scale(widths: np.ndarray) -> float:
    """The scale factor on native pixels that keeps the narrow objects (the LOW_PERCENTILE-th
    percentile) MIN_OBJECT_PX wide; above 1 the images hold too few pixels for them."""
    narrow = float(np.percentile(widths, LOW_PERCENTILE))
    return math.inf if narrow <= 0 else MIN_OBJECT_PX / narrow


def advise_size(sizes: ObjectSizes, size: int) -> SizeAdvice | None:
    """What resizing each image's long side to `size` does to the narrow objects; None when
    there are none to measure."""
    if not len(sizes):
        return None
    relative = sizes.relative
    low = sizes.smallest(relative)
    return SizeAdvice(size=size, objects=len(sizes), smallest_px=size * low,
                      minimum_px=size * float(relative.min()),
                      native_smallest_px=sizes.smallest(),
                      needed_size=MIN_OBJECT_PX / low if low > 0 else math.inf,
                      largest_long_side=int(sizes.long_sides.max()))


SCALE_STEP = 8  # tile scales are multiples of 1/8: 0.125 ... 1.0


@dataclass(frozen=True)
class LabeledShapes:
    """A run's classes and, per image, its instances' labels (1-based) and shapes."""
    classes: Sequence[str]
    images: Sequence[tuple[Sequence[int], Sequence[BaseGeometry]]]


def choose_working_scale(sizes: ObjectSizes, size: int, tile: int | None = None,
                         scale: float | None = None,
                         labeled: LabeledShapes | None = None) -> WorkingScale:
    """The working scale of a run over images whose objects measure `sizes`, at input size
    `size`: the whole image while resizing it to `size` keeps the narrow objects
    MIN_OBJECT_PX wide, else tiles of `size` at the smallest scale (a multiple of 1/8, at most
    1: the camera's pixels) that keeps them. `tile` (0: the whole image) and `scale` are the
    user's choice, which wins; the reason says what was measured either way. On tiles, the
    classes of `labeled` are found pixel by pixel (blob classes, with the shape kind that
    tells their touching objects apart) but for large compact ones that touch
    (`pixel_classes`)."""
    working = _choose(sizes, size, tile, scale)
    if not working.tiled or labeled is None:
        return working
    kinds = pixel_classes(labeled, working.scale)
    if not kinds:
        return working
    blobs = list(kinds)
    said = "; ".join(f"{', '.join(n for n in blobs if kinds[n].kind == kind)} as {kind}s"
                     for kind in (LINE, SPOT, REGION)
                     if any(k.kind == kind for k in kinds.values()))
    return replace(working, blob_classes=tuple(blobs),
                   blob_areas=blob_area_limits(labeled, blobs, working.scale),
                   blob_shapes=tuple(kinds[n] for n in blobs),
                   reason=f"{working.reason}; found pixel by pixel: {said}")


def pixel_classes(labeled: LabeledShapes, scale: float) -> dict[str, ShapeKind]:
    """The classes of `labeled` a pixel model finds on tiles at `scale`, each with the kind
    of shape its labels mostly have: LINE (median length at least LINE_ELONGATION widths),
    SPOT (compact: at most SPOT_ELONGATION, solid) or REGION. A pixel map tells touching
    lines and touching spots apart (ml.infer.separate), not touching regions: classes whose
    objects touch one another are left to the detector, whose boxes tell them apart (parts
    in a heap), when they are regions (a washer's ring is one) or spots wider than
    DETECTOR_WIDTH_PX at the scale. Classes never labeled are left out."""
    shapes: dict[int, list[BaseGeometry]] = {}
    for labels, found in labeled.images:
        for label, shape in zip(labels, found):
            if not shape.is_empty and shape.area > 0:
                shapes.setdefault(int(label), []).append(shape)
    touching = set(touching_classes(labeled.images, (2 * BLOB_JOIN_PX + 1) / scale))
    kinds: dict[str, ShapeKind] = {}
    for label, name in enumerate(labeled.classes, start=1):
        if label not in shapes:
            continue
        kind = _shape_kind(shapes[label], scale)
        if label in touching and (kind.kind == REGION or
                                  (kind.kind == SPOT and kind.size > DETECTOR_WIDTH_PX)):
            continue  # the detector's
        kinds[name] = kind
    return kinds


def _shape_kind(shapes: Sequence[BaseGeometry], scale: float) -> ShapeKind:
    """What a class's labels mostly are, with their typical size in model px: a line's width,
    a spot's diameter, a region's width."""
    widths = np.array([object_width(s) for s in shapes]) * scale
    lengths = np.array([_object_length(s) for s in shapes]) * scale
    elongation = float(np.median(lengths / np.maximum(widths, 1e-6)))
    width = float(np.median(widths))
    if elongation >= LINE_ELONGATION:
        # a bowed line's rotated rectangle is wider than the line: its area over half its
        # outline is the width along it
        along = [2 * s.area / max(s.length, 1e-9) * scale for s in shapes]
        return ShapeKind(LINE, round(float(np.median(along)), 2),
                         round(float(np.percentile(lengths, LOW_PERCENTILE)), 2))
    solidity = float(np.median([s.area / max(s.convex_hull.area, 1e-9) for s in shapes]))
    if elongation <= SPOT_ELONGATION and solidity >= SOLID_SPOT:
        diameters = [2 * math.sqrt(s.area / math.pi) * scale for s in shapes]
        return ShapeKind(SPOT, round(float(np.median(diameters)), 2))
    return ShapeKind(REGION, round(width, 2))


def blob_area_limits(labeled: LabeledShapes, blobs: Sequence[str],
                     scale: float) -> tuple[tuple[float, float], ...]:
    """Per blob class, the (least, most) area in model px² a blob may have to count as one
    of its objects: BLOB_AREA_SPAN times smaller than the smallest labeled one, or larger
    than the largest (blob analysis's area filter, set from the labels): a speck of texture
    is not a pit, a tint over half the frame is not a stain."""
    areas: dict[int, list[float]] = {}
    for labels, shapes in labeled.images:
        for label, shape in zip(labels, shapes):
            areas.setdefault(int(label), []).append(float(shape.area) * scale * scale)
    limits = []
    for name in blobs:
        found = areas.get(list(labeled.classes).index(name) + 1) or [0.0]
        limits.append((min(found) / BLOB_AREA_SPAN, max(found) * BLOB_AREA_SPAN))
    return tuple(limits)


def _choose(sizes: ObjectSizes, size: int, tile: int | None,
            scale: float | None) -> WorkingScale:
    advice = advise_size(sizes, size) if len(sizes) else None
    if tile == 0:
        return WorkingScale(WHOLE, size, reason="whole images, as asked (--tile 0)")
    if tile or scale:
        tile = int(tile or size)
        chosen = float(scale) if scale else _tile_scale(sizes) if advice else 1.0
        return WorkingScale(TILES, tile, chosen, reason=f"tiles of {tile} px at scale "
                            f"{chosen:g}, as asked" + _width_note(sizes, chosen))
    if advice is None:
        return WorkingScale(WHOLE, size, reason="no labeled objects to measure: whole images")
    if not advice.too_small:
        return WorkingScale(WHOLE, size, reason=(
            f"at {size} px the narrow objects stay {advice.smallest_px:.0f} px wide "
            f"(>= {MIN_OBJECT_PX:g}): whole images"))
    chosen = _tile_scale(sizes)
    if sizes.long_sides.max() * chosen <= size:  # each image is at most one tile: no tiles
        return WorkingScale(WHOLE, size, reason=(
            f"the narrow objects are {advice.smallest_px:.1f} px wide at {size} px, but the "
            f"images are no larger than one input at the scale they need: whole images"))
    return WorkingScale(TILES, size, chosen, reason=(
        f"whole images at {size} px would shrink the narrow objects to "
        f"{advice.smallest_px:.1f} px: tiles of {size} px at scale {chosen:g}"
        + _width_note(sizes, chosen)))


def touching_classes(images: Iterable[tuple[Sequence[int], Sequence[BaseGeometry]]],
                     gap: float) -> list[int]:
    """The labels (1-based) of the classes some of whose objects, in some image of `images`
    ((labels, shapes) each), come within `gap` px of another object of their class."""
    touching: set[int] = set()
    for labels, shapes in images:
        by_class: dict[int, list[BaseGeometry]] = {}
        for label, shape in zip(labels, shapes):
            by_class.setdefault(int(label), []).append(shape)
        for label, group in by_class.items():
            if label in touching or len(group) < 2:
                continue
            tree = shapely.STRtree(group)
            pairs = tree.query(group, predicate="dwithin", distance=gap)
            if np.any(pairs[0] != pairs[1]):
                touching.add(label)
    return sorted(touching)


def _object_length(shape: BaseGeometry) -> float:
    """The longer side of the shape's minimum rotated rectangle."""
    rect = shapely.minimum_rotated_rectangle(shape)
    if not isinstance(rect, Polygon) or rect.is_empty:
        return float(shape.length) / 2
    (x0, y0), (x1, y1), (x2, y2) = list(rect.exterior.coords)[:3]
    return float(max(math.hypot(x1 - x0, y1 - y0), math.hypot(x2 - x1, y2 - y1)))


def _tile_scale(sizes: ObjectSizes) -> float:
    needed = required_scale(sizes.widths)
    if not math.isfinite(needed) or needed >= 1:
        return 1.0
    return max(1, math.ceil(needed * SCALE_STEP - 1e-9)) / SCALE_STEP


def _width_note(sizes: ObjectSizes, scale: float) -> str:
    if not len(sizes):
        return ""
    narrow = sizes.smallest()
    note = f" (the narrow objects {narrow * scale:.1f} px wide"
    if narrow * scale < MIN_OBJECT_PX and scale >= 1:
        note += "; as wide as the camera saw them"
    return note + ")"
