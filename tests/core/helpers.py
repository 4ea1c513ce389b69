"""Small labeled data made in the tests."""

from __future__ import annotations

import numpy as np
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
