"""Training on tiles: each sample is a crop of `size` x `size` model pixels of a frame at the
working scale.

Most crops hold a labeled instance at a random place (instances of rare classes chosen more
often), the rest are background: half at random places clear of labels, half centred on what
looks most like a defect and is not labeled (ml.train.hard_negatives: dust, fibres,
reflections, a texture's strongest streaks), so that those are learned as background. An
instance cut by a crop keeps its visible part; a sliver too small to recognise
(core.tiling.crop_shape) is painted over with the crop's median colour, taught neither as an
object nor as background. Each frame is decoded and scaled once, written to a scratch folder as
a .npy file and memory-mapped from then on (by loader worker processes too): a 5-MP PNG is not
decoded per step. An epoch's plan is fixed by (seed, epoch), so a resumed run replays it."""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import weakref
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import torch
from shapely import affinity

from isegui.core.geometry import bounds_window, rasterize
from isegui.core.working_scale import WorkingScale
from isegui.core.tiling import crop_shape, window_around
from isegui.ml.train.hard_negatives import salient_places
from isegui.ml.train.data import (InstanceDataset, ItemKey, Sample, TrainingItem, sample_pixels,
                                  training_pair)
from isegui.ml.infer.detection import prepare_image
from isegui.ml.train.spec import AugmentConfig
from isegui.ml.train.transforms import build_augment

INSTANCE_SHARE = 0.75  # of the crops, those centred on a labeled instance; the rest background
BACKGROUND_TRIES = 12  # random places tried for a crop with no instance in it
HARD_SHARE = 0.5  # of the background crops, those centred on a hard negative (hard_negatives)


class FrameStore:
    """Frames at the working scale, decoded once into .npy files and memory-mapped."""

    def __init__(self, samples: list[Sample], scale: float):
        self.samples, self.scale = samples, scale
        self.folder = Path(tempfile.mkdtemp(prefix="isegui-frames-"))
        self._open: dict[int, np.ndarray] = {}
        # only the process that made the folder removes it (loader workers are forks)
        self._finalizer = weakref.finalize(self, _remove_folder, self.folder, os.getpid())

    def size(self, k: int) -> tuple[int, int]:
        """(width, height) of frame k at the working scale."""
        s = self.samples[k]
        return max(1, round(s.width * self.scale)), max(1, round(s.height * self.scale))

    def __getitem__(self, k: int) -> np.ndarray:
        if k not in self._open:
            path = self.folder / f"{k}.npy"
            if not path.exists():
                pixels = prepare_image(sample_pixels(self.samples[k]))
                if self.scale != 1.0:
                    pixels = cv2.resize(pixels, self.size(k), interpolation=cv2.INTER_AREA
                                        if self.scale < 1 else cv2.INTER_LINEAR)
                partial = path.with_name(f"{k}.{os.getpid()}.partial.npy")
                np.save(partial, pixels)
                os.replace(partial, path)
            self._open[k] = np.load(path, mmap_mode="r")
        return self._open[k]

    def close(self) -> None:
        self._open.clear()
        self._finalizer()


def _remove_folder(folder: Path, owner: int) -> None:
    if os.getpid() == owner:
        shutil.rmtree(folder, ignore_errors=True)


