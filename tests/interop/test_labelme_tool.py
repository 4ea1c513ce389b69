"""labelme 6 itself (its LabelFile and shape_to_mask, in a scratch environment) draws every
instance of our labelme export with exactly our pixels."""

import numpy as np

from isegui.core.demo import create_demo_project
from isegui.core.formats.exporter import export_dataset
from isegui.core.geometry import rasterize
from tests.interop.conftest import run_in

LABELME_MASKS = r"""
import json, sys
from pathlib import Path
import numpy as np
import labelme
from labelme.utils.shape import shape_to_mask
out = {}
for path in sorted(Path(sys.argv[1]).glob("*.json")):
    f = labelme.LabelFile(str(path))  # labelme's own reader: checks the image and its size
    doc = json.loads(path.read_text())
    height, width = doc["imageHeight"], doc["imageWidth"]
    masks = {}
    for shape in f.shapes:
        if shape["shape_type"] == "mask":  # as labelme.utils.shapes_to_label paints it
            mask = np.zeros((height, width), bool)
            (x1, y1), (x2, y2) = np.asarray(shape["points"]).astype(int)
            mask[y1:y2 + 1, x1:x2 + 1] = shape["mask"]
        else:
            mask = shape_to_mask((height, width), shape["points"], shape["shape_type"])
        key = str(shape["group_id"])
        masks[key] = masks.get(key, np.zeros_like(mask)) | mask
    np.savez_compressed(path.with_suffix(".npz"), **masks)
    out[path.stem] = {"kinds": [s["shape_type"] for s in f.shapes]}
print(json.dumps({"version": labelme.__version__, "files": out}))
"""


def test_labelme_draws_our_exported_instances_with_our_pixels(labelme_python, tmp_path):
    project = create_demo_project(tmp_path / "p", n_images=30, seed=9, width=512, height=384)
    try:
        export_dataset(project, "labelme", tmp_path / "out")
        seen = run_in("labelme", LABELME_MASKS, str(tmp_path / "out"))
        assert seen["version"].startswith("6.")
        ious, kinds = [], []
        for record, instances in project.store.iter_labeled():
            stem = record.path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
            drawn = np.load(tmp_path / "out" / f"{stem}.npz")
            kinds += seen["files"][stem]["kinds"]
            for inst in instances:
                ours = rasterize(inst.shape, record.height, record.width)
                theirs = drawn[str(inst.id)]
                ious.append((ours & theirs).sum() / (ours | theirs).sum())
    finally:
        project.close()
    assert len(ious) > 250
    assert min(ious) >= 0.95 and np.mean(np.array(ious) == 1.0) > 0.99
    assert kinds.count("polygon") > 0.8 * len(kinds)  # polygons stay polygons where they can
