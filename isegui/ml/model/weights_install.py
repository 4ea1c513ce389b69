"""Putting a pretrained weights file where every run finds it (`isegui weights add`, the
training panel's File… button): checked to fit a registered model's backbone, then copied into
the per-user weights folder under the torchvision file name of the weights it serves."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

from isegui.core.fileio import atomic_open
from isegui.data_folders import user_weights_folder
from isegui.ml.model.checkpoint import CheckpointError, read_weights_file, state_dict_of
from isegui.ml.model.registry import build_model, model_info, model_names
from isegui.ml.model.weights import describe_start, initialise_from

# torch.hub's rule: a torchvision file name carries the first hex digits of its SHA-256
HASH_IN_NAME = re.compile(r"-([a-f0-9]{8,})\.")
FITS_SHARE = 0.9  # of the backbone's tensors a file must fill to count as that backbone's
_DETECTION_KEYS = ("backbone.", "rpn.", "roi_heads.")
_CHECK_SIZE = 256  # the input size of the model the fit is tried on (any would do)

# a model a file fits: (its name, its pretrained weights (torchvision's enums) of the file's
# kind, backbone tensors taken, backbone tensors)
_Fit: TypeAlias = tuple[str, list[Any], int, int]


@dataclass(frozen=True)
class InstalledWeights:
    source: Path
    target: Path
    model: str
    weights: str  # e.g. "MobileNet_V3_Large_Weights.IMAGENET1K_V1"
    backbone_loaded: int
    backbone_total: int
    sha256: str
    replaced: bool  # a file of that name was there before
    copied: bool  # False when the source already was the file in the weights folder
    starts_from: str = ""  # what the model's runs start from now (weights.describe_start)

    @property
    def published_prefix(self) -> str:
        match = HASH_IN_NAME.search(self.target.name)
        return match.group(1) if match else ""

    @property
    def hash_matches(self) -> bool:
        return bool(self.published_prefix) and self.sha256.startswith(self.published_prefix)

    def describe(self) -> str:
        """What was done, for a terminal or a message box."""
        if not self.copied:
            action = f"{self.target} is already in the weights folder"
        else:
            action = f"copied {self.source} to {self.target}" + (
                " (replacing the file there)" if self.replaced else "")
        lines = [action,
                 f"fits the {self.model} model's backbone: {self.backbone_loaded} of its "
                 f"{self.backbone_total} tensors; serves as torchvision's {self.weights}"]
        if self.hash_matches:
            lines.append(f"SHA-256 {self.sha256[:12]}… matches torchvision's published name")
        else:
            lines.append(f"note: its SHA-256 begins {self.sha256[:8]}, not "
                         f"{self.published_prefix} as torchvision's file of that name: another "
                         "file than the published one (retrained or converted?); accepted "
                         "because it fits")
        if self.starts_from:
            start = self.starts_from.removeprefix("pretrained: ")
            lines.append(f"{self.model} runs now start from {start} unless told otherwise")
        return "\n".join(lines)


def install_weights(path: str | Path, model: str | None = None,
                    folder: Path | None = None) -> InstalledWeights:
    """Check that `path` fits `model`'s backbone (without `model`: find which registered model
    it fits), then copy it into the weights folder. CheckpointError names the file when it is
    not a weights file or fits nothing."""
    path = Path(path)
    data = read_weights_file(path)
    if not any(hasattr(v, "shape") for v in state_dict_of(data).values()):
        raise CheckpointError(path, "holds no tensors: not a weights file")
    if model:
        model_info(model)  # an unknown name is a ValueError listing the models
    names = [model] if model else model_names()
    fits: list[_Fit] = []
    reasons: list[str] = []
    for name in names:
        fit = _try_fit(name, path, data)
        if isinstance(fit, str):
            reasons.append(fit)
        else:
            fits.append(fit)
    if not fits:
        which = f"the {model} model" if model else f"any model ({', '.join(names)})"
        raise CheckpointError(path, f"does not fit {which}: {'; '.join(reasons)}. Give a "
                                    f"torchvision weights file: {_wanted(names)}")
    name, candidates, loaded, total = max(fits, key=lambda f: f[2] / max(1, f[3]))
    digest = sha256_of(path)
    weights = _weights_for(path, digest, candidates)
    folder = folder or user_weights_folder()
    target = folder / Path(weights.url).name
    same = target.is_file() and os.path.samefile(path, target)
    replaced = target.is_file() and not same
    if not same:
        _atomic_copy(path, target)
    return InstalledWeights(path, target, name, str(weights), loaded, total, digest, replaced,
                            copied=not same, starts_from=describe_start(name, None))


def _try_fit(name: str, path: Path, data: dict[str, Any]) -> _Fit | str:
    """The fit when `data` fits `name`'s backbone, else why not."""
    detection = any(k.startswith(_DETECTION_KEYS) for k in state_dict_of(data))
    candidates = [w for w in model_info(name).pretrained if _is_detection(w) == detection]
    if not candidates:
        kind = "a detection model's" if detection else "an ImageNet classification network's"
        return (f"it holds {kind} weights, and {name} has no pretrained file of that kind "
                "(start a run from it with --init FILE instead)")
    model = build_model(name, num_classes=1, size=_CHECK_SIZE)
    try:
        report = initialise_from(model, data, path, ["object"])
    except CheckpointError:
        return f"none of its tensors fit {name}"
    if report.backbone_loaded < FITS_SHARE * report.backbone_total:
        return (f"only {report.backbone_loaded} of {name}'s {report.backbone_total} "
                "backbone tensors fit")
    return name, candidates, report.backbone_loaded, report.backbone_total


def _weights_for(path: Path, digest: str, candidates: list[Any]) -> Any:
    """Which of the model's pretrained weights the file serves: the one whose published hash
    it has, else the one whose file name it has, else the preferred one."""
    for weights in candidates:
        match = HASH_IN_NAME.search(Path(weights.url).name)
        if match and digest.startswith(match.group(1)):
            return weights
    for weights in candidates:
        if Path(weights.url).name == path.name:
            return weights
    return candidates[0]


def _is_detection(weights: object) -> bool:
    return ".detection." in type(weights).__module__


def _wanted(names: list[str]) -> str:
    return ", ".join(f"{Path(w.url).name} ({n})" for n in names
                     for w in model_info(n).pretrained if not _is_detection(w))


def _atomic_copy(source: Path, target: Path) -> None:
    """The whole file or none of it: a run never finds half a weights file."""
    with atomic_open(target) as out, open(source, "rb") as src:
        shutil.copyfileobj(src, out, 1 << 20)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
