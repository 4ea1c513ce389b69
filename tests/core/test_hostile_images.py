"""Image files made to hurt the reader (issue 26, the attacker's second try): PostScript named
like an image (Pillow would hand it to Ghostscript), a FIFO or a device where an image was, a cut
PNG (libpng's own error on stderr) and a float TIFF of NaN (numpy's warnings). Each is refused in
one line naming the file, at once, with nothing else on stderr."""

import io
import os
import re
import threading
import warnings
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
