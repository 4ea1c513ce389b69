"""The blob head (ml.infer.blobs says why): a small U-Net on the normalised image that gives every
pixel a probability per blob class, trained beside the detector with cross-entropy, a
Dice term (thin defects are a tiny share of a tile's pixels; Dice weighs each class's pixels
as a whole, so they are not drowned by the background) and, for line classes, a skeleton-recall
term (Kirchhoff et al., ECCV 2024: the labels' centre lines must be found end to end, so a
scratch the map shows in dashes costs as much as its gaps are long).

`with_blob_head` turns any torchvision Mask R-CNN into a BlobMaskRCNN: the same modules and
weight names plus `blob_head`, and a training forward that teaches the detector the other
classes and the head the blob classes. When every class is a blob class the detector is not
run at all, in training or prediction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.image_list import ImageList

IGNORE = 255  # target value of pixels the loss leaves out (batch padding)
WIDTHS = (8, 16, 32, 64, 64)  # channels at strides 1, 2, 4, 8, 16
HARD_PIXEL_SHARE = 0.2  # of the background pixels, the hardest ones the cross-entropy counts
BLOB_STRIDE = 16  # the head's coarsest stride: inputs are padded to a multiple of it
SKELETON_DEPTH = 16  # erosions the labels' skeleton looks through (half the widest line)
# A model of blob classes only learns from crops this size (its tiles are predicted whole):
# a defect is four times the share of a crop's pixels that it is of a 512-px tile's, and a
# step costs a quarter, so each minute sees four times the defects
BLOB_TRAINING_CROP = 256


def _norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.03)


def _conv(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation, bias=False),
        _norm(cout), nn.ReLU(inplace=True))


class _Up(nn.Module):
    """One decoder step, as an FPN's: the coarser map projected to the skip's channels,
    upsampled and added, then a depthwise-separable 3 x 3. (A plain 3 x 3 over the joined
    channels costs as much at every level as the whole encoder: measured 2.7 s a 5-MP
    frame.)"""

    def __init__(self, deep: int, skip: int):
        super().__init__()
        self.project = nn.Sequential(nn.Conv2d(deep, skip, 1, bias=False), _norm(skip))
        self.mix = nn.Sequential(
            nn.Conv2d(skip, skip, 3, padding=1, groups=skip, bias=False), _norm(skip),
            nn.ReLU(inplace=True), nn.Conv2d(skip, skip, 1, bias=False), _norm(skip),
            nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(self.project(x), size=skip.shape[-2:], mode="bilinear",
                          align_corners=False)
        out: torch.Tensor = self.mix(x + skip)
        return out


class BlobHead(nn.Module):
    """Logits (N, 1 + classes, H, W) for a normalised image batch (N, 3, H, W), H and W
    multiples of 16: an encoder of plain 3 x 3 convolutions (full resolution only in its
    first, of 8 channels), a dilated one at stride 16 for context (the receptive field,
    about 200 px, covers a stain of 100 px), and a light decoder back to full resolution."""

    def __init__(self, classes: int):
        super().__init__()
        w = WIDTHS
        self.down = nn.ModuleList([_conv(3, w[0])] + [
            nn.Sequential(_conv(w[k - 1], w[k], stride=2), _conv(w[k], w[k]))
            for k in range(1, len(w))])
        self.context = _conv(w[-1], w[-1], dilation=2)
        self.up = nn.ModuleList([_Up(w[k + 1], w[k]) for k in range(len(w) - 1)])
        self.out = nn.Conv2d(w[0], classes + 1, 1)
        # start out sure of the background (defects are about 1 % of the pixels), as
        # detectors' classifiers start: the first steps then learn defects, not the prior
        assert self.out.bias is not None
        with torch.no_grad():
            self.out.bias.copy_(torch.log(torch.tensor([0.99] + [0.01 / classes] * classes)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # channels last: the CPU's convolutions (oneDNN) take it without reordering every
        # layer's input and output; a training step of two 256-px crops 150 -> 110 ms on 2
        # cores (a no-op in an ONNX export)
        x = x.contiguous(memory_format=torch.channels_last)
        skips = []
        for stage in self.down:
            x = stage(x)
            skips.append(x)
        x = self.context(x)
        for k in range(len(self.up) - 1, -1, -1):
            x = self.up[k](x, skips[k])
        logits: torch.Tensor = self.out(x)
        return logits


def blob_target(targets: Sequence[dict[str, torch.Tensor]], batch: ImageList,
                blob_labels: Sequence[int]) -> torch.Tensor:
    """(N, H, W) class map of a transformed batch: 0 background, k for the k-th blob class,
    IGNORE over the padding. Instances of other classes are background to this head. Where
    instances overlap (a scratch across a pit), the later one's class is the pixel's, as the
    image shows the one on top."""
    n, _, height, width = batch.tensors.shape
    target = torch.full((n, height, width), IGNORE, dtype=torch.long,
                        device=batch.tensors.device)
    channels = {int(label): channel for channel, label in enumerate(blob_labels, start=1)}
    for k, (t, (h, w)) in enumerate(zip(targets, batch.image_sizes)):
        target[k, :h, :w] = 0
        for label, mask in zip(t["labels"].tolist(), t["masks"]):
            if int(label) in channels:
                target[k, :h, :w][mask[:h, :w].bool()] = channels[int(label)]
    return target


_SQUARE = np.ones((3, 3), np.uint8)


def skeleton(mask: np.ndarray) -> np.ndarray:
    """The morphological skeleton (Lantuejoul: what each erosion holds that its opening
    loses, 3 x 3 square) of a boolean mask, looking SKELETON_DEPTH erosions deep: the centre
    line of a line up to twice that wide, the centre of a pit. (OpenCV on bytes: torch's
    pooling on floats took 12 ms a batch of two crops for a single scratch class.)"""
    eroded: np.ndarray = mask.astype(np.uint8)
    out = np.zeros(mask.shape, bool)
    for _ in range(SKELETON_DEPTH):
        if not eroded.any():
            break
        thinner = cv2.erode(eroded, _SQUARE)
        out |= (eroded > 0) & (cv2.dilate(thinner, _SQUARE) == 0)
        eroded = thinner
    return out


def skeleton_tube(truth: torch.Tensor) -> torch.Tensor:
    """The paper's "tubed" skeleton of each mask of a (N, 1, H, W) boolean batch: the
    skeleton widened by a pixel, kept within the mask; float, on the batch's device."""
    tubes = []
    for mask in truth[:, 0].cpu().numpy():
        widened = cv2.dilate(skeleton(mask).astype(np.uint8), _SQUARE).astype(bool)
        tubes.append(widened & mask)
    return torch.from_numpy(np.stack(tubes)[:, None]).to(truth.device, torch.float32)


