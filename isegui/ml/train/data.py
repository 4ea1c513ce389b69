"""Training data: a snapshot of the project's labels, and a dataset that turns it into the
(image, target) pairs torchvision's detection models take, augmented jointly."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeAlias

import numpy as np
import torch
from shapely import affinity
from torchvision import tv_tensors
from torchvision.ops import masks_to_boxes

from isegui.core.entities import ImageStatus, Split
from isegui.core.errors import ImageReadError
from isegui.core.geometry import Shape, bounds_window, rasterize
from isegui.core.images import load_image
from isegui.core.project import Project
from isegui.core.working_scale import LabeledShapes, ObjectSizes, object_sizes
from isegui.ml.infer.detection import prepare_image
from isegui.ml.train.spec import AugmentConfig
from isegui.ml.train.transforms import Augment, build_augment

Target: TypeAlias = dict[str, torch.Tensor]  # boxes, labels, masks, image_id
TrainingItem: TypeAlias = tuple[torch.Tensor, Target]  # an image (0..1) and its target
# (epoch, index) from EpochBatches, so worker processes replay the right epoch; or an index
ItemKey: TypeAlias = int | tuple[int, int]
# a sample at training scale: (pixels, [(origin, mask window)], labels)
Prepared: TypeAlias = tuple[np.ndarray, list[tuple[tuple[int, int], np.ndarray]], list[int]]


class TrainingData(Protocol):
    """What training takes from a dataset (InstanceDataset, tile_data.TiledDataset)."""

    def __len__(self) -> int: ...

    def __getitem__(self, item: ItemKey) -> TrainingItem: ...


@dataclass(frozen=True)
class Sample:
    """One labeled image as training sees it: shapes in image pixels, classes 1..C."""
    image_id: int
    path: Path
    width: int
    height: int
    labels: tuple[int, ...]
    shapes: tuple[Shape, ...]
    ignore: tuple[Shape, ...] = ()  # regions to ignore (crowd): left out of training


def sample_pixels(sample: Sample) -> np.ndarray:
    """The sample's image, as load_image gives it; ImageReadError naming the file when it is
    no longer the size the project knew (replaced, or turned, since it was labeled: its
    labels would be drawn in another frame, and evaluating it would fail in numpy's words)."""
    pixels = load_image(sample.path)
    height, width = pixels.shape[:2]
    if (width, height) != (sample.width, sample.height):
        raise ImageReadError(sample.path, f"is {width}x{height}, the project knew it as "
                                          f"{sample.width}x{sample.height}: replaced or turned "
                                          "since it was labeled? (isegui validate lists them)")
    return pixels


@dataclass(frozen=True)
class DataSnapshot:
    classes: list[str]
    train: list[Sample]
    val: list[Sample]
    validation: str  # how validation was chosen, in words for the run's record
    notes: tuple[str, ...] = ()


def read_samples(project_folder: Path, classes: list[str] | None = None
                 ) -> tuple[list[str], dict[Split, list[Sample]], tuple[str, ...]]:
    """(classes, labeled samples by split, notes) read once from the project, which may change
    while training runs. `classes` fixes the class order (resuming, evaluating a run);
    instances of other classes are left out and said so. Unlabeled images are left out."""
    with Project.open(project_folder, read_only=True) as project, project.store.snapshot():
        # one moment of the project: a team may be labeling while this reads
        names = {c.id: c.name for c in project.store.classes()}
        classes = list(classes) if classes is not None else [names[k] for k in sorted(names)]
        index = {name: k + 1 for k, name in enumerate(classes)}
        by_split: dict[Split, list[Sample]] = {s: [] for s in Split}
        dropped: dict[str, int] = {}
        for record, instances in project.store.iter_labeled():
            if record.status == ImageStatus.UNLABELED:
                continue  # not looked at yet: its missing objects are not "background"
            labels, shapes, ignore = [], [], []
            for inst in instances:
                name = None if inst.class_id is None else names.get(inst.class_id)
                if inst.crowd:
                    ignore.append(inst.shape)
                elif name in index:
                    labels.append(index[name])
                    shapes.append(inst.shape)
                else:
                    key = name or "(no class)"
                    dropped[key] = dropped.get(key, 0) + 1
            by_split[record.split].append(Sample(
                record.id, project.image_path(record.path), record.width, record.height,
                tuple(labels), tuple(shapes), tuple(ignore)))
    notes = tuple(f"{n} instances of {name} left out (not a class of this run)"
                  for name, n in sorted(dropped.items()))
    return classes, by_split, notes


def snapshot(project_folder: Path, classes: list[str] | None = None, val_fraction: float = 0.15,
             seed: int = 0) -> DataSnapshot:
    """The train and val samples of a run. Without a val split, a share of the train images
    is held out (or, with very few images, there is no validation; the snapshot says which)."""
    classes, by_split, notes = read_samples(project_folder, classes)
    train, val = by_split[Split.TRAIN], by_split[Split.VAL]
    if val:
        validation = f"the val split ({len(val)} images)"
    elif len(train) >= 5 and val_fraction > 0:
        order = list(range(len(train)))
        random.Random(seed).shuffle(order)
        n = max(1, round(val_fraction * len(train)))
        held = set(order[:n])
        val = [s for k, s in enumerate(train) if k in held]
        train = [s for k, s in enumerate(train) if k not in held]
        validation = f"a hold-out of {n} train images (the project has no val split)"
    else:
        validation = "none (no val split, and too few images to hold some out)"
    return DataSnapshot(classes, train, val, validation, notes)


def sample_sizes(samples: list[Sample]) -> ObjectSizes:
    """How wide the samples' objects are, against their images' long sides (core's rule for
    choosing the working scale)."""
    return object_sizes((max(s.width, s.height), s.shapes) for s in samples)


def labeled_shapes(data: DataSnapshot) -> LabeledShapes:
    """The labels and shapes of a run's train and val images (core's rule for blob classes)."""
    return LabeledShapes(data.classes, [(s.labels, s.shapes) for s in data.train + data.val])


class InstanceDataset(torch.utils.data.Dataset[TrainingItem]):
    """Samples scaled so their long side is at most `size`, masks rasterised once by core's
    rasteriser and cached as small windows, augmented jointly per epoch.

    Augmentation is seeded by (seed, epoch, index): an epoch replays exactly, which is what
    makes resuming a cancelled run continue where it stopped."""

    def __init__(self, samples: list[Sample], size: int, augment: AugmentConfig | None = None,
                 seed: int = 0, cache_images: bool = True):
        self.samples = samples
        self.size = size
        self.augment = build_augment(augment) if augment else None
        self.seed = seed
        self.epoch = 0
        self.cache_images = cache_images
        self._cache: dict[int, Prepared] = {}

    def __len__(self) -> int:
        return len(self.samples)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def prepared(self, index: int) -> Prepared:
        """(image at training scale, [(origin, mask window)], labels), cached."""
        if index in self._cache:
            return self._cache[index]
        sample = self.samples[index]
        pixels = prepare_image(sample_pixels(sample))
        scale = min(1.0, self.size / max(sample.width, sample.height))
        if scale < 1.0:
            import cv2
            # a pixel at least: a line-scan strip of 8192 x 8 would come to 0 px high
            pixels = cv2.resize(pixels, (max(1, round(sample.width * scale)),
                                         max(1, round(sample.height * scale))),
                                interpolation=cv2.INTER_AREA)
        h, w = pixels.shape[:2]
        windows = []
        for shape in sample.shapes:
            scaled = affinity.scale(shape, scale, scale, origin=(0, 0)) if scale < 1 else shape
            x0, y0, x1, y1 = bounds_window(scaled, h, w)
            windows.append(((x0, y0), rasterize(scaled, y1 - y0, x1 - x0, origin=(x0, y0))))
        entry = (pixels, windows, list(sample.labels))
        if self.cache_images:
            self._cache[index] = entry
        return entry

    def __getitem__(self, item: ItemKey) -> TrainingItem:
        epoch, index = item if isinstance(item, tuple) else (self.epoch, item)
        pixels, windows, labels = self.prepared(index)
        h, w = pixels.shape[:2]
        masks = torch.zeros((len(windows), h, w), dtype=torch.uint8)
        for k, ((x0, y0), window) in enumerate(windows):
            wh, ww = window.shape
            masks[k, y0:y0 + wh, x0:x0 + ww] = torch.from_numpy(window)
        return training_pair(pixels, masks, labels, self.augment, (self.seed, epoch, index))


def training_pair(pixels: np.ndarray, masks: torch.Tensor, labels: list[int],
                  augment: Augment | None, key: tuple[int, int, int]) -> TrainingItem:
    """(image 0..1, target) of RGB uint8 `pixels` and its instance masks, augmented jointly
    by `augment` (or not, None) with a seed fixed by `key` (seed, epoch, index), so an epoch
    replays exactly."""
    image = tv_tensors.Image(torch.from_numpy(pixels).permute(2, 0, 1))
    masks = tv_tensors.Mask(masks)
    if augment is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(hash(key) & 0x7FFF_FFFF)
            image, masks = augment(image, masks)
    return image.float().div(255.0), target_from_masks(masks, labels, key[2])


def target_from_masks(masks: torch.Tensor, labels: list[int], index: int) -> Target:
    """Boxes recomputed from the (augmented) masks; instances left without pixels dropped."""
    masks = masks.as_subclass(torch.Tensor).to(torch.uint8)
    keep = masks.flatten(1).any(dim=1).bool() if len(masks) else torch.zeros(0, dtype=torch.bool)
    masks = masks[keep]
    labels_t = torch.tensor(labels, dtype=torch.int64)[keep] if len(labels) else \
        torch.zeros(0, dtype=torch.int64)
    boxes = masks_to_boxes(masks) if len(masks) else torch.zeros((0, 4))
    boxes[:, 2:] += 1  # pixel edges: a one-pixel mask has a box one pixel wide
    return {"boxes": boxes.float(), "labels": labels_t, "masks": masks,
            "image_id": torch.tensor(index)}


def collate(batch: list[TrainingItem]) -> tuple[tuple[Any, ...], ...]:
    """(images, targets) of a batch, as torchvision's detection models take them."""
    return tuple(zip(*batch))
