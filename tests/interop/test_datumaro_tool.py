"""Datumaro 1.13 (the dataset framework behind CVAT, in a scratch environment) finds our COCO and
VOC (masks) exports where they are written, and reads every instance back at our pixels."""

import numpy as np
import pytest

from isegui.core.demo import create_demo_project
from isegui.core.formats.exporter import export_dataset
from isegui.core.geometry import rasterize
from tests.interop.conftest import run_in

DATUMARO_MASKS = r"""
import json, sys
from pathlib import Path
import numpy as np
import datumaro as dm
from datumaro.components.annotation import AnnotationType
from datumaro.components.environment import Environment
path = sys.argv[1]
formats = Environment().detect_dataset(path)
dataset = dm.Dataset.import_from(path, formats[0]).transform("polygons_to_masks")
names = dataset.categories()[AnnotationType.label]
items = {}
for item in dataset:
    masks, found = {}, []
    for ann in item.annotations:
        if ann.type != AnnotationType.mask:
            continue
        key = str(ann.attributes.get("instance_id", ann.group))  # COCO keeps ours; VOC: its value
        if key in masks:  # one polygon per part: an instance is their union
            masks[key] = masks[key] | ann.image.astype(bool)
        else:
            masks[key] = ann.image.astype(bool)
            found.append([key, names[ann.label].name])
    np.savez_compressed(Path(path) / f"{item.subset}-{Path(item.id).name}.npz", **masks)
    items[f"{item.subset}/{Path(item.id).name}"] = found
print(json.dumps({"version": dm.__version__, "formats": formats, "items": items}))
"""


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("parts") / "p"
    project = create_demo_project(folder, n_images=20, seed=11, width=512, height=384)
    yield project
    project.close()


@pytest.mark.parametrize("fmt, detected", [("coco", "coco_instances"),
                                           ("masks", "voc_instance_segmentation")])
def test_datumaro_finds_our_export_and_reads_every_instance(parts, datumaro_python, tmp_path,
                                                            fmt, detected):
    export_dataset(parts, fmt, tmp_path / "out")
    seen = run_in("datumaro", DATUMARO_MASKS, str(tmp_path / "out"))
    assert seen["version"].startswith("1.13") and seen["formats"][0] == detected
    names = {c.id: c.name for c in parts.store.classes()}
    checked = 0
    for record, instances in parts.store.iter_labeled():
        stem = record.path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        key = f"{record.split.value}/{stem}"
        theirs = np.load(tmp_path / "out" / f"{record.split.value}-{stem}.npz")
        classes = dict(seen["items"][key])
        # VOC keeps one label per pixel, so instances hidden under others may shrink there
        visible = _visible(instances, record) if fmt == "masks" else None
        assert len(classes) == len(instances)
        for inst in instances:
            ours = rasterize(inst.shape, record.height, record.width) if visible is None \
                else visible[inst.id]
            mask = theirs[str(inst.id)]
            assert classes[str(inst.id)] == names[inst.class_id]
            assert (ours & mask).sum() / (ours | mask).sum() >= 0.99
            checked += 1
    assert checked > 150


def _visible(instances, record) -> dict:
    """Each instance's pixels that no instance above it covers (the masks format's rule)."""
    owner = np.zeros((record.height, record.width), np.int64)
    for inst in sorted(instances, key=lambda i: (i.z, i.id)):
        owner[rasterize(inst.shape, record.height, record.width)] = inst.id
    return {inst.id: owner == inst.id for inst in instances}
