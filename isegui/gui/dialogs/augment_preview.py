"""Augmented samples of the image on screen, as training will see them (image and masks
transformed together): whole images at the input size, or, when the run would work on tiles,
the tiles it cuts from the frame at its scale, around the labeled objects as training does."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QDialog, QGridLayout, QLabel

from isegui.core.entities import default_color

SAMPLES = 6
SIZE = 320


def augmented_samples(document, classes, augment_text: str, count: int = SAMPLES,
                      working=None):
    """RGB uint8 arrays of `count` augmented versions of the document's image (training tiles
    when `working`, a WorkingScale, is tiled), each with its transformed instance masks
    tinted in their class colour."""
    from isegui.ml.train.data import InstanceDataset, Sample
    from isegui.ml.train.spec import AugmentConfig
    from isegui.ml.train.tile_data import TiledDataset
    index = {c.id: k + 1 for k, c in enumerate(classes)}
    colors = {k + 1: c.color for k, c in enumerate(classes)}
    objects = [i for i in document.instances() if not i.crowd and i.class_id in index]
    sample = Sample(document.image_id, document.session.project.image_path(document.record.path),
                    document.record.width, document.record.height,
                    tuple(index[i.class_id] for i in objects), tuple(i.shape for i in objects))
    augment = AugmentConfig.parse(augment_text)
    tiles = TiledDataset([sample], working, augment, seed=1) \
        if working is not None and working.tiled else None
    dataset = tiles or InstanceDataset([sample], SIZE, augment, seed=1)
    out = []
    for epoch in range(count):
        item = 0
        if tiles is not None:  # a crop around a labeled object where the epoch has one
            item = next((k for k, (_, j) in enumerate(tiles.plan(epoch)) if j >= 0), 0)
        image, target = dataset[(epoch, item)]
        rgb = (image.permute(1, 2, 0).numpy() * 255).astype(np.float32)
        for mask, label in zip(target["masks"].numpy().astype(bool), target["labels"].tolist()):
            tint = np.array([int(colors.get(label, default_color(label))[i:i + 2], 16)
                             for i in (1, 3, 5)], np.float32)
            rgb[mask] = 0.55 * rgb[mask] + 0.45 * tint
        out.append(np.ascontiguousarray(rgb.clip(0, 255).astype(np.uint8)))
    if tiles is not None:
        tiles.frames.close()  # the frame decoded for the tiles, removed
    return out


class AugmentPreviewDialog(QDialog):
    def __init__(self, document, classes, augment_text: str, parent=None, working=None):
        super().__init__(parent)
        tiled = working is not None and working.tiled
        self.setWindowTitle(f"Augmentation: {augment_text}" + (
            f" — training tiles of {working.size} px at scale {working.scale:g}" if tiled
            else f" — whole image at {SIZE} px"))
        grid = QGridLayout(self)
        self.images = augmented_samples(document, classes, augment_text, working=working)
        for k, rgb in enumerate(self.images):
            h, w = rgb.shape[:2]
            label = QLabel()
            label.setPixmap(QPixmap.fromImage(
                QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()))
            grid.addWidget(label, k // 3, k % 3)
