"""Annotation formats, each a module with `read`, `write`, `image_path`, `default_image_root`
(see `base.Format`)."""

from __future__ import annotations

from isegui.core.formats import coco, labelme, masks, yolo
from isegui.core.formats.base import Format

FORMATS: dict[str, Format] = {m.name: m for m in (coco, labelme, masks, yolo)}


def get_format(name: str) -> Format:
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown format {name!r}; choose one of {', '.join(FORMATS)}") from None
