"""A few hundred bytes of JSON declaring a huge image (the attacker's fourth try): decoding
its RLE or filling its outline took gigabytes before the size was checked. A declared size
larger than any image isegui reads is refused at once, naming the file."""

from __future__ import annotations

import json

import pytest

from isegui.core.errors import FormatError
from isegui.core.formats import get_format
from isegui.core.formats.importer import _Lookup


def test_a_coco_file_declaring_a_huge_image_is_refused_before_decoding(tmp_path):
    doc = {"images": [{"id": 1, "file_name": "a.png", "width": 50_000, "height": 50_000}],
           "categories": [{"id": 1, "name": "x"}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1,
                            "segmentation": {"size": [50_000, 50_000],
                                             "counts": [2_500_000_000]}}]}
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(FormatError, match="larger than any image"):
        get_format("coco").read(path, _Lookup(tmp_path))


def test_a_labelme_file_declaring_a_huge_image_is_refused(tmp_path):
    doc = {"version": "5.0", "imagePath": "a.png", "imageWidth": 40_000,
           "imageHeight": 40_000, "isegui": {"polygons": "centre-outlines"},
           "shapes": [{"label": "x", "shape_type": "polygon",
                       "points": [[0, 0], [39_999, 0], [39_999, 39_999]]}]}
    path = tmp_path / "a.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(FormatError, match="larger than any image"):
        get_format("labelme").read(path, _Lookup(tmp_path))
