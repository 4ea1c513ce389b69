"""Rows of the store's tables as entities, by column name. SQLite keeps any value in any
column, and a team member can write a table directly: a value of the wrong kind raises
DamagedRow naming the row (the store leaves such a row out of a list, and names it)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import shapely
import shapely.errors
from shapely.geometry import MultiPolygon, Polygon

from isegui.core.entities import (ImageRecord, ImageStatus, Instance, Prediction, Run,
                                  RunStatus, Source, Split)
from isegui.core.errors import DamagedRow
from isegui.core.geometry import Shape


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


def _whole(row: Any, column: str, least: int | None = 0) -> int:
    value = row[column]
    if type(value) is not int or (least is not None and value < least):
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
    shape = shapely.from_wkb(bytes(blob))
    if not isinstance(shape, (Polygon, MultiPolygon)):
        raise ValueError(f"its shape is a {shape.geom_type}, not a polygon")
    return shape


def decoded_shapes(rows: list[Any]) -> list[Shape | None]:
    """The rows' shapes decoded together (much faster than one by one); None where a row's
    bytes are not a polygon, so _instance decodes that one again and names the problem."""
    blobs = [r["shape"] if isinstance(r["shape"], bytes) else b"" for r in rows]
    shapes: Iterable[Any] = shapely.from_wkb(blobs, on_invalid="ignore") if rows else []
    return [s if isinstance(s, (Polygon, MultiPolygon)) else None for s in shapes]
