"""Reading image files into the labels' frame: EXIF orientation applied, full bit depth kept.

`probe` reads only the header (size, orientation) and is what imports use; `load_image` decodes
the pixels. Both raise ImageReadError naming the file and the problem.

OpenCV decodes (it keeps 16-bit colour, which Pillow cannot); Pillow reads the header, and the
pixels too where OpenCV fails or disagrees with the header (a tiled TIFF). Both already orient a
TIFF themselves, so the orientation is applied here only where the decoder did not.

Only regular files are opened (a FIFO would make the open wait for ever), and Pillow only as one
of PIL_FORMATS (an EPS named .png would go to Ghostscript).
"""

from __future__ import annotations

import functools
import io
import os
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import cv2
import numpy as np
from PIL import Image, ImageOps, PngImagePlugin, TiffImagePlugin, UnidentifiedImageError

from isegui.core import native_messages
from isegui.core.errors import ImageReadError
from isegui.core.fileio import atomic_write_bytes, not_regular_problem

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
# The formats of IMAGE_SUFFIXES, the only ones any Image.open in isegui may take: Pillow guesses a
# file's format from its content, and an EPS or PDF (whatever its name) goes to Ghostscript, which
# runs the PostScript in it ("{} loop" runs forever).
PIL_FORMATS = ("PNG", "JPEG", "TIFF", "BMP", "WEBP")
# Kinds of files Pillow must not open, named when one is refused: first bytes, kind
_OTHER_KINDS = ((b"%!PS", "EPS/PostScript"), (b"\xc5\xd0\xd3\xc6", "EPS/PostScript"),
                (b"%PDF", "PDF"), (b"GIF8", "GIF"), (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"))
_READ_FLAGS = getattr(os, "O_NONBLOCK", 0)  # none on Windows, which has no FIFOs to wait on
MAX_PIXELS = 250_000_000  # 250 MP: a 16-bit RGB image this big is 1.5 GB decoded
MOST_BYTES_PER_PIXEL = 32  # four float64 channels: the most any picture isegui reads stores
METADATA_ROOM = 256 << 20  # previews, ICC profiles, XMP and other pages beside the picture
# Pillow refuses a PNG whose text (XMP from an editor: megabytes) inflates beyond 1 MB; the
# picture is fine, and METADATA_ROOM bounds what a file may carry beside it
PngImagePlugin.MAX_TEXT_CHUNK = 64 << 20
PngImagePlugin.MAX_TEXT_MEMORY = 256 << 20
MOST_PAGES_LOOKED_AT = 16  # of a TIFF's pages, for one larger than the first
LARGEST_SIDE = 1 << 20  # px: a side beyond it is a damaged header (a negative number read so)

Image.MAX_IMAGE_PIXELS = None  # we check MAX_PIXELS ourselves, with a clearer message

_EXIF_ORIENTATION = 0x0112
_OPENCV_LOG_FATAL = 1  # cv2.utils.logging.LOG_LEVEL_FATAL (5.x), the same number in 4.x


def _quiet_opencv() -> None:
    """OpenCV prints its decoders' [ERROR] and [WARN] lines on stderr, beside the one line
    isegui says about the same file: only fatal ones are kept. OPENCV_LOG_LEVEL, when set
    (a support session), still wins."""
    if "OPENCV_LOG_LEVEL" in os.environ:
        return
    set_level = (getattr(getattr(cv2, "utils", None), "logging", None) or cv2).setLogLevel
    set_level(_OPENCV_LOG_FATAL)


_quiet_opencv()


@dataclass(frozen=True)
class ImageInfo:
    width: int  # after EXIF orientation
    height: int
    orientation: int  # EXIF orientation tag, 1 = as stored
    format: str
    mode: str
    # a TIFF layout OpenCV decodes wrongly without a word: colour planes stored apart, or an
    # alpha it multiplies the colours by (Pillow decodes both as stored)
    opencv_misreads: bool = False
    white_is_zero: bool = False  # a grey TIFF whose 0 is white: 16-bit ones no decoder turns
    # pictures the file holds of the first one's size (a TIFF's equal pages, an animated
    # WebP's frames; isegui reads the first): said when the file is added, never silently
    pictures: int = 1


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def probe(path: str | Path, data: bytes | None = None) -> ImageInfo:
    """Size and orientation from the header, without decoding the pixels. With `data`, the
    image is read from those bytes and `path` only names it in messages."""
    path = Path(path)
    if data is not None:
        return _probe_file(path, io.BytesIO(data))
    with open_image_file(path) as file:
        return _probe_file(path, file)


def open_image_file(path: Path) -> BinaryIO:
    """`path` opened for reading, once the opened file is known to be a regular file. Checking
    the name first would not do: between the check and the open it can become a FIFO (whose
    open waits for a writer that never comes). Opened without blocking, a FIFO or a device
    answers at once and is refused from its descriptor."""
    try:
        file = open(path, "rb", opener=_open_without_blocking)
    except FileNotFoundError:
        raise ImageReadError(path, "file not found") from None
    except OSError as exc:
        raise ImageReadError(path, f"cannot open the file ({exc.strerror or exc})") from None
    problem = not_regular_problem(os.fstat(file.fileno()).st_mode)
    if problem is not None:
        file.close()
        raise ImageReadError(path, problem)
    return file  # O_NONBLOCK left set: reading a regular file never waits anyway


def _open_without_blocking(path: str, flags: int) -> int:
    return os.open(path, flags | _READ_FLAGS)


def _probe_file(path: Path, file: BinaryIO) -> ImageInfo:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(file, formats=PIL_FORMATS) as im:
                width, height = _stored_size(im)
                orientation = _orientation(im)
                fmt, mode = im.format or "?", im.mode
                misreads, white_is_zero = _tiff_layout(im)
                larger_page, pictures = _later_pages(im, width, height)
    except _Unreadable as exc:
        raise ImageReadError(path, str(exc)) from None
    except UnidentifiedImageError:
        raise ImageReadError(path, _unsupported(file)) from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageReadError(path, f"cannot read the image header ({exc})") from None
    if width <= 0 or height <= 0:
        raise ImageReadError(path, f"the header gives an empty image ({width}x{height})")
    if max(width, height) > LARGEST_SIDE:
        raise ImageReadError(path, f"the header gives an impossible size ({width}x{height}): "
                                   "the file is damaged")
    if larger_page is not None:
        raise ImageReadError(path, f"a TIFF of several pages whose first ({width}x{height}) "
                                   f"is smaller than a later one ({larger_page}): a preview "
                                   "before the picture? isegui reads the first page only; "
                                   "save the page wanted on its own")
    if width * height > MAX_PIXELS:
        raise ImageReadError(path, f"image too large: {width}x{height} = "
                                   f"{width * height / 1e6:.0f} MP (the limit is "
                                   f"{MAX_PIXELS / 1e6:.0f} MP); tile or downscale it first")
    _refuse_padding(path, file, width, height)
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return ImageInfo(width, height, orientation, fmt, mode, misreads, white_is_zero, pictures)


def _refuse_padding(path: Path, file: BinaryIO, width: int, height: int) -> None:
    """A file far larger than its picture can need (a few pixels followed by gigabytes of
    nothing: a sparse or padded file) would be read whole into memory; refused instead."""
    size = file.seek(0, os.SEEK_END)  # a file, or bytes in memory (probe_bytes)
    most = width * height * MOST_BYTES_PER_PIXEL + METADATA_ROOM
    if size > most:
        raise ImageReadError(path, f"the file is {size / 1e6:,.0f} MB, far more than a "
                                   f"{width}x{height} picture needs (at most "
                                   f"{most / 1e6:,.0f} MB): padded or damaged")


def _unsupported(file: BinaryIO) -> str:
    """Why Pillow, held to PIL_FORMATS, found no image: the kind of file, where it is known."""
    file.seek(0)
    head = file.read(16)
    if not head:
        return "the file is empty (0 bytes): a copy that failed?"
    kind = next((kind for magic, kind in _OTHER_KINDS if head.startswith(magic)), None)
    if head.startswith((b"II*\0", b"MM\0*")):  # a TIFF whose pixels Pillow has no mode for
        return ("a TIFF whose pixel layout isegui cannot read (its sample format, bit depth or "
                "extra channels); save it as 8- or 16-bit RGB or grey")
    if kind is None:
        return "not an image file, or a format isegui cannot read"
    return f"not a supported image ({kind}); isegui reads PNG, JPEG, TIFF, BMP and WebP"


def _stored_size(im: Image.Image) -> tuple[int, int]:
    """Width and height as the pixels are stored, before orientation. Pillow gives a TIFF's
    size already turned (it orients TIFFs as it loads them); the TIFF's tags hold the stored
    one, whichever Pillow this is."""
    if isinstance(im, TiffImagePlugin.TiffImageFile):
        return int(im.tag_v2[TiffImagePlugin.IMAGEWIDTH]), int(
            im.tag_v2[TiffImagePlugin.IMAGELENGTH])
    return im.size


class _Unreadable(Exception):
    """A file of a kind isegui knows it cannot decode right: refused, said why."""


def _later_pages(im: Image.Image, width: int, height: int) -> tuple[str | None, int]:
    """In one pass over a file's pages or frames (MOST_PAGES_LOOKED_AT at most): "WxH" of a
    later TIFF page larger than the first (`width` x `height`), or None (thumbnails and
    reduced copies follow the picture, which is what isegui reads); and how many are the
    first's size (a TIFF stack or burst; an animated WebP's frames all are)."""
    frames = int(getattr(im, "n_frames", 1) or 1)
    if frames < 2:
        return None, 1
    if not isinstance(im, TiffImagePlugin.TiffImageFile):
        return None, frames
    first, equal = im.size, 1  # as Pillow gives it (turned by an Orientation tag), as later
    for page in range(1, min(frames, MOST_PAGES_LOOKED_AT)):
        im.seek(page)
        if im.size[0] * im.size[1] > width * height:
            return f"{im.size[0]}x{im.size[1]}", equal
        equal += im.size == first
    im.seek(0)
    return None, equal


def _tiff_layout(im: Image.Image) -> tuple[bool, bool]:
    """(OpenCV misreads it, its grey 0 is white), from a TIFF's tags; _Unreadable for a
    layout no decoder here reads right."""
    if not isinstance(im, TiffImagePlugin.TiffImageFile):
        return False, False
    tags = im.tag_v2
    planar = tags.get(TiffImagePlugin.PLANAR_CONFIGURATION, 1) == 2
    bits = tags.get(TiffImagePlugin.BITSPERSAMPLE, (8,))
    deep = max(bits if isinstance(bits, tuple) else (bits,)) > 8
    samples = int(tags.get(TiffImagePlugin.SAMPLESPERPIXEL, 1))
    if planar and samples > 1 and deep:
        raise _Unreadable("a 16-bit colour TIFF with its colour planes stored apart (planar): "
                          "neither decoder isegui uses reads it right; save it with the "
                          "colours interleaved (contiguous), or as 8-bit")
    if planar and samples > 1:
        _refuse_missing_planes(tags, samples)
    # OpenCV reads an 8-bit alpha through libtiff's RGBA path, which multiplies the colours
    # by it; Pillow keeps them (a 16-bit one OpenCV reads as stored, Pillow cuts to 8 bits)
    alpha = tags.get(TiffImagePlugin.EXTRASAMPLES) is not None and not deep
    return planar or alpha, tags.get(TiffImagePlugin.PHOTOMETRIC_INTERPRETATION) == 0


def _refuse_missing_planes(tags: Any, samples: int) -> None:
    """A planar TIFF needs its strips once per colour plane; one with fewer is cut short, and
    Pillow would fill the missing planes with black."""
    offsets = tags.get(TiffImagePlugin.STRIPOFFSETS)
    height = int(tags.get(TiffImagePlugin.IMAGELENGTH, 0))
    rows = int(tags.get(TiffImagePlugin.ROWSPERSTRIP, height) or height)
    if offsets is None or not height or not rows:
        return  # tiled, or no strips at all: the decoders say so
    needed = -(-height // rows) * samples
    if len(offsets if isinstance(offsets, tuple) else (offsets,)) < needed:
        raise _Unreadable(f"a TIFF with {samples} colour planes stored apart, but strips "
                          f"for fewer: the file is damaged")


def _orientation(im: Image.Image) -> int:
    try:
        if im.format == "PNG":
            # getexif() would decode a PNG to find a late eXIf chunk; an early one is in info
            raw = im.info.get("exif")
            if not raw:
                return 1
            exif = Image.Exif()
            exif.load(raw)
        else:
            exif = im.getexif()
        value = int(exif.get(_EXIF_ORIENTATION, 1))
    except Exception:  # a broken EXIF block must not make a good image unreadable
        return 1
    return value if 1 <= value <= 8 else 1


def load_image(path: str | Path) -> np.ndarray:
    """Pixels as (H, W) grayscale or (H, W, 3) RGB, in the file's own dtype (uint8, uint16,
    float32), EXIF orientation applied. Alpha is dropped."""
    path = Path(path)
    with open_image_file(path) as file:  # one open: the header checked is the data decoded
        info = _probe_file(path, file)  # refuses a too large image before its data is read
        try:
            file.seek(0)
            data = file.read()  # decoded from memory, not cv2.imread: it fails on non-ASCII paths
        except OSError as exc:
            raise ImageReadError(path, f"cannot read the file ({exc.strerror or exc})") from None
    chunks_whole = info.format != "PNG" or _png_chunks_complete(data)
    if not chunks_whole and _png_rows_missing(data):  # Pillow would fill them with black
        raise ImageReadError(path, _PNG_SHORT)
    # a PNG cut after its pixels (no end chunk): Pillow reads it; libpng would refuse it.
    # CIELab (a TIFF's LAB mode): libtiff's own conversion is off by ~12 levels; Pillow's not
    by_opencv = chunks_whole and info.mode != "LAB" and not info.opencv_misreads
    pixels = _decode_with_opencv(path, data, info) if by_opencv else None
    if pixels is None:
        if chunks_whole and info.format == "PNG" and _png_rows_missing(data):
            raise ImageReadError(path, _PNG_SHORT)  # OpenCV gave up on it: say why
        pixels = _decode_with_pillow(path, data, info)
    if info.white_is_zero and pixels.dtype == np.uint16:  # 8-bit ones come turned already
        pixels = np.iinfo(np.uint16).max - pixels
    return pixels


def _decode_with_opencv(path: Path, data: bytes, info: ImageInfo) -> np.ndarray | None:
    """OpenCV's picture in the labels' frame; None where OpenCV cannot decode the file (a
    tiled TIFF) or decodes it in another size than the header's."""
    try:  # EXIF applied below, for JPEG & co
        with native_messages.captured() as said:
            pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        return None
    if said.damage:  # decoded "successfully", the missing or broken part filled in
        if info.format == "PNG" and _png_rows_missing(data):  # the cause, in words
            raise ImageReadError(path, _PNG_SHORT)
        raise ImageReadError(path, f"cannot decode the {info.format} data: the file is "
                                   f"damaged ({said.damage.strip()})")
    if pixels is None:
        return None
    pixels = _to_rgb(pixels)
    if not (info.format == "TIFF" and _opencv_orients_tiff()):
        pixels = apply_orientation(pixels, info.orientation)
    return pixels if pixels.shape[:2] == (info.height, info.width) else None


_PNG_SHORT = ("cannot decode the PNG data: the file is corrupt or truncated (its image data "
              "ends before the last row)")


def _png_chunks_complete(data: bytes) -> bool:
    """Whether a PNG's chunks run whole up to IEND: a file cut short (a copy in progress, a
    full disk) is not. Only the chunks' lengths are read: quick for any size."""
    pos = 8  # after the signature
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        pos += 12 + int(length)  # length, kind, data, CRC
        if kind == b"IEND":
            return pos <= len(data)
    return False


def _png_rows_missing(data: bytes) -> bool:
    """Whether a PNG's image data inflates to fewer rows than its header promises (a file cut,
    perhaps closed again). Inflated in 1 MB steps and kept nowhere; asked only of a PNG that
    is cut or that libpng called damaged, never on the way to a good one's pixels."""
    pos, header, image_data = 8, b"", []  # after the signature
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        if kind == b"IHDR":
            header = data[pos + 8:pos + 8 + 13]
        elif kind == b"IDAT":
            image_data.append(memoryview(data)[pos + 8:pos + 8 + length])
        elif kind == b"IEND":
            break
        pos += 12 + int(length)  # length, kind, data, CRC
    return not _inflates_to(_png_data_size(header), image_data)


_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # by colour type
_ADAM7_PASSES = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4),
                 (1, 0, 2, 2), (0, 1, 1, 2))  # first column, first row, column step, row step


def _png_data_size(header: bytes) -> int:
    """Bytes of filtered rows the IHDR promises (each row has one filter byte), per pass if
    interlaced; 0 for a header that is not one (the decoders refuse it themselves)."""
    if len(header) != 13:
        return 0
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    bits = _PNG_CHANNELS.get(colour, 0) * depth
    passes = _ADAM7_PASSES if interlace else ((0, 0, 1, 1),)
    size = 0
    for x0, y0, dx, dy in passes:
        columns, rows = -(-(width - x0) // dx), -(-(height - y0) // dy)
        if columns > 0 and rows > 0:
            size += rows * (1 + (columns * bits + 7) // 8)
    return size


def _inflates_to(needed: int, image_data: list[memoryview]) -> bool:
    inflater, inflated = zlib.decompressobj(), 0
    try:
        for piece in image_data:
            pending: bytes | memoryview = piece
            while pending and inflated < needed:
                inflated += len(inflater.decompress(pending, 1 << 20))
                pending = inflater.unconsumed_tail
    except zlib.error:
        return False
    return inflated >= needed


@functools.cache
def _opencv_orients_tiff() -> bool:
    """Whether this OpenCV applies a TIFF's Orientation tag itself (4.10 and 5.1 do, even with
    IMREAD_UNCHANGED; JPEG, PNG and WebP they leave as stored): asked once, of a 2x1 TIFF
    whose tag says mirrored."""
    exif = Image.Exif()
    exif[_EXIF_ORIENTATION] = 2
    buffer = io.BytesIO()
    Image.fromarray(np.array([[0, 255]], np.uint8)).save(buffer, format="TIFF", exif=exif)
    pixels = cv2.imdecode(np.frombuffer(buffer.getvalue(), np.uint8), cv2.IMREAD_UNCHANGED)
    return pixels is not None and int(pixels.reshape(-1)[0]) == 255


def _decode_with_pillow(path: Path, data: bytes, info: ImageInfo) -> np.ndarray:
    """Pillow's picture, turned as ImageOps.exif_transpose turns it, as load_image gives
    pixels."""
    try:
        with warnings.catch_warnings(), native_messages.captured():
            warnings.simplefilter("ignore")  # and libtiff's lines on stderr: caught
            with Image.open(io.BytesIO(data), formats=PIL_FORMATS) as im:
                pixels = _pillow_pixels(ImageOps.exif_transpose(im))
    except MemoryError:
        raise
    except Exception:  # Pillow's plugins raise many kinds on broken data; all mean the same
        raise ImageReadError(path, f"cannot decode the {info.format} data: the file is corrupt "
                                   "or truncated") from None
    if pixels.shape[:2] != (info.height, info.width):
        raise ImageReadError(path, f"decoded size {pixels.shape[1]}x{pixels.shape[0]} differs "
                                   f"from the header's {info.width}x{info.height}")
    return pixels


def _pillow_pixels(im: Image.Image) -> np.ndarray:
    """Gray or RGB; 16-bit, 32-bit and float gray kept as they are, in this machine's byte
    order."""
    if im.mode in ("1", "LA", "La"):
        im = im.convert("L")
    elif im.mode not in ("L", "RGB", "I", "F") and not im.mode.startswith("I;16"):
        im = im.convert("RGB")
    pixels = np.array(im)
    return pixels.astype(pixels.dtype.newbyteorder("="), copy=False)


def verify_image(path: str | Path) -> ImageInfo:
    """The header's info once the whole file is known to decode (a truncated or corrupt file
    raises ImageReadError). JPEGs are decoded at 1/8 scale: every byte is still read, at a
    fraction of the time of a full 20 MP decode."""
    path = Path(path)
    info = probe(path)
    if info.format != "JPEG":
        load_image(path)
        return info
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with native_messages.captured() as said, open_image_file(path) as file, \
                    Image.open(file, formats=PIL_FORMATS) as im:
                im.draft("RGB", (max(1, im.width // 8), max(1, im.height // 8)))
                im.load()
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageReadError(path, f"cannot decode the JPEG data: the file is corrupt or "
                                   f"truncated ({exc})") from None
    if said.damage:
        raise ImageReadError(path, f"cannot decode the JPEG data: the file is damaged "
                                   f"({said.damage.strip()})")
    return info


def _to_rgb(pixels: np.ndarray) -> np.ndarray:
    if pixels.ndim == 2:
        return pixels
    channels = pixels.shape[2]
    if channels == 1:
        return pixels[:, :, 0]
    if channels == 3:
        return cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
    if channels == 4:
        return cv2.cvtColor(pixels, cv2.COLOR_BGRA2RGB)
    return pixels[:, :, :3][:, :, ::-1].copy()


def apply_orientation(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Turn stored pixels into the displayed frame for an EXIF orientation tag (1-8)."""
    if orientation == 2:
        return np.ascontiguousarray(pixels[:, ::-1])
    if orientation == 3:
        return np.ascontiguousarray(pixels[::-1, ::-1])
    if orientation == 4:
        return np.ascontiguousarray(pixels[::-1])
    if orientation == 5:
        return np.ascontiguousarray(np.swapaxes(pixels, 0, 1))
    if orientation == 6:
        return np.ascontiguousarray(np.swapaxes(pixels, 0, 1)[:, ::-1])
    if orientation == 7:
        return np.ascontiguousarray(np.swapaxes(pixels, 0, 1)[::-1, ::-1])
    if orientation == 8:
        return np.ascontiguousarray(np.swapaxes(pixels, 0, 1)[::-1])
    return pixels


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """8-bit view of any image: 16-bit and float images stretched from their 0.5th to 99.5th
    percentile, so a 12-bit camera frame in a 16-bit file is not nearly black."""
    if pixels.dtype == np.uint8:
        return pixels
    with np.errstate(over="ignore", invalid="ignore"):  # a float beyond float32 becomes inf
        values = pixels.astype(np.float32)
    lo, hi = _stretch_range(values)
    # NaN (a float TIFF's "no data") shown black, infinities as the darkest or brightest
    values = np.nan_to_num(values, copy=False, nan=lo, posinf=hi, neginf=lo)
    with np.errstate(over="ignore"):  # float32 - lo beyond float32: inf, clipped to 255
        stretched: np.ndarray = np.clip((values - lo) * (255.0 / (hi - lo)), 0, 255)
    return stretched.astype(np.uint8)


def _stretch_range(values: np.ndarray) -> tuple[float, float]:
    """The 0.5th and 99.5th percentile of the finite values, from a sample of at most about
    512 x 512."""
    sample = values[::max(1, values.shape[0] // 512), ::max(1, values.shape[1] // 512)]
    finite = sample[np.isfinite(sample)]
    if not finite.size:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(finite, [0.5, 99.5]))
    # lo + 1 is lo itself from about 1e16 up: the next float above keeps hi - lo from 0
    return lo, hi if hi > lo else max(lo + 1.0, float(np.nextafter(lo, np.inf)))


def save_image(path: str | Path, pixels: np.ndarray) -> None:
    """Write an (H, W) or (H, W, 3) RGB array; the format comes from the suffix."""
    path = Path(path)
    out = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR) if pixels.ndim == 3 else pixels
    ok, data = cv2.imencode(path.suffix, out)
    if not ok:
        raise ImageReadError(path, f"cannot encode an image as {path.suffix}")
    atomic_write_bytes(path, data.tobytes())
