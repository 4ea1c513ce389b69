"""Checkpoints: plain dicts of tensors and numbers, written atomically, read with
`torch.load(weights_only=True)` so a file can never run code."""

from __future__ import annotations

import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from isegui.core.errors import InputFileError
from isegui.core.fileio import atomic_open
from isegui.core.one_line import one_line
from isegui.core.store.project_data import check_class_names

FORMAT = "isegui-checkpoint"
VERSION = 1
REQUIRED = ("model_name", "size", "classes", "state_dict")


class CheckpointError(InputFileError):
    """A checkpoint that is missing, corrupt, untrusted or not isegui's."""


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Write the checkpoint whole or not at all (a crash leaves the previous file), streamed
    to its temporary file rather than built in memory first (twice its size at once)."""
    with atomic_open(path) as f:
        torch.save({"format": FORMAT, "version": VERSION, **payload}, f)


def read_weights_file(path: str | Path,
                      map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Any weights file, safely: refuses pickles that hold more than tensors and numbers."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(path, "file not found")
    if not path.is_file():
        raise CheckpointError(path, "not a plain file (a folder, FIFO or device); weights "
                                    "are a .pt or .pth file")
    with open(path, "rb") as f:
        head = f.read(2)
    if not zipfile.is_zipfile(path) and not head.startswith(b"\x80"):
        raise CheckpointError(path, "not a readable weights file: neither a PyTorch archive nor "
                                    "a pickle (corrupt, or another kind of file?)")
    _refuse_unpacking_beyond_the_file(path)
    try:
        with warnings.catch_warnings():  # torch's own words on the pickle's protocol
            warnings.simplefilter("ignore")
            data = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if "global" in str(exc).lower():
            raise CheckpointError(path, "refused: it holds Python objects besides weights (an "
                                        "untrusted or foreign pickle), and isegui loads weights "
                                        "only") from None
        if not zipfile.is_zipfile(path):  # pickle.dump's, not torch.save's
            raise CheckpointError(path, "a plain pickle, not a file torch.save wrote: save the "
                                        "weights with torch.save") from None
        raise CheckpointError(path, "not a readable weights file: truncated or corrupt? "
                                    f"({_first_line(exc)})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CheckpointError(path, "not a readable weights file: truncated or corrupt? "
                                    f"({_first_line(exc)})") from None
    if not isinstance(data, dict):
        raise CheckpointError(path, f"expected a dict of weights, found {type(data).__name__}")
    broken = _unusable_tensor(data)
    if broken is not None:  # a run started from it would learn nothing, and blame the rate
        name, why = broken
        raise CheckpointError(path, f"its weights {name} {why}: use another file")
    return data


# what an archive's entries may unpack to beyond the file's own size: torch.save stores them
# as they are, so they fit in the file; a few MB of slack for an archive someone re-zipped
_UNPACK_SLACK = 2
_UNPACK_EXTRA = 16 << 20


def _refuse_unpacking_beyond_the_file(path: Path) -> None:
    """CheckpointError for a PyTorch archive whose entries say they unpack to far more than the
    file holds: torch.load inflates a deflated entry whole, so 0.4 MB re-zipped from 400 MB of
    zeros took 1.7 GB before anything looked at it (and a few MB would take all the memory).
    Read from the archive's table of contents, before any entry is unpacked."""
    if not zipfile.is_zipfile(path):
        return  # a plain pickle: its tensors are in the file as they are
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise CheckpointError(path, "not a readable weights file: truncated or corrupt? "
                                    f"({_first_line(exc)})") from None
    size = path.stat().st_size
    if unpacked > _UNPACK_SLACK * size + _UNPACK_EXTRA:
        shown = f"{size / 1e6:,.1f} MB" if size >= 100_000 else f"{size / 1e3:,.0f} KB"
        raise CheckpointError(path, f"refused: its {shown} unpack to "
                                    f"{unpacked / 1e6:,.0f} MB (compressed entries; torch.save "
                                    "writes a weights file as it is): not a file isegui "
                                    "unpacks")


