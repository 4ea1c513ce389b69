import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageOps

from isegui.core.errors import ImageReadError
from isegui.core.images import apply_orientation, load_image, probe, to_uint8


def _exif_jpeg(path, pixels, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(pixels).save(path, quality=98, exif=exif.tobytes())


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_gives_the_displayed_frame(tmp_path, orientation):
    pixels = np.zeros((40, 60, 3), dtype=np.uint8)
    pixels[:10, :20] = (255, 0, 0)  # a red mark in the stored top-left corner
    path = tmp_path / f"o{orientation}.jpg"
    _exif_jpeg(path, pixels, orientation)
    info = probe(path)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
    assert (info.height, info.width) == expected.shape[:2]
    loaded = load_image(path)
    assert loaded.shape == expected.shape
    assert np.abs(loaded.astype(int) - expected.astype(int)).max() <= 2


def test_apply_orientation_round_trip_shapes():
    a = np.arange(6).reshape(2, 3)
    assert apply_orientation(a, 6).tolist() == [[3, 0], [4, 1], [5, 2]]  # 90° clockwise
    assert apply_orientation(a, 8).tolist() == [[2, 5], [1, 4], [0, 3]]  # 90° counter-clockwise


def test_16_bit_tiff_gray_and_rgb_keep_their_depth(tmp_path):
    import cv2
    gray = (np.arange(50 * 70).reshape(50, 70) * 13 % 65536).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "g.tif"), gray)
    rgb = np.dstack([gray, gray // 2, gray // 3]).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "c.tif"), rgb[:, :, ::-1])  # cv2 writes BGR
    assert (load_image(tmp_path / "g.tif") == gray).all()
    loaded = load_image(tmp_path / "c.tif")
    assert loaded.dtype == np.uint16 and (loaded == rgb).all()
    assert probe(tmp_path / "c.tif").width == 70
    assert to_uint8(loaded).dtype == np.uint8


def test_grayscale_and_alpha_png(tmp_path):
    Image.fromarray(np.full((5, 6), 7, np.uint8)).save(tmp_path / "g.png")
    Image.fromarray(np.full((5, 6, 4), 9, np.uint8)).save(tmp_path / "a.png")
    assert load_image(tmp_path / "g.png").shape == (5, 6)
    assert load_image(tmp_path / "a.png").shape == (5, 6, 3)


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_truncated_images_name_the_file(tmp_path, suffix):
    good = tmp_path / f"good{suffix}"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 300, 3), np.uint8)).save(good)
    bad = tmp_path / f"cut{suffix}"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ImageReadError, match=f"cut{suffix}.*(corrupt or truncated)"):
        load_image(bad)


def test_not_an_image_and_missing(tmp_path):
    (tmp_path / "notes.png").write_text("hello")
    with pytest.raises(ImageReadError, match="notes.png: not an image"):
        probe(tmp_path / "notes.png")
    with pytest.raises(ImageReadError, match="file not found"):
        load_image(tmp_path / "missing.png")


def test_huge_image_is_refused_from_its_header(tmp_path):
    # a PNG header that claims 40000 x 40000 pixels: refused before anything is decoded
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", 40000, 40000, 8, 0, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) \
        + chunk(b"IEND", b"")
    (tmp_path / "huge.png").write_bytes(data)
    with pytest.raises(ImageReadError, match="huge.png: image too large: 40000x40000"):
        load_image(tmp_path / "huge.png")


def test_probe_from_bytes():
    buf = io.BytesIO()
    Image.fromarray(np.zeros((3, 4), np.uint8)).save(buf, format="PNG")
    assert probe("embedded.png", data=buf.getvalue()).width == 4
