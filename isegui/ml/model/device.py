"""Which device to compute on: `auto`, `cpu`, `cuda` or `cuda:N`."""

from __future__ import annotations

import torch


class DeviceError(ValueError):
    pass


def resolve_device(name: str = "auto") -> torch.device:
    name = (name or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(f"device {name!r}: no CUDA GPU is available here; use --device cpu "
                              "or auto")
        index = int(name.split(":", 1)[1]) if ":" in name else 0
        if not 0 <= index < torch.cuda.device_count():
            raise DeviceError(f"device {name!r}: there are {torch.cuda.device_count()} GPU(s), "
                              f"numbered from 0")
        return torch.device("cuda", index)
    raise DeviceError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N")


# Images per training step when none is asked for. On a CPU, smaller steps learn more in the
# minutes a first run has (bench/first_training.py, 5 minutes on the demo: held-out mask mAP
# 0.29 at 4 images a step, 0.38 at 2, 0.40 at 1); a GPU wants fuller batches.
DEFAULT_BATCH = {"cpu": 2, "cuda": 4}


def default_batch(device: torch.device) -> int:
    return DEFAULT_BATCH.get(device.type, 2)


def describe_devices() -> list[dict[str, str]]:
    """What this machine offers, for the GUI's device choice and the run's record."""
    found = [{"name": "cpu", "label": f"CPU ({torch.get_num_threads()} threads)"}]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            found.append({"name": f"cuda:{i}", "label": f"{props.name} "
                          f"({props.total_memory / 2**30:.0f} GiB)"})
    return found
