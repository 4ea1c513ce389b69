import json

import numpy as np
import pytest
import torch
from pycocotools.coco import COCO

from isegui.cli import main
from isegui.ml.infer.detection import paste_in_box


def test_paste_fills_exactly_its_box():
    pasted = paste_in_box(np.ones((28, 28), np.float32), (10, 20, 40, 35), 100, 100)
    assert pasted.origin == (10, 20) and pasted.mask.shape == (15, 30) and pasted.mask.all()


def test_paste_agrees_with_torchvisions_full_image_paste():
    from torchvision.models.detection.roi_heads import paste_masks_in_image
    rng = np.random.default_rng(0)
    prob = (rng.random((28, 28)) > 0.3).astype(np.float32)
    prob = np.clip(np.asarray(torch.nn.functional.avg_pool2d(
        torch.from_numpy(prob)[None, None], 3, 1, 1))[0, 0], 0, 1)
    box = (12.3, 7.8, 67.1, 52.4)
    full = paste_masks_in_image(torch.from_numpy(prob)[None, None],
                                torch.tensor([box]), (80, 90))[0, 0].numpy() > 0.5
    ours = paste_in_box(prob, box, 80, 90).on((0, 0, 90, 80))
    assert (ours & full).sum() / (ours | full).sum() > 0.9


@pytest.mark.slow
def test_predict_writes_coco_that_pycocotools_loads_and_a_csv(tiny_project, tmp_path, capsys):
    assert main(["train", str(tiny_project), "--size", "128", "--epochs", "1", "--batch", "2",
                 "--max-steps", "2", "--device", "cpu", "--workers", "0"]) == 0
    assert main(["calibrate", str(tiny_project), "--mm-per-px", "0.2"]) == 0
    out, table = tmp_path / "pred.json", tmp_path / "pred.csv"
    assert main(["predict", str(tiny_project), "--threshold", "0.0", "--out", str(out),
                 "--csv", str(table), "--into-project", "--device", "cpu"]) == 0
    coco = COCO(str(out))
    assert len(coco.dataset["images"]) == 6
    anns = coco.dataset["annotations"]
    assert anns and all(0.0 <= a["score"] <= 1.0 for a in anns)
    first = anns[0]
    mask = coco.annToMask(first)
    assert mask.sum() == first["area"]
    x, y, w, h = first["bbox"]
    rows, cols = np.nonzero(mask)
    assert x - 1 <= cols.min() and cols.max() <= x + w + 1  # pasted inside its box
    header = table.read_text().splitlines()[0].split(",")
    assert header[:3] == ["image", "instance", "class"] and "area_mm2" in header
    import csv
    rows = list(csv.DictReader(table.open()))
    assert rows and all(float(r["mm_per_px"]) == 0.2 for r in rows)  # the scale it used
    from isegui.core.fileio import current_umask
    assert table.stat().st_mode & 0o777 == 0o666 & ~current_umask()  # not mkstemp's 0600
    from isegui.core.project import Project
    with Project.open(tiny_project, read_only=True) as project:
        stored = sum(len(project.store.predictions(r.id)) for r in project.store.images())
        labels = sum(len(project.store.instances(r.id)) for r in project.store.images())
    assert stored == len(anns) and labels > 0  # kept apart from the labels
    capsys.readouterr()
    assert main(["evaluate", str(tiny_project), "--json", "--device", "cpu"]) == 0
    report = capsys.readouterr().out
    result = json.loads(report[report.index("{"):])
    assert result["split"] == "val" and {"mask_map", "box_map", "confusion",
                                         "per_image"} <= set(result)
