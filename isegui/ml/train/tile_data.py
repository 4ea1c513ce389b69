"""Training on tiles: each sample is a crop of `size` x `size` model pixels of a frame at the
working scale.

Most crops hold a labeled instance at a random place (instances of rare classes chosen more
often), the rest are background: half at random places clear of labels, half centred on what
looks most like a defect and is not labeled (ml.train.hard_negatives: dust, fibres,
reflections, a texture's strongest streaks), so that those are learned as background. Once
validation has run, half the background crops go where the model itself was wrong on training
frames instead (`TiledDataset.mine`), frames with more mistakes more often. An
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
import time
import weakref
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from shapely import affinity

from isegui.core.errors import UnsafePathError
from isegui.core.geometry import bounds_window, rasterize
from isegui.core.store.lock import ProjectLock
from isegui.core.working_scale import WorkingScale
from isegui.core.tiling import crop_shape, window_around
from isegui.ml.train.hard_negatives import mistaken_places, salient_places
from isegui.ml.train.data import (InstanceDataset, ItemKey, Sample, TrainingItem, sample_pixels,
                                  training_pair)
from isegui.ml.infer.detection import Detection, prepare_image
from isegui.ml.train.spec import AugmentConfig
from isegui.ml.train.transforms import build_augment

INSTANCE_SHARE = 0.75  # of the crops, those centred on a labeled instance; the rest background
BACKGROUND_TRIES = 12  # random places tried for a crop with no instance in it
HARD_SHARE = 0.5  # of the background crops, those centred on a hard negative (hard_negatives)
MINED_SHARE = 0.5  # of the background crops, those on the model's own mistakes once it has any
MINED_FRAMES = 4  # training frames predicted, in turn, each time the model's mistakes are mined
MISTAKES_FILE = "mistakes.npz"  # beside the frames: loader processes read it each epoch


FRAMES_PREFIX = "isegui-frames-"  # a run's decoded frames, in the system's temporary folder
OWNER_LOCK = "owner.lock"  # held by the process that made the folder, freed by the OS at exit
ABANDONED_AFTER_S = 60  # a folder younger than this may be another run's, not yet locked


class FrameStore:
    """Frames at the working scale, decoded once into .npy files and memory-mapped. The
    folder is removed when the store is closed or collected, or, where that could not be (a
    killed run; Windows, which keeps a mapped file), by the next store made on the PC."""

    def __init__(self, samples: list[Sample], scale: float):
        self.samples, self.scale = samples, scale
        remove_abandoned_frames()
        self.folder = Path(tempfile.mkdtemp(prefix=FRAMES_PREFIX))
        self._open: dict[int, np.ndarray] = {}
        self._owner = ProjectLock(self.folder / OWNER_LOCK)
        self._owner.try_acquire()  # a new folder: nobody else holds it
        # only the process that made the folder removes it (loader workers are forks)
        self._finalizer = weakref.finalize(self, _remove_folder, self.folder, os.getpid(),
                                           self._owner, self._open)

    def size(self, k: int) -> tuple[int, int]:
        """(width, height) of frame k at the working scale."""
        s = self.samples[k]
        return max(1, round(s.width * self.scale)), max(1, round(s.height * self.scale))

    def __getitem__(self, k: int) -> np.ndarray:
        if k not in self._open:
            path = self.folder / f"{k}.npy"
            if not path.exists():
                self._decode(k, path)
            self._open[k] = np.load(path, mmap_mode="r")
        return self._open[k]

    def _decode(self, k: int, path: Path) -> None:
        pixels = prepare_image(sample_pixels(self.samples[k]))
        if self.scale != 1.0:
            pixels = cv2.resize(pixels, self.size(k), interpolation=cv2.INTER_AREA
                                if self.scale < 1 else cv2.INTER_LINEAR)
        partial = path.with_name(f"{k}.{os.getpid()}.partial.npy")
        np.save(partial, pixels)
        publish_once(partial, path)

    def __getstate__(self) -> dict[str, Any]:
        """What a loader worker started by spawn (Windows) gets: the folder, with every frame
        decoded first, here, so that workers only read (two decoding one frame would replace
        a file the other has mapped, which Windows refuses); no lock, no clean-up."""
        for k in range(len(self.samples)):
            path = self.folder / f"{k}.npy"
            if not path.exists():
                self._decode(k, path)
        return {"samples": self.samples, "scale": self.scale, "folder": self.folder}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _open={}, _owner=None, _finalizer=None)

    def close(self) -> None:
        self._open.clear()
        if self._finalizer is not None:
            self._finalizer()


def publish_once(partial: Path, path: Path) -> None:
    """Move a written file into place unless another process put one there first (then
    drop this one: the frame is the same). POSIX renames over it; Windows refuses, which is
    the answer wanted, as a file another worker has mapped cannot be replaced there."""
    try:
        os.rename(partial, path)
    except FileExistsError:
        partial.unlink(missing_ok=True)


def _remove_folder(folder: Path, owner_pid: int, owner: ProjectLock,
                   open_frames: dict[int, np.ndarray]) -> None:
    if os.getpid() != owner_pid:
        return
    open_frames.clear()  # Windows removes no file this process still maps
    owner.release()
    shutil.rmtree(folder, ignore_errors=True)


def remove_abandoned_frames(temp: Path | None = None) -> list[Path]:
    """Remove frame folders whose run is gone (killed, or whose own clean-up Windows
    refused), known by their owner lock being free. Returns the folders removed."""
    removed = []
    for folder in Path(temp or tempfile.gettempdir()).glob(f"{FRAMES_PREFIX}*"):
        try:
            if (folder.is_symlink() or not (folder / OWNER_LOCK).is_file()
                    or time.time() - folder.stat().st_mtime < ABANDONED_AFTER_S):
                continue
            lock = ProjectLock(folder / OWNER_LOCK)
            if not lock.try_acquire():
                continue  # its run goes on
            lock.release()
        except (OSError, UnsafePathError):  # another user's, or a link: not ours to remove
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


class TiledDataset(torch.utils.data.Dataset[TrainingItem]):
    """Crops of the training frames at `working` (a tiled working scale), augmented like
    InstanceDataset's images; items are (epoch, index) or an index (this epoch)."""

    def __init__(self, samples: list[Sample], working: WorkingScale,
                 augment: AugmentConfig | None = None, seed: int = 0, crop: int | None = None):
        self.samples, self.working, self.seed = samples, working, seed
        self.side = crop or working.size  # of a crop, in model pixels
        # lighting too: defects on tiles are told by their contrast, not their level
        self.augment = build_augment(augment, lighting=True) if augment else None
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
        self._mistakes: dict[int, np.ndarray] = {}  # per frame mined, as of _mistakes_epoch
        self._mistakes_epoch = -1
        self._mined = 0  # frames mined so far: the next ones are mined next

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
        if instance >= 0:
            width, height = self.frames.size(frame_index)
            x0, y0 = window_around(tuple(self.bounds[frame_index][instance]), self.side,
                                   width, height, rng)
        else:
            frame_index, (x0, y0) = self._background(frame_index, epoch, rng)
        frame = self.frames[frame_index]
        side = self.side
        pixels = np.array(frame[y0:y0 + side, x0:x0 + side])  # a copy off the memory map
        masks, labels = self._targets(frame_index, (x0, y0), pixels)
        return training_pair(pixels, masks, labels, self.augment, (self.seed, epoch, index))

    def _background(self, f: int, epoch: int, rng: np.random.Generator
                    ) -> tuple[int, tuple[int, int]]:
        """A background crop's frame and place: on a mistake of the model (any frame's, by
        their count), a hard negative of frame f, or a random place of f clear of labels."""
        mistakes = self._mistakes_as_of(epoch)
        if mistakes and rng.random() < MINED_SHARE:
            frames = sorted(mistakes)
            counts = np.array([len(mistakes[k]) for k in frames], dtype=float)
            f = frames[int(rng.choice(len(frames), p=counts / counts.sum()))]
            places = mistakes[f]
            return f, self._centred(f, places[int(rng.integers(len(places)))], rng)
        if rng.random() < HARD_SHARE:
            places = self._hard_places(f)
            if len(places):
                return f, self._centred(f, places[int(rng.integers(len(places)))], rng)
        width, height = self.frames.size(f)
        side, bounds = self.side, self.bounds[f]
        for _ in range(BACKGROUND_TRIES):
            x0 = int(rng.integers(0, max(0, width - side) + 1))
            y0 = int(rng.integers(0, max(0, height - side) + 1))
            clear = not len(bounds) or not np.any(
                (bounds[:, 0] < x0 + side) & (bounds[:, 2] > x0) &
                (bounds[:, 1] < y0 + side) & (bounds[:, 3] > y0))
            if clear:
                break
        return f, (x0, y0)

    def _centred(self, f: int, place: np.ndarray, rng: np.random.Generator
                 ) -> tuple[int, int]:
        """A crop of frame f holding `place` (x, y), a quarter crop off centre at most."""
        width, height = self.frames.size(f)
        side = self.side
        jitter = rng.integers(-side // 4, side // 4 + 1, size=2)
        return (int(np.clip(place[0] - side // 2 + jitter[0], 0, max(0, width - side))),
                int(np.clip(place[1] - side // 2 + jitter[1], 0, max(0, height - side))))

    def mine(self, predict: Callable[[list[np.ndarray]], list[list[Detection]]],
             frames: int = MINED_FRAMES) -> int:
        """Predict the next `frames` training frames (all in turn, mining after mining;
        `predict`: images to their detections) and keep where each is wrong: sure detections
        clear of its labels and regions to ignore (hard_negatives.mistaken_places). Written
        beside the frames, where loader processes read it at their next epoch. Returns how
        many places the frames gave."""
        order = np.random.default_rng([self.seed, 2]).permutation(len(self.samples))
        k, found = self.working.scale, 0
        for turn in range(self._mined, self._mined + min(frames, len(order))):
            f = int(order[turn % len(order)])
            detections = predict([sample_pixels(self.samples[f])])[0]
            centres = np.array([((d.box[0] + d.box[2]) * k / 2, (d.box[1] + d.box[3]) * k / 2)
                                for d in detections], dtype=float).reshape(-1, 2)
            avoid = np.concatenate([self.bounds[f], np.array(
                [s.bounds for s in self.ignore[f]], dtype=float).reshape(-1, 4)])
            places = mistaken_places(centres, np.array([d.score for d in detections]), avoid)
            self._mistakes.pop(f, None)
            if len(places):
                self._mistakes[f] = places
            found += len(places)
        self._mined += min(frames, len(order))
        path = self.frames.folder / MISTAKES_FILE
        partial = path.with_name(f"mistakes.{os.getpid()}.partial.npz")
        arrays: dict[str, Any] = {str(f): p for f, p in self._mistakes.items()}
        np.savez(partial, **arrays)
        try:
            os.replace(partial, path)
        except OSError:  # Windows: a loader process reading it; they keep the last ones
            partial.unlink(missing_ok=True)
        return found

    def _mistakes_as_of(self, epoch: int) -> dict[int, np.ndarray]:
        """The mined mistakes per frame as the epoch found them at its start (this process's
        first item of it): the file changes only between epochs."""
        if epoch != self._mistakes_epoch:
            self._mistakes_epoch = epoch
            path = self.frames.folder / MISTAKES_FILE
            if path.is_file():
                with np.load(path) as stored:
                    self._mistakes = {int(name): stored[name] for name in stored.files}
        return self._mistakes

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
