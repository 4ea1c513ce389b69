"""Image files made to hurt the reader (issue 26, the attacker's second try): PostScript named
like an image (Pillow would hand it to Ghostscript), a FIFO or a device where an image was, a cut
PNG (libpng's own error on stderr) and a float TIFF of NaN (numpy's warnings). Each is refused in
one line naming the file, at once, with nothing else on stderr."""

import io
import os
import re
import struct
import threading
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from isegui.core.errors import ImageReadError
from isegui.core.images import load_image, probe, save_image, to_uint8, verify_image

WAIT = 10  # seconds; the fixed code answers at once
READERS = (probe, load_image, verify_image)
EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n0 0 moveto 10 10 lineto stroke\n"


def _refusal(read, path) -> str:
    """The one-line message read(path) refuses `path` with, within WAIT seconds."""
    outcome: list = []

    def run():
        try:
            read(path)
            outcome.append("accepted")
        except ImageReadError as exc:
            outcome.append(str(exc))
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(WAIT)
    assert not thread.is_alive(), f"{read.__name__} still waits on {path} after {WAIT} s"
    assert outcome != ["accepted"], f"{read.__name__} took {path} for an image"
    assert "\n" not in outcome[0]
    return outcome[0]


def _release(fifo: Path) -> None:
    """Let a reader stuck on `fifo` (the old code) go: it reads an empty file."""
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        pass


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


# --------------------------------------------------------------------------- not raster


@pytest.mark.parametrize("read", READERS)
def test_postscript_named_like_an_image_is_refused_not_rendered(tmp_path, read):
    path = tmp_path / "ps.png"
    path.write_bytes(EPS)
    assert _refusal(read, path) == f"{path}: not a supported image (EPS/PostScript); isegui " \
                                   "reads PNG, JPEG, TIFF, BMP and WebP"


def test_a_pdf_from_bytes_is_named_too():
    with pytest.raises(ImageReadError, match=r"^scan\.jpg: not a supported image \(PDF\)"):
        probe("scan.jpg", data=b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")


def test_every_image_open_in_isegui_is_held_to_the_raster_formats():
    """Pillow guesses the format from the content: without formats= any of them may be EPS."""
    root = Path(__file__).resolve().parents[2] / "isegui"
    unbounded = [f"{py.relative_to(root.parent)}:{n}"
                 for py in sorted(root.rglob("*.py"))
                 for n, line in enumerate(py.read_text(encoding="utf-8").splitlines(), 1)
                 if re.search(r"\bImage\.open\(", line) and "formats=PIL_FORMATS" not in line]
    assert unbounded == []


def test_the_raster_formats_still_load(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 255, (12, 17, 3), dtype=np.uint8)
    for suffix in (".png", ".jpg", ".tif", ".bmp", ".webp"):
        save_image(tmp_path / f"a{suffix}", pixels)
        assert load_image(tmp_path / f"a{suffix}").shape == (12, 17, 3)
        assert verify_image(tmp_path / f"a{suffix}").width == 17


# --------------------------------------------------------------------------- not a file


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
@pytest.mark.parametrize("read", READERS)
def test_a_fifo_where_an_image_was_is_refused_at_once(tmp_path, read):
    """The watch checks a name is a file, then reads it: a FIFO put in its place in between
    must not make the open wait for a writer."""
    fifo = tmp_path / "part.png"
    os.mkfifo(fifo)
    try:
        assert _refusal(read, fifo) == (f"{fifo}: not a regular file but a FIFO (named pipe); "
                                        "isegui reads and writes plain files only")
    finally:
        _release(fifo)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero on this system")
def test_a_link_to_a_device_is_refused(tmp_path):
    link = tmp_path / "part.png"
    link.symlink_to("/dev/zero")
    assert "not a regular file but a device" in _refusal(load_image, link)


# --------------------------------------------------------------------------- quiet


@pytest.mark.parametrize("cut", [100, 30_000, 200_000])
def test_a_cut_png_is_refused_without_libpng_on_stderr(tmp_path, capfd, cut):
    data = _png(np.random.default_rng(0).integers(0, 255, (300, 400, 3), dtype=np.uint8))
    path = tmp_path / "cut.png"
    path.write_bytes(data[:cut])
    assert "corrupt or truncated" in _refusal(load_image, path)
    err = capfd.readouterr().err
    assert "libpng" not in err, err


@pytest.mark.parametrize("cut", [12, 20])
def test_a_png_cut_after_its_pixels_loads_without_libpng_on_stderr(tmp_path, capfd, cut):
    """Only IEND (and the last CRC) missing: every pixel is there, and Pillow reads them."""
    pixels = np.random.default_rng(0).integers(0, 255, (300, 400, 3), dtype=np.uint8)
    path = tmp_path / "cut.png"
    path.write_bytes(_png(pixels)[:-cut])
    assert (load_image(path) == pixels).all()
    err = capfd.readouterr().err
    assert "libpng" not in err, err


def test_a_16_bit_colour_png_still_keeps_its_depth(tmp_path, capfd):
    import cv2
    pixels = np.random.default_rng(0).integers(0, 65535, (9, 11, 3), dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "deep.png"), pixels)
    loaded = load_image(tmp_path / "deep.png")
    assert loaded.dtype == np.uint16 and (loaded == pixels[:, :, ::-1]).all()
    assert capfd.readouterr().err == ""


