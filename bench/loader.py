"""Benchmark: the training data pipeline alone, without a model (issue 32).

    python bench/loader.py DIR [--size 512] [--tile 0|256|512] [--workers N] [--seconds S]
                           [--batch B] [--augment flip,color|all|none] [--out FILE]

Builds the dataset a run of project DIR would train on (its train split, the working scale
`isegui train DIR --size S --tile T` would choose, the training augmentations) and feeds it the
way the trainer does: the epoch's batches (EpochBatches), collate, a DataLoader with --workers
processes (persistent, as the trainer's), then the copy of each batch to the device (the CPU
here: a contiguous float copy, as a step would read it). Everything else a step does is left
out, so the figure is what the pipeline can give a model at most.

Prints one JSON object (and writes it to --out):
  images_per_s           items (whole images or tiles) per second over --seconds, after the
                         first batch (the workers' start and first decodes: first_batch_s)
  first_epoch_images_per_s / later_epochs_images_per_s  the same before and after the
                         first pass over the data (whole images are decoded once and cached)
  stages_ms              per item, in this process (no workers): read_decode (the file
                         decoded and scaled to the working scale), augment (the transforms
                         and the target), and per batch: collate, copy
  working_scale, items_per_epoch, workers, batch, machine (cores, load average before/after).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from isegui.core.working_scale import choose_working_scale  # noqa: E402
from isegui.ml.train.data import (InstanceDataset, collate, labeled_shapes,  # noqa: E402
                                  sample_sizes, snapshot)
from isegui.ml.train.distributed import EpochBatches  # noqa: E402
from isegui.ml.train.spec import AugmentConfig  # noqa: E402
from isegui.ml.train.tile_data import TiledDataset, training_dataset  # noqa: E402

STAGE_ITEMS = 12  # items timed stage by stage in this process


def copy_batch(images: tuple[torch.Tensor, ...], device: torch.device) -> torch.Tensor:
    """What a step reads first: the batch on the device, as one contiguous float tensor."""
    return torch.stack([im.to(device, non_blocking=True) for im in images]).contiguous()


def stage_times(dataset, batch: int, device: torch.device) -> dict[str, float]:
    """Milliseconds per item for reading and decoding, and for augmenting; per batch for
    collate and copy: measured here, one item after the other."""
    read, augment, items = [], [], []
    for index in range(min(STAGE_ITEMS, len(dataset))):
        start = time.perf_counter()
        if isinstance(dataset, InstanceDataset):
            dataset._cache.pop(index, None)  # the decode itself, not the cache
            dataset.prepared(index)
        elif isinstance(dataset, TiledDataset):
            frame, _ = dataset.plan(0)[index]
            dataset.frames._open.pop(frame, None)  # mapped again from the decoded file
            dataset.frames[frame]
        read.append(time.perf_counter() - start)
        start = time.perf_counter()
        items.append(dataset[(0, index)])
        augment.append(time.perf_counter() - start)
    start = time.perf_counter()
    images, _ = collate(items[:batch])
    collate_s = time.perf_counter() - start
    start = time.perf_counter()
    copy_batch(images, device)
    copy_s = time.perf_counter() - start
    return {"read_decode": round(1000 * statistics.median(read), 2),
            "augment": round(1000 * statistics.median(augment), 2),
            "collate_per_batch": round(1000 * collate_s, 3),
            "copy_per_batch": round(1000 * copy_s, 3)}


def throughput(dataset, batch: int, workers: int, seconds: float,
               device: torch.device) -> dict[str, float | None]:
    """Items per second through the trainer's loader for `seconds`, epoch after epoch."""
    batches = EpochBatches(len(dataset), batch, seed=0)
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=batches, collate_fn=collate,
                                         num_workers=workers, persistent_workers=workers > 0)
    start = time.perf_counter()
    first_batch_s = None
    counted, counted_start = 0, None
    per_epoch: list[tuple[int, float]] = []
    epoch = 0
    while time.perf_counter() - start < seconds:
        batches.set_epoch(epoch)
        epoch_start, epoch_items = time.perf_counter(), 0
        for images, _ in loader:
            copy_batch(images, device)
            now = time.perf_counter()
            if first_batch_s is None:
                first_batch_s, counted_start = now - start, now
            else:
                counted += len(images)
            epoch_items += len(images)
            if now - start >= seconds:
                break
        per_epoch.append((epoch_items, time.perf_counter() - epoch_start))
        epoch += 1
    span = time.perf_counter() - counted_start if counted_start is not None else 0.0
    later = per_epoch[1:] if len(per_epoch) > 1 else []
    return {"images_per_s": round(counted / span, 2) if span > 0 else None,
            "first_batch_s": round(first_batch_s, 2) if first_batch_s is not None else None,
            "first_epoch_images_per_s": round(per_epoch[0][0] / per_epoch[0][1], 2)
            if per_epoch and per_epoch[0][1] > 0 else None,
            "later_epochs_images_per_s": round(sum(n for n, _ in later)
                                               / sum(s for _, s in later), 2)
            if later and sum(s for _, s in later) > 0 else None,
            "epochs": len(per_epoch)}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir", type=Path, help="a project folder")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--tile", type=int, help="0: whole images; default: as a run chooses")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--augment", default="flip,color", help="as isegui train --augment")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    load_before = os.getloadavg()
    data = snapshot(args.dir)
    working = choose_working_scale(sample_sizes(data.train + data.val), args.size, args.tile,
                                   None, labeled_shapes(data))
    dataset = training_dataset(data.train, working, AugmentConfig.parse(args.augment), seed=0)
    device = torch.device("cpu")
    result = {"bench": "loader", "project": str(args.dir), "working_scale": working.as_dict(),
              "items_per_epoch": len(dataset), "workers": args.workers, "batch": args.batch,
              "augment": args.augment, "seconds": args.seconds,
              "stages_ms": stage_times(dataset, args.batch, device),
              **throughput(dataset, args.batch, args.workers, args.seconds, device),
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                          "torch": torch.__version__, "loadavg_before": load_before,
                          "loadavg_after": os.getloadavg()}}
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return result


if __name__ == "__main__":
    main()