def _unusable_tensor(data: Any, name: str = "", depth: int = 0) -> tuple[str, str] | None:
    """The first tensor in `data` that no model can take its weights from, and why."""
    if isinstance(data, torch.Tensor):
        why = _why_unusable(data)
        return (name or "(a tensor)", why) if why else None
    if depth < 4 and isinstance(data, dict):
        for key, value in data.items():
            found = _unusable_tensor(value, f"{name}.{key}" if name else str(key), depth + 1)
            if found is not None:
                return found
    return None


def _why_unusable(tensor: torch.Tensor) -> str | None:
    """Weights are plain dense real numbers (or counters); anything else would fail later,
    in the middle of a run, with PyTorch's words."""
    if tensor.is_meta:
        return "hold no values (saved as shapes only)"
    if tensor.layout != torch.strided:
        return "are stored sparse, which isegui's models cannot take"
    if tensor.is_quantized:
        return "are quantized, which isegui's models cannot take"
    if tensor.is_complex():
        return "are complex numbers, not weights"
    if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
        return "hold values that are not numbers (NaN or infinity): a run that diverged?"
    return None


def _first_line(exc: BaseException) -> str:
    """The exception's first line, without PyTorch's plea to report it to PyTorch."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.split(" (Could this error message be improved?")[0][:160]


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """An isegui checkpoint, checked for what predicting and resuming need."""
    data = read_weights_file(path, map_location)
    if data.get("format") != FORMAT:
        raise CheckpointError(path, "not an isegui checkpoint (use it with --init to take its "
                                    "matching weights instead)")
    version = data.get("version", 0)
    if not _whole(version):
        raise CheckpointError(path, f"not a valid isegui checkpoint: its version is "
                                    f"{_shown(version)}, not a whole number")
    if version > VERSION:
        raise CheckpointError(path, f"written by a newer isegui (checkpoint version "
                                    f"{version}); update isegui")
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise CheckpointError(path, f"incomplete checkpoint, missing {', '.join(missing)}")
    if not _whole(data["size"]) or data["size"] < 1:
        raise CheckpointError(path, f"not a valid isegui checkpoint: its size is "
                                    f"{_shown(data['size'])}, not a number of pixels")
    _check_classes(path, data["classes"])
    return data


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _shown(value: object) -> str:
    """A value read from a file, for a message: a list or dict is named, never spelled out
    (a pickle may hold one list many times over, and str() would spell out every one)."""
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        return one_line(repr(value), 40)
    return f"a {type(value).__name__}"


def _check_classes(path: str | Path, classes: object) -> None:
    """The class names are names: text as a project stores it, each once. A number or a name
    holding ESC or a line break went on into every output, and a duplicate made two classes
    one."""
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        raise CheckpointError(path, "not a valid isegui checkpoint: its classes must be a list "
                                    f"of class names, not {_shown(classes)}" + (
                                        "" if not isinstance(classes, list) else
                                        " holding other things than text"))
    try:
        check_class_names(classes)
        if any(c != c.strip() for c in classes):
            raise ValueError("a class name has no space around it")
    except ValueError as exc:
        raise CheckpointError(path, f"not a valid isegui checkpoint: {exc}") from None
    if len(set(classes)) < len(classes):
        twice = next(c for c in classes if classes.count(c) > 1)
        raise CheckpointError(path, f"not a valid isegui checkpoint: the class {_shown(twice)} "
                                    "is listed twice")


def state_dict_of(data: dict[str, Any]) -> dict[str, Any]:
    """The model weights inside our checkpoints, torchvision's .pth files or {"model": ...}."""
    for key in ("state_dict", "model", "model_state_dict"):
        weights = data.get(key)
        if isinstance(weights, dict):
            return weights
    return {k: v for k, v in data.items() if isinstance(v, torch.Tensor)}