def blob_losses(logits: torch.Tensor, target: torch.Tensor,
                line_channels: Sequence[int] = ()) -> dict[str, torch.Tensor]:
    """Cross-entropy over every defect pixel and the HARD_PIXEL_SHARE hardest of the rest
    (bootstrapped, as Panoptic-DeepLab's semantic loss: the easy background, most of a tile,
    would otherwise outvote the texture streaks a model mistakes for scratches); 1 - soft
    Dice averaged over the blob classes present in the batch; and 1 - recall of the labels'
    skeleton (widened by a pixel, within the label: the paper's "tubed" skeleton) averaged
    over the `line_channels` present. (On all classes it cost pits and inclusions: on cast
    validation frames, crack AP 0.21 -> 0.40 but pore 0.40 -> 0.31, inclusion 0.26 -> 0.09.)"""
    per_pixel = F.cross_entropy(logits.float(), target, ignore_index=IGNORE, reduction="none")
    defect = (target != IGNORE) & (target != 0)
    background = per_pixel[target == 0]
    if HARD_PIXEL_SHARE < 1:
        hardest = max(1, int(HARD_PIXEL_SHARE * background.numel()))
        background = background.topk(min(hardest, background.numel()))[0]
    kept = torch.cat([per_pixel[defect], background])
    ce = kept.mean() if kept.numel() else per_pixel.sum() * 0
    valid = (target != IGNORE).unsqueeze(1)
    probs = logits.float().softmax(dim=1) * valid
    dice, recall = [], []
    for channel in range(1, logits.shape[1]):
        truth = (target == channel).unsqueeze(1)
        if truth.any():
            p = probs[:, channel:channel + 1]
            overlap = (p * truth).sum()
            dice.append(1 - (2 * overlap + 1) / (p.sum() + truth.sum() + 1))
            if channel not in line_channels:
                continue
            tube = skeleton_tube(truth)
            recall.append(1 - (p * tube).sum() / tube.sum().clamp(min=1))
    zero = ce.new_zeros(())
    return {"loss_blob": ce, "loss_blob_dice": torch.stack(dice).mean() if dice else zero,
            "loss_blob_skeleton": torch.stack(recall).mean() if recall else zero}


