"""The project's click model on disk: `click_model.pt` in the project folder, a checkpoint
(ml.model.checkpoint: written whole or not at all, read with weights_only) holding the network's
weights and what the click tool needs besides them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from isegui.core.click_view import VIEW_SIDE
from isegui.core.fileio import inside_folder
from isegui.core.project import CLICK_MODEL_FILE
from isegui.ml.click.net import WIDTHS, ClickNet
from isegui.ml.model.checkpoint import CheckpointError, read_weights_file, save_checkpoint

FORMAT = "isegui-click-model"
VERSION = 1


@dataclass(frozen=True)
class ClickModelInfo:
    """What a click model was trained on and how it looks at an image."""
    first_side: float  # image px: the window of a first click (the usual object, with context)
    view_side: int = VIEW_SIDE
    widths: tuple[int, ...] = WIDTHS
    instances: int = 0  # labeled instances it learned from
    images: int = 0
    steps: int = 0
    seconds: float = 0.0
    device: str = "cpu"
    created: str = ""
    holdout: dict[str, Any] = field(default_factory=dict)  # its figures on instances it did
    # not learn from (mean IoU after 1 and 3 clicks)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["widths"] = list(self.widths)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClickModelInfo:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["widths"] = tuple(int(w) for w in known.get("widths", WIDTHS))
        return cls(**known)


def click_model_path(project_folder: str | Path) -> Path:
    """Where the project's click model lives (refused if that path leads out of it)."""
    folder = Path(project_folder)
    return inside_folder(folder, folder / CLICK_MODEL_FILE)


def save_click_model(path: Path, net: ClickNet, info: ClickModelInfo) -> None:
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    save_checkpoint(path, {"kind": FORMAT, "click_version": VERSION,
                           "info": info.as_dict(), "state_dict": state})


def load_click_model(path: Path, device: str | torch.device = "cpu"
                     ) -> tuple[ClickNet, ClickModelInfo]:
    """The network (eval mode, on `device`) and its info; CheckpointError naming the file when
    it is not a click model isegui can use."""
    data = read_weights_file(path)
    if data.get("kind") != FORMAT:
        raise CheckpointError(path, "not an isegui click model")
    if int(data.get("click_version", 0)) > VERSION:
        raise CheckpointError(path, "written by a newer isegui; update isegui or train the "
                                    "click model again")
    try:
        info = ClickModelInfo.from_dict(dict(data["info"]))
        if info.view_side != VIEW_SIDE:
            raise CheckpointError(path, f"made for {info.view_side}-px views, this isegui "
                                        f"shows {VIEW_SIDE}: train the click model again")
        if not 0 < float(info.first_side) < 1e6:
            raise CheckpointError(path, f"first window of {info.first_side} px is not usable")
        net = ClickNet(info.widths)
        net.load_state_dict(data["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(path, f"not a usable click model ({str(exc).splitlines()[0]})"
                              ) from None
    return net.to(device).eval(), info
