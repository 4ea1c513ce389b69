"""Blob thresholds calibrated on validation: a class cut where its masks fit its labels."""

from pathlib import Path

import numpy as np
from shapely.geometry import Point

from isegui.core.geometry import rasterize
from isegui.core.working_scale import TILES, WorkingScale
from isegui.ml.infer.tiled import BlobMap
from isegui.ml.train.calibrate import calibrate_cutoffs
from isegui.ml.train.data import Sample

CLASSES = ["pit", "stain"]


def _val_frame(k):
    """Two labeled pits of radius 8 that the map holds at 0.55 only in their middle (radius 4)
    and at 0.35 out to their rim, and a stain the map holds at 0.8 where it is."""
    pits = [Point(30 + 60 * j, 40).buffer(8) for j in range(2)]
    stain = Point(100, 100).buffer(15)
    sample = Sample(k, Path(f"val_{k}.png"), 160, 140, (1, 1, 2), (*pits, stain))
    stitched = BlobMap(2, 160, 140, 1.0)
    for pit in pits:
        stitched.probs[0][rasterize(pit, 140, 160)] = 0.35
        stitched.probs[0][rasterize(pit.centroid.buffer(4), 140, 160)] = 0.55
    stitched.probs[1][rasterize(stain, 140, 160)] = 0.8
    return sample, stitched


def test_each_blob_class_is_cut_where_its_validation_masks_fit_their_labels():
    samples, maps = zip(*(_val_frame(k) for k in range(2)))
    working = WorkingScale(TILES, 64, 1.0, blob_classes=("pit", "stain"))
    before = [m.detections(working, CLASSES, 0.05, 0.5) for m in maps]
    assert all(d.area < 0.3 * np.pi * 64 for found in before for d in found
               if d.class_name == "pit")  # cut at 0.5: a quarter of each pit
    calibrated, found, result = calibrate_cutoffs(samples, [[] for _ in maps], maps, working,
                                                  CLASSES, 0.05)
    # pits at the lowest cut that holds their rim; the stain, as good at any, stays at 0.5
    assert calibrated.blob_thresholds == (0.3, 0.5)
    assert result["mask_ap_per_class"]["pit"] > 0.9 and result["mask_map"] > 0.9
    assert sum(d.class_name == "pit" for f in found for d in f) == 4
