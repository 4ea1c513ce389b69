"""A plain TIFF written tag by tag (uncompressed strips), for layouts Pillow and OpenCV do not
write: colour planes stored apart, an alpha marked unassociated, a grey whose 0 is white."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

SHORT, LONG = 3, 4


def write_tiff(path: Path, pixels: np.ndarray, *, photometric: int | None = None,
               planar: bool = False, extra_samples: tuple[int, ...] = ()) -> None:
    pixels = pixels if pixels.ndim == 3 else pixels[:, :, None]
    height, width, samples = pixels.shape
    little = pixels.astype(pixels.dtype.newbyteorder("<"))
    strips = ([little[:, :, k].tobytes() for k in range(samples)] if planar
              else [little.tobytes()])
    out = bytearray(b"II*\0\0\0\0\0")
    offsets = []
    for strip in strips:
        offsets.append(len(out))
        out += strip
    bits = pixels.dtype.itemsize * 8
    tags = {256: (LONG, [width]), 257: (LONG, [height]), 258: (SHORT, [bits] * samples),
            259: (SHORT, [1]), 262: (SHORT, [photometric if photometric is not None
                                             else (2 if samples >= 3 else 1)]),
            273: (LONG, offsets), 277: (SHORT, [samples]), 278: (LONG, [height]),
            279: (LONG, [len(s) for s in strips]), 284: (SHORT, [2 if planar else 1])}
    if extra_samples:
        tags[338] = (SHORT, list(extra_samples))
    entries = []
    for tag in sorted(tags):
        kind, values = tags[tag]
        raw = b"".join(struct.pack("<H" if kind == SHORT else "<I", v) for v in values)
        if len(raw) > 4:  # stored apart, the entry points at it
            if len(out) % 2:
                out += b"\0"
            where = len(out)
            out += raw
            raw = struct.pack("<I", where)
        entries.append(struct.pack("<HHI", tag, kind, len(values)) + raw.ljust(4, b"\0"))
    if len(out) % 2:
        out += b"\0"
    struct.pack_into("<I", out, 4, len(out))
    out += struct.pack("<H", len(entries)) + b"".join(entries) + b"\0\0\0\0"
    Path(path).write_bytes(bytes(out))
