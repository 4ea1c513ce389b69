"""The picture isegui reads is the one Pillow's `ImageOps.exif_transpose` gives, for every EXIF
orientation, in JPEG and TIFF (8- and 16-bit): OpenCV and Pillow orient TIFFs themselves, so
isegui must not turn them once more. A valid TIFF OpenCV cannot read (tiled) is read by Pillow,
and OpenCV's own log lines never reach the terminal."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from PIL import Image, ImageOps

from isegui.core.errors import ImageReadError
from isegui.core.images import apply_orientation, load_image, probe, verify_image

RNG = np.random.default_rng(26)


def _save_oriented(path, pixels, orientation, **options):
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(pixels).save(path, exif=exif, **options)


def _pillows_picture(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(ImageOps.exif_transpose(image))


def _blocky_rgb(height, width) -> np.ndarray:
    """Flat 8x8 blocks: a JPEG keeps them, so two decoders differ by rounding only."""
    blocks = RNG.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8)
    return np.repeat(np.repeat(blocks, 8, axis=0), 8, axis=1)


# (name, pixels, save options): the TIFF kinds Pillow itself orients right (see below for the
# one it does not)
KINDS = [
    ("jpeg-rgb8", _blocky_rgb(48, 80), {"format": "JPEG", "quality": 100}),
    ("tiff-rgb8", RNG.integers(0, 256, (6, 10, 3), dtype=np.uint8), {"format": "TIFF"}),
    ("tiff-gray8-lzw", RNG.integers(0, 256, (6, 10), dtype=np.uint8),
     {"format": "TIFF", "compression": "tiff_lzw"}),
    ("tiff-gray16-lzw", RNG.integers(0, 65536, (6, 10), dtype=np.uint16),
     {"format": "TIFF", "compression": "tiff_lzw"}),
    ("tiff-gray16-deflate", RNG.integers(0, 65536, (6, 10), dtype=np.uint16),
     {"format": "TIFF", "compression": "tiff_adobe_deflate"}),
]


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("name, pixels, options", KINDS, ids=[k[0] for k in KINDS])
def test_the_picture_is_pillows_transposed_picture(tmp_path, name, pixels, options,
                                                   orientation):
    path = tmp_path / f"{name}-{orientation}.{'jpg' if name.startswith('jpeg') else 'tif'}"
    _save_oriented(path, pixels, orientation, **options)
    want = _pillows_picture(path)
    got = load_image(path)
    assert got.shape == want.shape and got.dtype == want.dtype
    if name.startswith("jpeg"):
        assert np.abs(got.astype(int) - want.astype(int)).max() <= 2
    else:
        assert np.array_equal(got, want)
    info = probe(path)
    assert (info.height, info.width) == want.shape[:2]
    assert verify_image(path) == info


def test_an_orientation_6_tiff_is_turned_once(tmp_path):
    pixels = RNG.integers(0, 256, (30, 50, 3), dtype=np.uint8)
    path = tmp_path / "turned.tif"
    _save_oriented(path, pixels, 6)
    got = load_image(path)
    assert np.array_equal(got, _pillows_picture(path))
    assert np.array_equal(got, np.rot90(pixels, -1))  # 90° clockwise, as EXIF says
    assert (probe(path).width, probe(path).height) == (30, 50)


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_uncompressed_gray_tiff_follows_the_tag(tmp_path, dtype, orientation):
    """Pillow 13 scrambles this kind for orientations 5-8 (it decodes the stored rows into the
    turned size), so here the stored pixels, turned as the tag says, are the reference."""
    pixels = RNG.integers(0, np.iinfo(dtype).max, (6, 10), dtype=dtype)
    path = tmp_path / f"gray-{orientation}.tif"
    _save_oriented(path, pixels, orientation)
    want = apply_orientation(pixels, orientation)
    assert np.array_equal(load_image(path), want)
    assert (probe(path).height, probe(path).width) == want.shape


def _tiled_tiff(pixels: np.ndarray, tile: int = 16) -> bytes:
    """A valid little-endian, uncompressed, tiled TIFF (Pillow writes strips only)."""
    height, width = pixels.shape[:2]
    samples = 1 if pixels.ndim == 2 else pixels.shape[2]
    tiles = []
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            block = np.zeros((tile, tile) + pixels.shape[2:], np.uint8)
            part = pixels[top:top + tile, left:left + tile]
            block[:part.shape[0], :part.shape[1]] = part
            tiles.append(block.tobytes())
    data = b"".join(tiles)
    ifd_at = 8 + len(data)
    entries = 11
    arrays_at = ifd_at + 2 + entries * 12 + 4
    offsets = struct.pack(f"<{len(tiles)}I", *(8 + i * len(tiles[0]) for i in range(len(tiles))))
    counts = struct.pack(f"<{len(tiles)}I", *(len(t) for t in tiles))
    bits = struct.pack(f"<{samples}H", *[8] * samples)
    bits_at = arrays_at + len(offsets) + len(counts)

    def short(tag, value):
        return struct.pack("<HHIHH", tag, 3, 1, value, 0)

    fields = [
        struct.pack("<HHII", 256, 4, 1, width), struct.pack("<HHII", 257, 4, 1, height),
        struct.pack("<HHII", 258, 3, samples, bits_at) if samples > 2
        else struct.pack("<HHI", 258, 3, samples) + bits.ljust(4, b"\0"),
        short(259, 1), short(262, 1 if samples == 1 else 2), short(277, samples),
        short(284, 1), short(322, tile), short(323, tile),
        struct.pack("<HHII", 324, 4, len(tiles), arrays_at),
        struct.pack("<HHII", 325, 4, len(tiles), arrays_at + len(offsets)),
    ]
    assert len(fields) == entries
    ifd = struct.pack("<H", entries) + b"".join(fields) + struct.pack("<I", 0)
    return b"II*\0" + struct.pack("<I", ifd_at) + data + ifd + offsets + counts + bits


@pytest.mark.parametrize("shape", [(20, 37), (20, 37, 3)], ids=["gray", "rgb"])
def test_a_tiled_tiff_opencv_cannot_read_is_read_by_pillow(tmp_path, capfd, shape):
    pixels = RNG.integers(0, 256, shape, dtype=np.uint8)
    path = tmp_path / "tiled.tif"
    path.write_bytes(_tiled_tiff(pixels))
    with Image.open(path) as image:  # the file is valid: Pillow reads it as written
        assert np.array_equal(np.asarray(image), pixels)
    assert np.array_equal(load_image(path), pixels)
    assert verify_image(path).width == 37
    err = capfd.readouterr().err
    assert "[ERROR" not in err and "WARN" not in err, err  # OpenCV's own lines stay quiet



def test_opencvs_own_lines_stay_off_the_terminal(tmp_path, capfd):
    """A TIFF whose LZW data is damaged: OpenCV's decoder complains in lines of its own."""
    path = tmp_path / "damaged.tif"
    Image.fromarray(RNG.integers(0, 256, (40, 40), dtype=np.uint8)).save(
        path, compression="tiff_lzw")
    data = bytearray(path.read_bytes())
    data[18:400] = b"\xff" * 382  # the strip starts at byte 8
    path.write_bytes(bytes(data))
    try:
        load_image(path)
    except ImageReadError as exc:
        assert "damaged.tif" in str(exc)
    err = capfd.readouterr().err
    assert "[ERROR" not in err and "WARN" not in err, err
