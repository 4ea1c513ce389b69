"""Batch-norm statistics that match the weights they are used with.

Training normalises with each batch's own statistics; prediction uses the running averages
kept along the way. Early in a run from random weights the weights change faster than those
averages follow, so a model evaluated after a few hundred CPU steps normalises with statistics
of weights long gone, and finds nothing (measured: mask mAP 0.007 after a 5-minute run on the
demo, 0.28 for the same weights once the statistics were recomputed). Before a model is
validated or kept, its statistics are recomputed over training images ("precise BN"); training
then goes on from the running averages it had, so a resumed run still continues exactly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import torch
from torch import nn
from torchvision.ops import FrozenBatchNorm2d

from isegui.ml.model.blob_head import runs_detector, unresized_batch

if TYPE_CHECKING:
    from torchvision.models.detection import MaskRCNN

SETTLE_IMAGES = 32  # training images the statistics are recomputed over


class EpochSamples(Protocol):
    """Training samples by (epoch, index), augmented as that epoch sees them: what
    ml.train.data.TrainingData is (the model tier names no training type)."""

    def __len__(self) -> int: ...

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, Any]: ...


def backbone_batchnorms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """The trainable BatchNorm layers of a torchvision detection model's backbone and of its
    blob head (frozen ones, from pretrained weights, keep their statistics; the detector's
    heads here have none)."""
    # a model whose classes are all blob classes never runs its detector's backbone
    names = ("backbone", "blob_head") if runs_detector(model) else ("blob_head",)
    parts = [getattr(model, name, None) for name in names]
    return [m for part in parts if part is not None for m in part.modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def running_statistics(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of the backbone's BatchNorm buffers, by their state_dict names."""
    names = {id(m) for m in backbone_batchnorms(model)}
    return {f"{prefix}.{name}": buffer.detach().clone()
            for prefix, module in model.named_modules() if id(module) in names
            for name, buffer in module.named_buffers(recurse=False)}


def restore_statistics(model: nn.Module, saved: dict[str, torch.Tensor]) -> None:
    model.load_state_dict(saved, strict=False)


def settle_batchnorm(model: MaskRCNN, dataset: EpochSamples, epoch: int, batch_size: int,
                     device: torch.device, images: int = SETTLE_IMAGES
                     ) -> dict[str, torch.Tensor]:
    """Recompute the backbone's BatchNorm running statistics as the plain average over up to
    `images` training samples (`dataset[(epoch, index)]`, augmented as training sees them),
    spread evenly over the dataset. Returns the running statistics it replaced (empty when
    there was nothing to recompute), for `restore_statistics`."""
    layers = backbone_batchnorms(model)
    if not layers or len(dataset) == 0:
        return {}
    replaced = running_statistics(model)
    count = min(images, len(dataset))
    indices = [round(k * len(dataset) / count) for k in range(count)]
    momentums = [m.momentum for m in layers]
    was_training = model.training
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over every batch below
    model.train()
    try:
        with torch.no_grad():
            for start in range(0, count, batch_size):
                batch = [dataset[(epoch, k)][0].to(device)
                         for k in indices[start:start + batch_size]]
                if runs_detector(model):
                    prepared, _ = model.transform(batch)
                    model.backbone(prepared.tensors)
                else:  # as a blob-only model trains: crops as they are
                    prepared = unresized_batch(model, batch)
                if getattr(model, "blob_head", None) is not None:
                    model.blob_head(prepared.tensors)
    finally:
        for m, momentum in zip(layers, momentums):
            m.momentum = momentum
        model.train(was_training)
    return replaced


def freeze_batchnorm(model: nn.Module) -> int:
    """Replace BatchNorm layers by frozen ones (pretrained statistics kept): small batches
    would otherwise ruin them. Returns how many were replaced."""
    count = 0
    for name, child in model.named_children():
        if name == "blob_head":  # never pretrained: it learns its statistics
            continue
        if isinstance(child, nn.BatchNorm2d):
            frozen = FrozenBatchNorm2d(child.num_features, eps=child.eps)
            frozen.weight.copy_(child.weight.detach())
            frozen.bias.copy_(child.bias.detach())
            frozen.running_mean.copy_(child.running_mean)
            frozen.running_var.copy_(child.running_var)
            setattr(model, name, frozen)
            count += 1
        else:
            count += freeze_batchnorm(child)
    return count
