"""Assigning images to train / val / test."""

from __future__ import annotations

import random

from isegui.core.entities import Split
from isegui.core.project import Project


def assign_splits(project: Project, val: float, test: float = 0.0,
                  seed: int = 0) -> dict[Split, int]:
    """Shuffle the images (reproducibly for a seed) and give `val` and `test` their shares,
    the rest to train. Returns how many images each split holds."""
    if not (0 <= val < 1 and 0 <= test < 1 and val + test < 1):
        raise ValueError(f"val ({val}) and test ({test}) must be shares in [0, 1) that leave "
                         "some images for training")
    store = project.store
    images = sorted(store.images(), key=lambda r: r.path)
    order = list(range(len(images)))
    random.Random(seed).shuffle(order)
    n_val, n_test = round(val * len(images)), round(test * len(images))
    if val > 0 and n_val == 0 and len(images) >= 2:
        n_val = 1  # a wanted validation split never ends up empty
    if test > 0 and n_test == 0 and len(images) - n_val >= 2:
        n_test = 1
    if images and n_val + n_test >= len(images):  # rounding up on few images: none to train
        raise ValueError(f"val {val:g} and test {test:g} of {len(images)} images leave none "
                         "for training: give smaller shares")
    chosen = {Split.VAL: order[:n_val], Split.TEST: order[n_val:n_val + n_test],
              Split.TRAIN: order[n_val + n_test:]}
    with store.transaction():
        for split, picks in chosen.items():
            store.set_split([images[i].id for i in picks], split)
    return {split: len(picks) for split, picks in chosen.items()}
