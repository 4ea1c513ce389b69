import math

import pytest
from shapely import affinity
from shapely.geometry import Point, box

from isegui.core.measure import measure, to_mm


def test_rotated_rectangle():
    # shapely: counter-clockwise in y-up
    rect = affinity.rotate(box(0, 0, 40, 10), 30, origin=(0, 0))
    m = measure(affinity.translate(rect, 100, 100))
    assert m.length == pytest.approx(40) and m.width == pytest.approx(10)
    assert m.area == pytest.approx(400)
    assert m.perimeter == pytest.approx(100)
    # y points down in images: shapely's +30 degrees appears clockwise on screen
    assert m.angle == pytest.approx(150)
    assert m.equivalent_diameter == pytest.approx(math.sqrt(1600 / math.pi))


def test_washer_measures_without_its_hole():
    washer = Point(50, 50).buffer(20, 64).difference(Point(50, 50).buffer(10, 64))
    m = measure(washer)
    assert m.area == pytest.approx(math.pi * 300, rel=0.01)
    assert m.centroid == pytest.approx((50, 50))
    assert m.bbox == pytest.approx((30, 30, 40, 40))
    assert m.length == pytest.approx(m.width, rel=0.01)


def test_millimetres():
    m = to_mm(measure(box(0, 0, 20, 10)), 0.5)
    assert m.unit == "mm"
    assert (m.area, m.length, m.width, m.perimeter) == pytest.approx((50, 10, 5, 30))
    assert m.bbox == pytest.approx((0, 0, 10, 5))


def test_empty_shape():
    from shapely.geometry import Polygon
    assert measure(Polygon()).area == 0