def test_a_float_tiff_of_nan_and_infinity_shows_without_warnings(tmp_path):
    pixels = np.linspace(0, 1, 40 * 30, dtype=np.float32).reshape(30, 40)
    pixels[:5] = np.nan
    pixels[5, :3] = (np.inf, -np.inf, 3e38)
    Image.fromarray(pixels).save(tmp_path / "f.tif")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        shown = to_uint8(load_image(tmp_path / "f.tif"))
        assert (shown[:5] == 0).all() and shown[-1, -1] == 255
        assert (to_uint8(np.full((4, 4), np.nan, np.float32)) == 0).all()
        to_uint8(np.full((4, 4), 1e300))  # beyond float32: all infinite
        assert (to_uint8(np.array([[-1e300, 1e300]])) == [[0, 255]]).all()


def _chunk(kind: bytes, body: bytes) -> bytes:
    """A PNG chunk: length, kind, body, CRC."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _rows_cut_png(pixels: np.ndarray, keep: float) -> bytes:
    """A PNG whose chunks are all whole (CRCs right, IEND there) but whose image data stops
    after `keep` of its rows: a file cut and closed again by a tool that knows PNG."""
    data = _png(pixels)
    chunks, pos = [], 8
    while pos < len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        chunks.append((kind, data[pos + 8:pos + 8 + length]))
        pos += 12 + length
    rows = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    head = b"".join(_chunk(kind, body) for kind, body in chunks if kind not in (b"IDAT", b"IEND"))
    return (data[:8] + head + _chunk(b"IDAT", zlib.compress(rows[:int(len(rows) * keep)]))
            + _chunk(b"IEND", b""))


@pytest.mark.parametrize("keep", [0.0, 0.5, 0.999])
def test_a_png_closed_again_after_a_cut_is_refused_not_filled_with_black(tmp_path, capfd, keep):
    """Pillow fills the missing rows with black without a word, libpng prints its error on
    stderr: neither may reach the user."""
    path = tmp_path / "closed.png"
    path.write_bytes(_rows_cut_png(np.random.default_rng(0).integers(
        0, 255, (200, 300, 3), dtype=np.uint8), keep))
    for read in (load_image, verify_image):
        assert "ends before the last row" in _refusal(read, path)
    assert "libpng" not in capfd.readouterr().err


def _interlaced_png(pixels: np.ndarray) -> bytes:
    """An Adam7 PNG of 8-bit gray `pixels` (Pillow writes no interlaced PNG)."""
    height, width = pixels.shape
    rows = b""
    for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4),
                           (1, 0, 2, 2), (0, 1, 1, 2)):
        sub = pixels[y0::dy, x0::dx]
        if sub.size:
            rows += b"".join(b"\0" + row.tobytes() for row in sub)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 1)  # 8-bit gray, Adam7
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows))
            + _chunk(b"IEND", b""))


def test_an_interlaced_png_loads_and_a_cut_one_is_refused(tmp_path, capfd):
    pixels = np.random.default_rng(0).integers(0, 255, (13, 21), dtype=np.uint8)
    data = _interlaced_png(pixels)
    (tmp_path / "whole.png").write_bytes(data)
    assert (load_image(tmp_path / "whole.png") == pixels).all()
    cut = data.replace(data[data.index(b"IDAT") - 4:data.index(b"IEND") - 4], b"")  # no IDAT
    (tmp_path / "cut.png").write_bytes(cut)
    assert "ends before the last row" in _refusal(load_image, tmp_path / "cut.png")
    assert "libpng" not in capfd.readouterr().err


def test_a_png_whose_image_data_fails_its_crc_is_refused_without_libpng_on_stderr(
        tmp_path, capfd):
    data = bytearray(_png(np.random.default_rng(0).integers(0, 255, (50, 60, 3), np.uint8)))
    idat = data.index(b"IDAT")
    length = struct.unpack(">I", data[idat - 4:idat])[0]
    data[idat + 4 + length] ^= 0xFF  # the CRC's first byte
    (tmp_path / "crc.png").write_bytes(bytes(data))
    for read in (load_image, verify_image):
        assert "damaged" in _refusal(read, tmp_path / "crc.png")
    assert "libpng" not in capfd.readouterr().err


def test_a_png_with_a_broken_ancillary_chunk_loads_quietly(tmp_path, capfd):
    """A bad colour profile is libpng's warning, not damage to the pixels."""
    pixels = np.random.default_rng(0).integers(0, 255, (20, 30, 3), np.uint8)
    data = _png(pixels)
    bad_profile = _chunk(b"iCCP", b"x\0\0" + b"not zlib at all")
    data = data[:33] + bad_profile + data[33:]  # after the signature and IHDR
    (tmp_path / "iccp.png").write_bytes(data)
    assert (load_image(tmp_path / "iccp.png") == pixels).all()
    assert capfd.readouterr().err == ""


def test_a_damaged_jpeg_is_refused_not_shown_grey(tmp_path, capfd):
    """libjpeg decodes a JPEG with a broken scan "successfully", the rest grey, and says so
    only on stderr: the line would judge that picture as the part."""
    import cv2
    pixels = np.random.default_rng(0).integers(0, 255, (120, 160, 3), np.uint8)
    data = bytearray(cv2.imencode(".jpg", pixels)[1].tobytes())
    scan = data.index(b"\xff\xda")
    data[scan + 200:scan + 260] = b"\xff\xd9" * 30  # end markers in the middle of the scan
    (tmp_path / "broken.jpg").write_bytes(bytes(data))
    assert "damaged" in _refusal(load_image, tmp_path / "broken.jpg")
    assert "Corrupt JPEG" not in capfd.readouterr().err
