"""Initial weights from local files only: a file the user names, a previous run, or a file of
torchvision's found in the torch hub cache or the project's `pretrained/` folder."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torchvision.ops import FrozenBatchNorm2d

from isegui.ml.checkpoint import CheckpointError, read_weights_file, state_dict_of
from isegui.ml.registry import model_info

PRETRAINED_DIR = "pretrained"

# Layers whose rows are one per class (background first), and how many rows each class has.
_CLASS_ROWS = {"roi_heads.box_predictor.cls_score": 1, "roi_heads.box_predictor.bbox_pred": 4,
               "roi_heads.mask_predictor.mask_fcn_logits": 1}


@dataclass
class InitReport:
    source: str = ""
    loaded: int = 0  # tensors taken
    total: int = 0  # tensors the model has
    skipped: list[str] = field(default_factory=list)  # names whose shape did not fit
    classes_carried: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"source": self.source, "loaded_tensors": self.loaded,
                "model_tensors": self.total, "skipped": self.skipped[:20],
                "classes_carried": self.classes_carried}


def find_pretrained(model_name: str, project_folder: Path | None) -> Path | None:
    """The first local file of the model's known pretrained weights, if any."""
    folders = []
    if project_folder is not None:
        folders.append(project_folder / PRETRAINED_DIR)
    folders.append(Path(torch.hub.get_dir()) / "checkpoints")
    for weights in model_info(model_name).pretrained:
        name = Path(weights.url).name
        for folder in folders:
            if (folder / name).is_file():
                return folder / name
    return None


def initialise(model: nn.Module, path: Path, classes: list[str],
               source_classes: list[str] | None = None) -> InitReport:
    """Copy every tensor of `path` that fits `model`. A detection checkpoint's class rows are
    carried over by class name (`source_classes`; COCO's heads start fresh), and ImageNet
    backbone files are matched into the backbone."""
    data = read_weights_file(path)
    incoming = state_dict_of(data)
    source_classes = source_classes or (data.get("classes") if isinstance(
        data.get("classes"), list) else None)
    own = model.state_dict()
    report = InitReport(source=str(path), total=len(own))
    renamed = _match_names(incoming, own)
    for name, tensor in renamed.items():
        target = own[name]
        prefix = name.rsplit(".", 1)[0]
        if prefix in _CLASS_ROWS and source_classes is not None:
            # class rows follow the class names; classes new to this run start fresh
            carried = _carry_class_rows(tensor, target, _CLASS_ROWS[prefix], source_classes,
                                        classes)
            if carried is not None:
                report.loaded += 1
                report.classes_carried = carried
                continue
        if tensor.shape == target.shape:
            target.copy_(tensor.to(target.dtype))  # state_dict() tensors are the parameters
            report.loaded += 1
        else:
            report.skipped.append(name)
    if report.loaded == 0:
        raise CheckpointError(path, "none of its weights fit this model (another architecture?)")
    return report


def _match_names(incoming: dict, own: dict) -> dict:
    """Map names of torchvision classification backbones onto `backbone.body.*`."""
    out = {}
    for name, tensor in incoming.items():
        if not isinstance(tensor, torch.Tensor):
            continue
        name = name.removeprefix("module.")  # saved from DistributedDataParallel
        for candidate in (name, f"backbone.body.{name}",
                          f"backbone.body.{name.removeprefix('features.')}"):
            if candidate in own:
                out[candidate] = tensor
                break
    return out


def _carry_class_rows(tensor, target, rows: int, source: list[str], classes: list[str]):
    """Fill `target`'s rows for classes that `source` also has (by name), and background.
    None when the layers differ in more than their class count."""
    if tensor.shape[1:] != target.shape[1:] or tensor.shape[0] != (len(source) + 1) * rows:
        return None
    old = {name: k + 1 for k, name in enumerate(source)}
    carried = []
    target[:rows] = tensor[:rows]  # background
    for k, name in enumerate(classes, start=1):
        if name in old:
            j = old[name]
            target[k * rows:(k + 1) * rows] = tensor[j * rows:(j + 1) * rows]
            carried.append(name)
    return carried


def freeze_batchnorm(model: nn.Module) -> int:
    """Replace BatchNorm layers by frozen ones (pretrained statistics kept): small batches
    would otherwise ruin them. Returns how many were replaced."""
    count = 0
    for name, child in model.named_children():
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
