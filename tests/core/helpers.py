"""Small labeled data made in the tests."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from shapely.geometry import MultiPolygon, Point, Polygon, box

from isegui.core.entities import ImageStatus, Source
from isegui.core.images import save_image


def ring_shape(cx, cy, outer, inner):
    """A washer: a disc with a hole."""
    return Point(cx, cy).buffer(outer, 16).difference(Point(cx, cy).buffer(inner, 16))


def sample_shapes():
    """(class name, shape, crowd) covering the cases formats must carry."""
    return [
        ("pill", Polygon([(10.5, 12.25), (40.0, 14.0), (38.75, 30.5), (12.0, 28.0)]), False),
        ("washer", ring_shape(80, 40, 20, 8), False),
        ("chip", MultiPolygon([box(20, 60, 40, 80), box(50, 62, 70, 78)]), False),
        ("pill", box(40, 14, 60, 30), False),  # touches the first pill's right side
        ("chip", box(5, 85, 30, 95), True),  # a crowd region
    ]


def add_labeled_image(project, name="a.png", size=(120, 100), shapes=None, seed=0):
    """A random image file in the project with the sample shapes as instances."""
    width, height = size
    rng = np.random.default_rng(seed)
    path = project.folder / "images" / name
    save_image(path, rng.integers(0, 255, (height, width, 3), dtype=np.uint8))
    store = project.store
    ids = store.ensure_classes(["pill", "washer", "chip"])
    record = store.add_image(f"images/{name}", width, height, status=ImageStatus.LABELED)
    items = [(ids[c], s, None, None, Source.MANUAL, crowd)
             for c, s, crowd in (shapes or sample_shapes())]
    store.add_instances(record.id, items)
    return record


# ------------------------------------------------ files outside a project a test guards


def symlink(link: Path, target: Path) -> Path:
    """`link` made a symbolic link to `target` (the test skipped where links cannot be made)."""
    try:
        link.symlink_to(target, target_is_directory=target.is_dir())
    except (OSError, NotImplementedError):  # Windows without the right to make links
        pytest.skip("this system does not let the tests make symbolic links")
    return link


def outside_file(path: Path, data: bytes | str = b"precious, not isegui's") -> Path:
    """A file outside the project, with an old time stamp a write would change."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    os.utime(path, (1_000_000_000, 1_000_000_000))
    return path


def file_state(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


def tree_state(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.relative_to(folder).as_posix(): file_state(p)
            for p in folder.rglob("*") if p.is_file()}


def one_line_naming(err: str, path: Path) -> str:
    """The one line of `err`, which names `path`."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert str(path) in lines[0], err
    return lines[0]
