"""Initial weights from local files only: a file the user names, a previous run, or a file of
torchvision's found locally (`find_pretrained`: the project's `pretrained/` folder, the per-user
weights folder that `isegui weights add` fills, the weights the packaged program ships, the
torch hub cache). Nothing is ever downloaded."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from isegui.data_folders import bundled_weights_folder, user_weights_folder
from isegui.ml.model.checkpoint import CheckpointError, read_weights_file, state_dict_of
from isegui.ml.model.registry import model_info

PRETRAINED_DIR = "pretrained"
BACKBONE = "backbone.body."  # where an ImageNet classification network's weights go

# Layers whose rows are one per class (background first), and how many rows each class has.
_CLASS_ROWS = {"roi_heads.box_predictor.cls_score": 1, "roi_heads.box_predictor.bbox_pred": 4,
               "roi_heads.mask_predictor.mask_fcn_logits": 1}


@dataclass
class InitReport:
    source: str = ""
    loaded: int = 0  # tensors taken
    total: int = 0  # tensors the model has
    skipped: list[str] = field(default_factory=list)  # names whose shape or kind did not fit
    classes_carried: list[str] = field(default_factory=list)
    backbone_loaded: int = 0  # of the tensors taken, those of the backbone's body
    backbone_total: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "loaded_tensors": self.loaded,
                "model_tensors": self.total, "backbone_loaded_tensors": self.backbone_loaded,
                "backbone_tensors": self.backbone_total, "skipped": self.skipped[:20],
                "classes_carried": self.classes_carried}


@dataclass(frozen=True)
class PretrainedFile:
    """A file of a model's known pretrained weights, and where it was found."""
    path: Path
    place: str  # in words: "project pretrained/", "weights folder", "bundled", "torch cache"
    weights: str  # the torchvision weights it is, e.g. "MobileNet_V3_Large_Weights.IMAGENET1K_V1"


def pretrained_places(project_folder: Path | None) -> list[tuple[str, Path]]:
    """(place, folder) in the order they are searched."""
    places = []
    if project_folder is not None:
        places.append((f"project {PRETRAINED_DIR}/", Path(project_folder) / PRETRAINED_DIR))
    places.append(("weights folder", user_weights_folder()))
    bundled = bundled_weights_folder()
    if bundled is not None:
        places.append(("bundled", bundled))
    places.append(("torch cache", Path(torch.hub.get_dir()) / "checkpoints"))
    return places


def pretrained_file_names(model_name: str) -> list[str]:
    """torchvision's file names of the model's pretrained weights, the preferred first."""
    return [Path(weights.url).name for weights in model_info(model_name).pretrained]


def locate_pretrained(model_name: str, project_folder: Path | None) -> PretrainedFile | None:
    """The model's preferred pretrained weights found in any place (a COCO detector before an
    ImageNet backbone), from the first place that has them."""
    places = pretrained_places(project_folder)
    for weights in model_info(model_name).pretrained:
        name = Path(weights.url).name
        for place, folder in places:
            if (folder / name).is_file():
                return PretrainedFile(folder / name, place, str(weights))
    return None


def find_pretrained(model_name: str, project_folder: Path | None) -> Path | None:
    """The first local file of the model's known pretrained weights, if any."""
    found = locate_pretrained(model_name, project_folder)
    return found.path if found else None


def describe_start(model_name: str, project_folder: Path | None) -> str:
    """What a run of `model_name` starts from when no --init is given, in a few words."""
    found = locate_pretrained(model_name, project_folder)
    if found is None:
        return "random weights: no pretrained file found"
    return f"pretrained: {found.path.name} ({found.place})"


def initialise(model: nn.Module, path: Path, classes: list[str],
               source_classes: list[str] | None = None) -> InitReport:
    """Copy every tensor of `path` that fits `model`. A detection checkpoint's class rows are
    carried over by class name (`source_classes`; COCO's heads start fresh), and ImageNet
    backbone files are matched into the backbone."""
    return initialise_from(model, read_weights_file(path), path, classes, source_classes)


def initialise_from(model: nn.Module, data: dict[str, Any], path: Path, classes: list[str],
                    source_classes: list[str] | None = None) -> InitReport:
    """`initialise` with the file's contents already read (`path` names it in messages)."""
    incoming = state_dict_of(data)
    source_classes = source_classes or (data.get("classes") if isinstance(
        data.get("classes"), list) else None)
    own = model.state_dict()
    report = InitReport(source=str(path), total=len(own),
                        backbone_total=sum(name.startswith(BACKBONE) for name in own))
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
        if target.is_floating_point() and not tensor.is_floating_point():
            report.skipped.append(name)  # whole numbers or yes/no where weights belong
        elif tensor.shape == target.shape:
            target.copy_(tensor.to(target.dtype))  # state_dict() tensors are the parameters
            report.loaded += 1
            report.backbone_loaded += name.startswith(BACKBONE)
        else:
            report.skipped.append(name)
    if report.loaded == 0:
        raise CheckpointError(path, "none of its weights fit this model (another architecture?)")
    return report


def _match_names(incoming: dict[str, Any],
                 own: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
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


def _carry_class_rows(tensor: torch.Tensor, target: torch.Tensor, rows: int, source: list[str],
                      classes: list[str]) -> list[str] | None:
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


