"""COCO run-length encoding of masks (pycocotools' encoding), without full-image masks where a
window is enough."""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
from pycocotools import mask as coco_mask

from isegui.core.geometry import (MAX_VERTICES, Mask, Shape, bounds_window, rasterize,
                                  traced_vertices, vectorize)

RLE: TypeAlias = dict[str, Any]  # COCO's {"size": [height, width], "counts": runs or str}


def encode_window(window: np.ndarray, origin: tuple[int, int], height: int, width: int) -> RLE:
    """Compressed COCO RLE (counts as str) of an image-sized mask that is zero outside
    `window`, whose top-left pixel is `origin` = (x, y)."""
    x0, y0 = int(origin[0]), int(origin[1])
    win_h, win_w = window.shape
    # COCO runs go down columns; a full-height strip over the window's columns is enough
    strip = np.zeros((height, win_w), dtype=bool)
    strip[y0:y0 + win_h] = window
    flat = strip.ravel(order="F")
    if flat.size:
        change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
        runs = np.diff(np.concatenate(([0], change, [flat.size]))).tolist()
        if flat[0]:
            runs.insert(0, 0)
    else:
        runs = [0]
    runs[0] += x0 * height
    tail = (width - x0 - win_w) * height
    if len(runs) % 2 == 1:  # ends with background: extend it
        runs[-1] += tail
    elif tail:
        runs.append(tail)
    rle = coco_mask.frPyObjects({"counts": runs, "size": [height, width]}, height, width)
    return {"size": [height, width], "counts": rle["counts"].decode("ascii")}


def encode(mask: np.ndarray) -> RLE:
    """Compressed COCO RLE of a full-image boolean mask."""
    height, width = mask.shape
    return encode_window(mask, (0, 0), height, width)


def from_shape(shape: Shape, height: int, width: int) -> RLE:
    x0, y0, x1, y1 = bounds_window(shape, height, width)
    window = rasterize(shape, y1 - y0, x1 - x0, origin=(x0, y0))
    return encode_window(window, (x0, y0), height, width)


def normalize(rle: RLE) -> RLE:
    """A checked, pycocotools-ready compressed RLE from compressed or uncompressed input.

    Raises ValueError for a malformed one (pycocotools itself would read past its buffer)."""
    try:
        height, width = (int(v) for v in rle["size"])
        counts = rle["counts"]
    except (KeyError, TypeError, ValueError):
        raise ValueError("an RLE needs 'size': [height, width] and 'counts'") from None
    if height <= 0 or width <= 0:
        raise ValueError(f"an RLE of size {height}x{width} is empty")
    if isinstance(counts, list):
        runs = counts
    elif isinstance(counts, (str, bytes)):
        counts = counts.encode("ascii") if isinstance(counts, str) else counts
        runs = _unpack_counts(counts)
    else:
        raise ValueError("RLE 'counts' must be a list of run lengths or a compressed string")
    if any(not isinstance(r, int) or r < 0 for r in runs):
        raise ValueError("RLE run lengths must be whole numbers >= 0")
    if sum(runs) != height * width:
        raise ValueError(f"RLE runs cover {sum(runs)} pixels, the {height}x{width} size "
                         f"needs {height * width}")
    if isinstance(counts, list):
        compressed: RLE = coco_mask.frPyObjects({"counts": counts, "size": [height, width]},
                                                height, width)
        return compressed
    return {"size": [height, width], "counts": counts}


def _unpack_counts(packed: bytes) -> list[int]:
    """Run lengths of pycocotools' compressed counts (5-bit groups, deltas from two back)."""
    runs: list[int] = []
    pos = 0
    while pos < len(packed):
        value, shift, more = 0, 0, True
        while more:
            if pos >= len(packed):
                raise ValueError("compressed RLE counts end in the middle of a number")
            c = packed[pos] - 48
            if not 0 <= c < 64:
                raise ValueError("compressed RLE counts hold a character outside its alphabet")
            value |= (c & 0x1F) << shift
            more = bool(c & 0x20)
            pos += 1
            shift += 5
            if not more and c & 0x10:
                value |= -1 << shift
        if len(runs) > 2:
            value += runs[-2]
        runs.append(value)
    return runs


def decode(rle: RLE) -> Mask:
    mask: npt.NDArray[np.uint8] = coco_mask.decode(normalize(rle))
    return mask.astype(bool)


def to_shape(rle: RLE) -> Shape:
    """The exact shape of an RLE mask (pixel-edge polygons, holes kept); ValueError when it
    would trace to more than MAX_VERTICES."""
    compact = normalize(rle)
    x, y, w, h = (int(round(v)) for v in coco_mask.toBbox(compact))
    if w == 0 or h == 0:
        return vectorize(np.zeros((0, 0), dtype=bool))
    window = coco_mask.decode(compact)[y:y + h, x:x + w].astype(bool)
    vertices = traced_vertices(window)
    if vertices > MAX_VERTICES:  # before tracing: a 1 MB checkerboard took 25 s and 800 MB
        raise ValueError(f"its RLE mask traces to {vertices:,} vertices (at most "
                         f"{MAX_VERTICES:,})")
    return vectorize(window, origin=(x, y))


def area(rle: RLE) -> int:
    return int(coco_mask.area(normalize(rle)))


def bbox(rle: RLE) -> list[float]:
    return [float(v) for v in coco_mask.toBbox(normalize(rle))]
