"""Model builders by name. A builder is registered with a decorator (ml.model.table), never an
if/elif chain."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from isegui.core.working_scale import WorkingScale
from isegui.ml.model import builders  # noqa: F401  (its builders register themselves on import)
from isegui.ml.model.batchnorm import freeze_batchnorm
from isegui.ml.model.table import _MODELS, ModelInfo, register  # noqa: F401  (register: API)


def model_info(name: str) -> ModelInfo:
    try:
        return _MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(model_names())}") \
            from None


def model_names() -> list[str]:
    return sorted(_MODELS)


def build_model(name: str, *, num_classes: int, size: int, blob_labels: Sequence[int] = (),
                line_labels: Sequence[int] = ()) -> nn.Module:
    """A model for `num_classes` object classes (background is added) at input `size`; the
    classes `blob_labels` (1-based) found by a blob head (ml.model.blob_head) instead of the
    detector, `line_labels` of them lines (their skeletons are taught whole)."""
    model = model_info(name).build(num_classes=num_classes + 1, size=size)
    if blob_labels:
        from isegui.ml.model.blob_head import with_blob_head
        model = with_blob_head(model, blob_labels, num_classes + 1, line_labels)
    return model


def model_from_checkpoint(data: dict[str, Any], source: str | Path = "checkpoint") -> nn.Module:
    """The model a checkpoint dict (read from `source`) describes, with its weights; a
    CheckpointError in one line when they do not fit it."""
    from isegui.ml.model.checkpoint import CheckpointError
    if not isinstance(data.get("model_name"), str) or data["model_name"] not in _MODELS:
        raise CheckpointError(Path(source), f"made for a model isegui does not know "
                                            f"({str(data.get('model_name'))[:40]!r})")
    working = WorkingScale.from_dict(data.get("working_scale"), int(data["size"]))
    model = build_model(data["model_name"], num_classes=len(data["classes"]),
                        size=int(data["size"]), blob_labels=working.blob_labels(data["classes"]),
                        line_labels=working.line_labels(data["classes"]))
    if data.get("frozen_batchnorm"):
        freeze_batchnorm(model)
    misfit = weights_misfit(model.state_dict(), data["state_dict"])
    if misfit:
        raise CheckpointError(Path(source), f"its weights do not fit a {data['model_name']} "
                                            f"model for {len(data['classes'])} classes: {misfit}")
    model.load_state_dict(data["state_dict"])
    return model


def weights_misfit(expected: dict[str, torch.Tensor], given: dict[str, Any]) -> str:
    """What keeps `given` weights from loading into a model whose state is `expected`, in a
    line ("" when they fit): counts and the first name of each kind, not torch's key list."""
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    reshaped = [k for k in expected if k in given and hasattr(given[k], "shape")
                and tuple(given[k].shape) != tuple(expected[k].shape)]
    parts = [f"{len(keys)} {what} (first: {keys[0]})" for keys, what in (
        (missing, "missing"), (unexpected, "unexpected"), (reshaped, "of another shape"))
        if keys]
    return "; ".join(parts)
