"""Rows of the store's tables as entities, by column name. SQLite keeps any value in any
column, and a team member can write a table directly: a value of the wrong kind raises
DamagedRow naming the row (the store leaves such a row out of a list, and names it)."""

from __future__ import annotations

import operator

import json
import logging
import re
import struct
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np
import shapely
import shapely.errors
from shapely.geometry import MultiPolygon, Polygon

from isegui.core.entities import (ImageRecord, ImageStatus, Instance, LabelClass, Prediction,
                                  Run, RunStatus, Source, Split)
from isegui.core.errors import DamagedRow
from isegui.core.geometry import MAX_COORDINATE, Shape
from isegui.core.one_line import one_line


def as_class(row: Any) -> LabelClass:
    with _reading(f"class {row['id']!r}"):
        color = _text(row, "color")
        if not _COLOR.fullmatch(color):
            raise ValueError(f"its color is {color[:20]!r}, not #rrggbb")
        return LabelClass(_whole(row, "id"), _text(row, "name"), color)


_COLOR = re.compile(r"#[0-9a-fA-F]{6}")


def as_image(row: Any) -> ImageRecord:
    with _reading(f"image {row['id']!r}"):
        return ImageRecord(_whole(row, "id"), _text(row, "path"), _whole(row, "width", 1),
                           _whole(row, "height", 1), Split(row["split"]),
                           ImageStatus(row["status"]))


def as_instance(row: Any, shape: Shape | None = None) -> Instance:
    """`shape`: already decoded (many rows at once are decoded faster together)."""
    with _reading(f"instance {row['id']!r} of image {row['image_id']!r}"):
        return Instance(_whole(row, "image_id"), _whole(row, "id"), _id_or_none(row, "class_id"),
                        _polygon(row["shape"]) if shape is None else shape,
                        _whole(row, "z", None),
                        _id_or_none(row, "track_id"), Source(row["source"]),
                        _flag(row, "crowd"), _whole(row, "version"), row["edited_by"],
                        row["edited_at"], row["created_by"], row["created_at"])


def as_prediction(row: Any) -> Prediction:
    with _reading(f"prediction {row['id']!r} of image {row['image_id']!r}"):
        score = row["score"]
        if type(score) not in (int, float) or not 0 <= score <= 1:
            raise ValueError(f"its score is {score!r}, not a number from 0 to 1")
        return Prediction(_whole(row, "id"), _whole(row, "image_id"), _id_or_none(row, "run_id"),
                          _id_or_none(row, "class_id"), _polygon(row["shape"]), float(score))


def as_run(row: Any) -> Run:
    with _reading(f"run {row['id']!r}"):
        config, metrics = json.loads(row["config"]), json.loads(row["metrics"])
        if not isinstance(config, dict) or not isinstance(metrics, dict):
            raise ValueError("its config or metrics are not a JSON object")
        return Run(_whole(row, "id"), _text(row, "name"), row["created"],
                   RunStatus(row["status"]), config, metrics, row["checkpoint"], row["finished"])


@contextmanager
def _reading(what: str) -> Iterator[None]:
    try:
        yield
    except (ValueError, TypeError, RecursionError, shapely.errors.GEOSException) as exc:
        raise DamagedRow(f"{what} cannot be read ({exc})") from None


_MOST = 2**31 - 1  # ids, sizes, z: what any table's integers hold (a width of 2**63 is none)
MOST_WHOLE = _MOST


def storable_id(value: object, least: int = 0) -> bool:
    """Whether `value` is a whole number the store reads back (an id, a track id, a z)."""
    if isinstance(value, bool):
        return False
    try:
        number = operator.index(value)  # type: ignore[arg-type]  # a numpy integer too
    except TypeError:
        return False
    return least <= number <= _MOST


def _whole(row: Any, column: str, least: int | None = 0) -> int:
    value = row[column]
    if type(value) is not int or (least is not None and value < least) or abs(value) > _MOST:
        raise ValueError(f"its {column} is {value!r}, not a whole number"
                         + (f" of at least {least}" if least else ""))
    return value


def _id_or_none(row: Any, column: str) -> int | None:
    return None if row[column] is None else _whole(row, column)


def _flag(row: Any, column: str) -> bool:
    if row[column] not in (0, 1):
        raise ValueError(f"its {column} is {row[column]!r}, not 0 or 1")
    return bool(row[column])


def _text(row: Any, column: str) -> str:
    if not isinstance(row[column], str):
        raise ValueError(f"its {column} is {row[column]!r}, not text")
    return str(row[column])


def _polygon(blob: object) -> Shape:
    if not isinstance(blob, (bytes, bytearray, memoryview)):
        raise ValueError(f"its shape is a {type(blob).__name__}, not WKB bytes")
    problem = polygon_wkb_problem(bytes(blob))
    if problem:
        raise ValueError(f"its shape {problem}")
    with np.errstate(invalid="ignore"):  # NaN coordinates: named below, not warned about
        shape = shapely.from_wkb(bytes(blob))
    if not _in_range([shape])[0]:
        raise ValueError("its shape has coordinates that are not numbers, or beyond "
                         f"{MAX_COORDINATE:g} px")
    if not isinstance(shape, (Polygon, MultiPolygon)):  # polygon_wkb_problem saw to it
        raise ValueError(f"its shape is a {shape.geom_type}, not a polygon")
    return shape


