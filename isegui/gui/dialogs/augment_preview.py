"""Augmented samples of the image on screen, as training will see them (image and masks
transformed together)."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QDialog, QGridLayout, QLabel

from isegui.core.entities import default_color

SAMPLES = 6
SIZE = 320


def augmented_samples(document, classes, augment_text: str, count: int = SAMPLES):
    """RGB uint8 arrays of `count` augmented versions of the document's image, each with its
    transformed instance masks tinted in their class colour."""
    from isegui.ml.train.data import InstanceDataset, Sample
    from isegui.ml.train.spec import AugmentConfig
    index = {c.id: k + 1 for k, c in enumerate(classes)}
    colors = {k + 1: c.color for k, c in enumerate(classes)}
    objects = [i for i in document.instances() if not i.crowd and i.class_id in index]
    sample = Sample(document.image_id, document.session.project.image_path(document.record.path),
                    document.record.width, document.record.height,
                    tuple(index[i.class_id] for i in objects), tuple(i.shape for i in objects))
    dataset = InstanceDataset([sample], SIZE, AugmentConfig.parse(augment_text), seed=1)
    out = []
    for epoch in range(count):
        image, target = dataset[(epoch, 0)]
        rgb = (image.permute(1, 2, 0).numpy() * 255).astype(np.float32)
        for mask, label in zip(target["masks"].numpy().astype(bool), target["labels"].tolist()):
            tint = np.array([int(colors.get(label, default_color(label))[i:i + 2], 16)
                             for i in (1, 3, 5)], np.float32)
            rgb[mask] = 0.55 * rgb[mask] + 0.45 * tint
        out.append(np.ascontiguousarray(rgb.clip(0, 255).astype(np.uint8)))
    return out


class AugmentPreviewDialog(QDialog):
    def __init__(self, document, classes, augment_text: str, parent=None):
        super().__init__(parent)
        self.setWindowTitle(f"Augmentation: {augment_text}")
        grid = QGridLayout(self)
        self.images = augmented_samples(document, classes, augment_text)
        for k, rgb in enumerate(self.images):
            h, w = rgb.shape[:2]
            label = QLabel()
            label.setPixmap(QPixmap.fromImage(
                QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()))
            grid.addWidget(label, k // 3, k % 3)
