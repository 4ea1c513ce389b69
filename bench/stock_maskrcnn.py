"""The baseline the fast model is compared with: torchvision's stock `maskrcnn_resnet50_fpn`
trained as torchvision's detection tutorial trains it (SGD lr 0.005, momentum 0.9, weight
decay 5e-4, batch 2, horizontal flips, linear warm-up over the first 1000 steps, the model's own
transform), from scratch because nothing may be downloaded. Benchmark-only: never a
registered model of the app."""

from __future__ import annotations

import time
from pathlib import Path

import torch

NAME = "stock"


def build(num_classes: int):
    from torchvision.models.detection import maskrcnn_resnet50_fpn
    return maskrcnn_resnet50_fpn(weights=None, weights_backbone=None,
                                 num_classes=num_classes + 1)


def train(project: Path, minutes: float, out: Path) -> dict:
    """Train on the project's labeled images for `minutes` of wall-clock; save a checkpoint
    dict the benchmark's evaluation loads with `model_from_checkpoint`-like code."""
    from isegui.core.entities import Split
    from isegui.ml.train.data import InstanceDataset, collate, read_samples
    from isegui.ml.train.spec import AugmentConfig
    classes, by_split, _ = read_samples(project)
    dataset = InstanceDataset(by_split[Split.TRAIN], 10_000,  # the model resizes itself
                              AugmentConfig(rotate=0.0, flip=True, scale=(1.0, 1.0),
                                            color=0.0))
    model = build(len(classes)).train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=0.005, momentum=0.9, weight_decay=0.0005)
    torch.manual_seed(0)
    step, epoch, images = 0, 0, 0
    start = time.perf_counter()
    while time.perf_counter() - start < minutes * 60:
        dataset.set_epoch(epoch)
        loader = torch.utils.data.DataLoader(dataset, batch_size=2, shuffle=True,
                                             collate_fn=collate, num_workers=0)
        for batch_images, targets in loader:
            if time.perf_counter() - start >= minutes * 60:
                break
            warm = min(1.0, 0.001 + step / 1000)
            for group in optimizer.param_groups:
                group["lr"] = 0.005 * warm
            losses = model(list(batch_images), list(targets))
            loss = sum(losses.values())
            optimizer.zero_grad()
            if torch.isfinite(loss):
                loss.backward()
                optimizer.step()
            step += 1
            images += len(batch_images)
        epoch += 1
    seconds = time.perf_counter() - start
    torch.save({"classes": classes, "state_dict": model.state_dict()}, out)
    return {"seconds": round(seconds, 1), "steps": step, "epochs": epoch,
            "train_images_per_s": round(images / seconds, 3),
            "final_loss": round(float(loss), 4) if step else None}


def load(path: Path):
    from isegui.ml.model.checkpoint import read_weights_file  # the app's checks on any weights
    data = read_weights_file(path)
    model = build(len(data["classes"]))
    model.load_state_dict(data["state_dict"])
    return model, data["classes"]