class BlobMaskRCNN(MaskRCNN):  # type: ignore[misc]  # torchvision is untyped
    """A Mask R-CNN with a blob head (made by `with_blob_head`, never constructed itself)."""
    blob_head: BlobHead
    blob_labels: tuple[int, ...]  # model class indices (1..C) the blob head finds
    detects: bool  # some classes are left to the detector
    line_channels: tuple[int, ...]  # the head's channels (1..) of line classes

    def forward(self, images: Any, targets: Any = None) -> Any:
        # prediction runs the parts itself (ml.infer.tiled, ml.model.onnx_export)
        if not self.training:
            return super().forward(images, targets)
        losses: dict[str, torch.Tensor] = {}
        if not self.detects:
            batch = unresized_batch(self, images)
        else:
            batch, targets = self.transform(images, targets)
            others = [_without(t, self.blob_labels) for t in targets]
            features = self.backbone(batch.tensors)
            proposals, rpn_losses = self.rpn(batch, features, others)
            _, head_losses = self.roi_heads(features, proposals, batch.image_sizes, others)
            losses.update(rpn_losses)
            losses.update(head_losses)
        logits = self.blob_head(batch.tensors)
        losses.update(blob_losses(logits, blob_target(targets, batch, self.blob_labels),
                                  self.line_channels))
        return losses


def unresized_batch(model: MaskRCNN, images: Sequence[torch.Tensor]) -> ImageList:
    """Images (0..1) normalised and batched as they are: the blob head alone takes crops of
    any size (ml.train.tile_data's), where the detector's transform would resize them."""
    normalized = [model.transform.normalize(image) for image in images]
    return ImageList(model.transform.batch_images(normalized, BLOB_STRIDE),
                     [tuple(image.shape[-2:]) for image in images])


def _without(target: dict[str, torch.Tensor], labels: Sequence[int]) -> dict[str, torch.Tensor]:
    keep = ~torch.isin(target["labels"], torch.tensor(list(labels),
                                                      device=target["labels"].device))
    return {k: (v[keep] if k in ("boxes", "labels", "masks") else v) for k, v in target.items()}


def with_blob_head(model: MaskRCNN, blob_labels: Sequence[int], num_classes: int,
                   line_labels: Sequence[int] = ()) -> MaskRCNN:
    """`model` (for `num_classes` classes with background) with a blob head finding the
    classes `blob_labels` (1-based), of which `line_labels` are lines; the same object, its
    class swapped so that its weight names, and so pretrained and older checkpoints, stay as
    they were."""
    if not blob_labels:
        return model
    model.__class__ = BlobMaskRCNN
    model.blob_head = BlobHead(len(blob_labels))
    model.blob_labels = tuple(int(k) for k in blob_labels)
    model.detects = len(set(model.blob_labels)) < num_classes - 1
    model.line_channels = tuple(model.blob_labels.index(int(k)) + 1 for k in line_labels
                                if int(k) in model.blob_labels)
    return model


def blob_probabilities(model: MaskRCNN, batch: torch.Tensor) -> torch.Tensor | None:
    """(N, blob classes, H, W) probabilities for a normalised batch, or None when the model
    has no blob head."""
    head = getattr(model, "blob_head", None)
    if head is None:
        return None
    logits = head(batch)
    # softmax over the channels written out: onnxruntime's Softmax on axis 1 of an NCHW map
    # transposes it and back, half the time of the whole head (measured 47 of 82 ms a tile)
    e = torch.exp(logits - logits.amax(dim=1, keepdim=True))
    probs: torch.Tensor = (e / e.sum(dim=1, keepdim=True))[:, 1:]
    return probs


def runs_detector(model: MaskRCNN) -> bool:
    """Whether the detector finds any class (False when all are blob classes)."""
    return bool(getattr(model, "detects", True))