class TiledDataset(torch.utils.data.Dataset[TrainingItem]):
    """Crops of the training frames at `working` (a tiled working scale), augmented like
    InstanceDataset's images; items are (epoch, index) or an index (this epoch)."""

    def __init__(self, samples: list[Sample], working: WorkingScale,
                 augment: AugmentConfig | None = None, seed: int = 0, crop: int | None = None):
        self.samples, self.working, self.seed = samples, working, seed
        self.side = crop or working.size  # of a crop, in model pixels
        self.augment = build_augment(augment) if augment else None
        self.frames = FrameStore(samples, working.scale)
        self.epoch = 0
        side = self.side
        self.crops_per_frame = [max(1, round(w * h / side ** 2))
                                for w, h in map(self.frames.size, range(len(samples)))]
        k = working.scale
        # shapes and their bounds at the working scale, per frame
        self.shapes = [[affinity.scale(s, k, k, origin=(0, 0)) if k != 1 else s
                        for s in sample.shapes] for sample in samples]
        self.ignore = [[affinity.scale(s, k, k, origin=(0, 0)) if k != 1 else s
                        for s in sample.ignore] for sample in samples]
        self.bounds = [np.array([s.bounds for s in shapes], dtype=float).reshape(-1, 4)
                       for shapes in self.shapes]
        self._plans: dict[int, list[tuple[int, int]]] = {}
        self._hard: dict[int, np.ndarray] = {}  # per frame, made where first needed

    def __len__(self) -> int:
        return sum(self.crops_per_frame)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def plan(self, epoch: int) -> list[tuple[int, int]]:
        """(frame, instance or -1 for background) for each item of the epoch."""
        if epoch not in self._plans:
            rng = np.random.default_rng([self.seed, epoch])
            instances = [(f, j) for f, sample in enumerate(self.samples)
                         for j in range(len(sample.labels))]
            n = len(self)
            n_instance = round(INSTANCE_SHARE * n) if instances else 0
            plan = []
            if instances:
                counts = Counter(self.samples[f].labels[j] for f, j in instances)
                weights = np.array([1 / math.sqrt(counts[self.samples[f].labels[j]])
                                    for f, j in instances])
                chosen = rng.choice(len(instances), n_instance, p=weights / weights.sum())
                plan += [instances[c] for c in chosen.tolist()]
            areas = np.array(self.crops_per_frame, dtype=float)
            plan += [(int(f), -1) for f in rng.choice(len(self.samples), n - n_instance,
                                                      p=areas / areas.sum()).tolist()]
            self._plans = {epoch: plan}  # one epoch at a time
        return self._plans[epoch]

    def __getitem__(self, item: ItemKey) -> TrainingItem:
        epoch, index = item if isinstance(item, tuple) else (self.epoch, item)
        frame_index, instance = self.plan(epoch)[index]
        rng = np.random.default_rng([self.seed, epoch, index, 1])
        frame = self.frames[frame_index]
        x0, y0 = self._place(frame_index, instance, rng)
        side = self.side
        pixels = np.array(frame[y0:y0 + side, x0:x0 + side])  # a copy off the memory map
        masks, labels = self._targets(frame_index, (x0, y0), pixels)
        return training_pair(pixels, masks, labels, self.augment, (self.seed, epoch, index))

    def _place(self, f: int, instance: int, rng: np.random.Generator) -> tuple[int, int]:
        width, height = self.frames.size(f)
        side = self.side
        if instance >= 0:
            return window_around(tuple(self.bounds[f][instance]), side, width, height, rng)
        bounds = self.bounds[f]
        if rng.random() < HARD_SHARE:
            places = self._hard_places(f)
            if len(places):
                x, y = places[int(rng.integers(len(places)))]
                jitter = rng.integers(-side // 4, side // 4 + 1, size=2)
                return (int(np.clip(x - side // 2 + jitter[0], 0, max(0, width - side))),
                        int(np.clip(y - side // 2 + jitter[1], 0, max(0, height - side))))
        for _ in range(BACKGROUND_TRIES):
            x0 = int(rng.integers(0, max(0, width - side) + 1))
            y0 = int(rng.integers(0, max(0, height - side) + 1))
            clear = not len(bounds) or not np.any(
                (bounds[:, 0] < x0 + side) & (bounds[:, 2] > x0) &
                (bounds[:, 1] < y0 + side) & (bounds[:, 3] > y0))
            if clear:
                break
        return x0, y0

    def _hard_places(self, f: int) -> np.ndarray:
        """Frame f's hard negatives, found once per run and kept beside its pixels (loader
        processes start afresh each epoch; 0.6 s a 5-MP frame is not to be paid each time)."""
        if f not in self._hard:
            path = self.frames.folder / f"{f}.hard.npy"
            if path.exists():
                self._hard[f] = np.load(path)
            else:
                self._hard[f] = salient_places(np.asarray(self.frames[f]), self.bounds[f])
                partial = path.with_name(f"{f}.hard.{os.getpid()}.partial.npy")
                np.save(partial, self._hard[f])
                os.replace(partial, path)
        return self._hard[f]

    def _targets(self, f: int, origin: tuple[int, int],
                 pixels: np.ndarray) -> tuple[torch.Tensor, list[int]]:
        """Masks and labels of the instances the crop sees; slivers and regions to ignore
        painted over in `pixels` (in place)."""
        h, w = pixels.shape[:2]
        side = self.side
        masks, labels, hidden = [], [], []
        for shape, label in zip(self.shapes[f], self.samples[f].labels):
            local, kept = crop_shape(shape, origin, side, 1.0)
            if local is None:
                continue
            if kept:
                masks.append(rasterize(local, h, w))
                labels.append(label)
            else:
                hidden.append(local)
        for shape in self.ignore[f]:
            local, _ = crop_shape(shape, origin, side, 1.0)
            if local is not None:
                hidden.append(local)
        if hidden:
            fill = np.median(pixels.reshape(-1, 3), axis=0).astype(np.uint8)
            for local in hidden:
                bx0, by0, bx1, by1 = bounds_window(local, h, w)
                if bx1 > bx0 and by1 > by0:
                    inside = rasterize(local, by1 - by0, bx1 - bx0, origin=(bx0, by0))
                    pixels[by0:by1, bx0:bx1][inside] = fill
        stack = torch.from_numpy(np.stack(masks).astype(np.uint8)) if masks else \
            torch.zeros((0, h, w), dtype=torch.uint8)
        return stack, labels


def training_dataset(samples: list[Sample], working: WorkingScale,
                     augment: AugmentConfig | None, seed: int,
                     crop: int | None = None) -> InstanceDataset | TiledDataset:
    """The dataset of a run at its working scale: tiles (crops of `crop` px, default the
    tile size), or whole images resized."""
    if working.tiled:
        return TiledDataset(samples, working, augment, seed, crop)
    return InstanceDataset(samples, working.size, augment, seed)