def decoded_shapes(rows: list[Any]) -> list[Shape | None]:
    """The rows' shapes decoded together (much faster than one by one); None where a row's
    bytes are not a polygon (GEOS is given only a polygon's bytes: it crashes on some others,
    a collection nested 100,000 deep), so as_instance decodes that one again and names the
    problem."""
    blobs = [r["shape"] if isinstance(r["shape"], bytes) and
             polygon_wkb_problem(r["shape"]) is None else b"" for r in rows]
    with np.errstate(invalid="ignore"):
        shapes: Any = shapely.from_wkb(blobs, on_invalid="ignore") if rows else []
    fine: Any = _in_range(shapes) if rows else []
    return [s if ok and isinstance(s, (Polygon, MultiPolygon)) else None
            for s, ok in zip(shapes, fine)]


_POLYGON, _MULTIPOLYGON = 3, 6
_SIMPLE = struct.Struct("<III")  # type, rings, points of the first ring


def _in_range(shapes: Any) -> np.ndarray:
    """Per shape: every coordinate a number within MAX_COORDINATE."""
    coords, owner = shapely.get_coordinates(np.asarray(shapes, dtype=object),
                                            return_index=True)
    bad = ~(np.isfinite(coords) & (np.abs(coords) <= MAX_COORDINATE)).all(axis=1)
    fine = np.ones(len(shapes), bool)
    fine[owner[bad]] = False
    return fine


def polygon_wkb_problem(data: bytes) -> str | None:
    """Why `data` is not the WKB of one Polygon or MultiPolygon (2D, or with Z/M; ISO or EWKB
    flags), read from its headers and lengths only, or None. Nothing is nested deeper than a
    MultiPolygon's polygons, and no length points past the end."""
    if len(data) >= 13 and data[0] == 1:  # the usual one: a little-endian 2D one-ring polygon
        code, rings, points = _SIMPLE.unpack_from(data, 1)
        if code == _POLYGON and rings == 1 and len(data) == 13 + 16 * points:
            return None
    try:
        end, kind = _polygon_at(data, 0, (_POLYGON, _MULTIPOLYGON))
        if kind == _MULTIPOLYGON:
            end, count = _count(data, end)
            for _ in range(count):
                end, _kind = _polygon_at(data, end, (_POLYGON,))
    except IndexError:  # empty, or cut before a byte-order mark
        return "is not a polygon's WKB (empty or cut short)"
    except (struct.error, ValueError) as exc:
        return f"is not a polygon's WKB ({exc})"
    return None if end == len(data) else "is not a polygon's WKB (bytes after its end)"


def _polygon_at(data: bytes, pos: int, kinds: tuple[int, ...]) -> tuple[int, int]:
    """The end of the geometry at `pos` (a Polygon's rings skipped; a MultiPolygon's header
    only), and its kind."""
    order = "<" if data[pos] == 1 else ">" if data[pos] == 0 else ""
    if not order:
        raise ValueError("no byte order")
    (code,) = struct.unpack_from(f"{order}I", data, pos + 1)
    pos += 5
    if code & 0x20000000:  # EWKB: an SRID follows
        pos += 4
    dims = 2 + bool(code & 0x80000000) + bool(code & 0x40000000)
    code &= 0x0FFFFFFF
    dims += {0: 0, 1: 1, 2: 1, 3: 2}.get(code // 1000, 0)  # ISO: 1000s Z, 2000s M, 3000s ZM
    kind = code % 1000
    if kind not in kinds or code // 1000 > 3:
        raise ValueError(f"a geometry of type {code}")
    if kind == _MULTIPOLYGON:
        return pos, kind
    pos, rings = _count(data, pos, order)
    for _ in range(rings):
        pos, points = _count(data, pos, order)
        pos += points * dims * 8
        if pos > len(data):
            raise ValueError("a ring longer than the data")
    return pos, kind


def _count(data: bytes, pos: int, order: str = "") -> tuple[int, int]:
    order = order or ("<" if data[0] == 1 else ">")
    (count,) = struct.unpack_from(f"{order}I", data, pos)
    if count > len(data):  # every item takes at least a byte
        raise ValueError("a count longer than the data")
    return pos + 4, count


E = TypeVar("E")
log = logging.getLogger("isegui.core.store.project_data")  # where these warnings always came from


class RowReader:
    """A store's way with rows it cannot read: named, and left out of lists."""
    path: Path
    damaged_rows: list[str]

    def _read(self, entity: Callable[..., E], row: Any) -> E:
        """One row as its entity; a row another program damaged raises DamagedRow naming the
        project file and the row."""
        try:
            return entity(row)
        except DamagedRow as exc:
            raise DamagedRow(f"{self.path}: {exc}") from None

    def _readable(self, entity: Callable[..., E], rows: list[Any],
                  shapes: Iterable[Shape | None] | None = None) -> list[E]:
        """The rows that can be read, as entities; each damaged one is left out and named, once,
        in `damaged_rows` and the log (stats, validate, export go on; validate lists them)."""
        out: list[E] = []
        for row, shape in zip(rows, shapes if shapes is not None else [None] * len(rows)):
            try:
                out.append(entity(row) if shape is None else entity(row, shape))
            except DamagedRow as exc:
                self._note_damaged(exc)
        return out

    def _note_damaged(self, exc: DamagedRow) -> None:
        problem = f"{exc}; left out"
        if problem in self.damaged_rows:
            return
        self.damaged_rows.append(problem)
        if len(self.damaged_rows) == 1:  # the first on the screen, each in the log
            log.warning("%s", one_line(f"{self.path}: {problem}, with any other such rows "
                                       "(each named in the log)"))
        else:
            log.info("%s", one_line(f"{self.path}: {problem}"))
