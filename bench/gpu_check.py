"""Benchmark: is the GPU path ready? CUDA training with mixed precision, prediction, and DDP.

    python bench/gpu_check.py [--minutes 1.25] [--batch N] [--out DIR] [--quick]
    python bench/gpu_check.py --device cpu      # developer smoke run: the same code, tiny

On a CUDA device: makes a parts demo (512x384 scenes) and a defects demo (2448x2048 frames),
trains `fast` and `accurate` in this process for --minutes each with AMP, on whole images
(the parts, tile 0) and on tiles (the defects, 512 px tiles at scale 1), from random weights
(nothing is looked up or downloaded); reports images/s (the run's own figure, and inside epochs
only, without the epoch ends' batch-norm pass, validation and checkpoints), peak GPU memory,
the steps AMP skipped, then predict ms per parts image and per defects frame (and per tile)
with each run's checkpoint, and one DDP training step on a 1-process NCCL group. About 7
minutes at the defaults (--quick: about 2). Without CUDA it says so in the JSON and exits 0.
`--device cpu` runs every phase on the CPU with 2 steps a run on tiny data at 256 px (gloo
instead of NCCL, no AMP), so the code path can be checked on a machine without a GPU (about 2
minutes on 2 cores). Prints one JSON object; exits 1 when a phase failed (its error is in it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
from torch.nn.parallel import DistributedDataParallel  # noqa: E402

from isegui.core.demo import create_demo_project  # noqa: E402
from isegui.core.demo_defects import create_defects_project  # noqa: E402
from isegui.core.images import load_image  # noqa: E402
from isegui.core.project import IMAGES_DIR, Project  # noqa: E402
from isegui.core.tiling import tile_grid  # noqa: E402
from isegui.core.working_scale import WHOLE, WorkingScale  # noqa: E402
from isegui.ml.train.data import collate, snapshot  # noqa: E402
from isegui.ml.train.distributed import Distributed, process_group_backend  # noqa: E402
from isegui.ml.model.torch_predictor import Predictor  # noqa: E402
from isegui.ml.model.registry import build_model, model_info  # noqa: E402
from isegui.ml.train.spec import AugmentConfig, TrainSpec  # noqa: E402
from isegui.ml.train.tile_data import training_dataset  # noqa: E402
from isegui.ml.train.trainer import fit  # noqa: E402

MODELS = ("fast", "accurate")
MODES = ("whole", "tiles")  # the parts scenes resized whole; the defects frames on tiles


@dataclass(frozen=True)
class Plan:
    """How much of everything a check does."""
    name: str
    size: int  # the whole images' long side, and the tiles' side (at scale 1)
    minutes: float  # per training
    max_steps: int | None
    scenes: int  # parts demo images
    frames: int  # defects demo frames
    frame_size: tuple[int, int]
    predict_images: int  # parts scenes timed (after two warm-up scenes)
    predict_frames: int  # defects frames timed (after one warm-up)


def make_plan(args) -> Plan:
    if args.device == "cpu":
        return Plan("cpu-smoke", 256, 1.0, 2, 6, 2, (512, 384), 1, 1)
    if args.quick:
        return Plan("quick", 512, args.minutes or 0.25, None, 24, 4, (2448, 2048), 5, 1)
    return Plan("full", 512, args.minutes or 1.25, None, 64, 8, (2448, 2048), 20, 3)


class TimingReporter:
    """The training events with the time each arrived."""

    def __init__(self) -> None:
        self.events: list[tuple[float, str, dict]] = []

    def event(self, kind: str, **fields) -> None:
        self.events.append((time.perf_counter(), kind, fields))

    def of(self, kind: str) -> list[dict]:
        return [f for _, k, f in self.events if k == kind]

    def images_per_s_in_epochs(self, batch: int) -> float | None:
        """Images per second between step events of the same epoch: the training loop
        itself, without epoch starts (loader processes) and ends (batch-norm pass,
        validation, checkpoints)."""
        steps = [(t, f["epoch"], f["step"]) for t, k, f in self.events if k == "step"]
        images = seconds = 0.0
        for (t0, e0, s0), (t1, e1, s1) in zip(steps, steps[1:]):
            if e0 == e1 and s1 > s0:
                images, seconds = images + (s1 - s0) * batch, seconds + (t1 - t0)
        return round(images / seconds, 2) if seconds else None


def device_info(device: torch.device) -> dict:
    info = {"device": str(device), "torch": torch.__version__,
            "machine": f"{platform.machine()}, {os.cpu_count()} cores"}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1),
                    cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(),
                    nccl=_nccl_version())
    return info


def _nccl_version() -> str | None:
    try:
        version = torch.cuda.nccl.version()
    except Exception:  # a build without NCCL: the DDP phase says what fails
        return None
    return ".".join(map(str, version)) if isinstance(version, tuple) else str(version)


def make_data(out: Path, plan: Plan) -> dict:
    start = time.perf_counter()
    parts, defects = out / "parts", out / "defects"
    with create_demo_project(parts, plan.scenes):
        pass
    with create_defects_project(defects, plan.frames, width=plan.frame_size[0],
                                height=plan.frame_size[1]):
        pass
    return {"parts": parts, "defects": defects,
            "seconds": round(time.perf_counter() - start, 1)}


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak(device: torch.device) -> dict:
    if device.type != "cuda":
        return {"peak_gpu_allocated_mib": None, "peak_gpu_reserved_mib": None}
    torch.cuda.synchronize(device)
    return {"peak_gpu_allocated_mib": round(torch.cuda.max_memory_allocated(device) / 2**20),
            "peak_gpu_reserved_mib": round(torch.cuda.max_memory_reserved(device) / 2**20)}


def train(project: Path, model: str, mode: str, plan: Plan, device: torch.device,
          batch: int | None) -> dict:
    reporter = TimingReporter()
    _reset_peak(device)
    start = time.perf_counter()
    tiles = dict(tile=plan.size, scale=1.0) if mode == "tiles" else dict(tile=0)
    spec = TrainSpec(project=project, model=model, size=plan.size, **tiles, epochs=None,
                     minutes=plan.minutes, max_steps=plan.max_steps, batch=batch,
                     device=str(device), name=f"gpu-check-{model}-{mode}",
                     pretrained_search=False)
    result = fit(spec, reporter)
    wall = time.perf_counter() - start
    begun, done, steps = reporter.of("start")[0], reporter.of("done")[0], reporter.of("step")
    used_batch = batch or _batch_of(project, result.run_id)
    last = [c["last"] for c in reporter.of("checkpoint") if c.get("last")]
    with Project.open(project, read_only=True) as p:
        skipped = p.store.run(result.run_id).metrics.get("skipped_steps")
    return {
        "working_scale": begun["working_scale"], "train_images": begun["train_images"],
        "val_images": begun["val_images"], "batch": used_batch, "amp": device.type == "cuda",
        "steps": result.steps, "epochs": result.epochs, "train_seconds": done["seconds"],
        "wall_seconds": round(wall, 1),
        "images_per_s": steps[-1]["images_per_s"] if steps else None,
        "images_per_s_in_epochs": reporter.images_per_s_in_epochs(used_batch),
        "amp_skipped_steps": skipped,
        "final_loss": round(steps[-1]["losses"]["loss"], 4)
        if steps and steps[-1]["losses"] else None,
        **_peak(device),
        "checkpoint": str(result.checkpoint or (last[-1] if last else "")),
    }


def _batch_of(project: Path, run_id: int) -> int:
    with Project.open(project, read_only=True) as p:
        return int(p.store.run(run_id).config["batch"])


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def predict_speed(checkpoint: str, files: list[Path], timed: int, device: torch.device
                  ) -> dict:
    """ms per image, one image at a time after a warm-up (a tiled run: one frame at a time,
    its tiles in batches of 4), keeping detections above 0.5; fp32, as `isegui predict`."""
    predictor = Predictor.from_checkpoint(checkpoint, str(device), threshold=0.5)
    tiled = predictor.working.tiled
    warm = 1 if tiled else 2
    images = [load_image(f) for f in files[:warm + timed]]
    batch = 4 if tiled else 1
    _reset_peak(device)
    predictor.predict(images[:warm], batch_size=batch)
    _sync(device)
    start = time.perf_counter()
    found = predictor.predict(images[warm:], batch_size=batch)
    _sync(device)
    ms = (time.perf_counter() - start) * 1000 / len(found)
    out = {"images": len(found), "ms_per_image": round(ms, 1),
           "detections_per_image": round(float(np.mean([len(f) for f in found])), 1),
           **_peak(device)}
    if tiled:
        h, w = images[0].shape[:2]
        tiles = len(tile_grid(w, h, predictor.working.window))
        out.update(frame=f"{w}x{h}", tiles_per_frame=tiles, ms_per_tile=round(ms / tiles, 1))
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ddp_step(project: Path, size: int, device: torch.device) -> dict:
    """One training step of `fast` wrapped in DDP as ml.train.trainer wraps it, on a 1-process group
    (NCCL with gloo beside it on CUDA, gloo on the CPU); then the collectives a multi-process
    run makes."""
    backend = process_group_backend(device)  # as a torchrun training makes it
    start = time.perf_counter()
    dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{_free_port()}",
                            rank=0, world_size=1, timeout=timedelta(seconds=120))
    try:
        data = snapshot(project, None, 0.0, 0)
        dataset = training_dataset(data.train, WorkingScale(WHOLE, size), AugmentConfig(), 0)
        model = build_model("fast", num_classes=len(data.classes), size=size).to(device)
        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda"
                                      else None, find_unused_parameters=True)
        amp = device.type == "cuda"
        optimizer = torch.optim.AdamW(model.parameters(), lr=model_info("fast").default_lr)
        scaler = torch.amp.GradScaler("cuda", enabled=amp)
        images, targets = collate([dataset[(0, i)] for i in range(min(2, len(dataset)))])
        images = [i.to(device) for i in images]
        targets = [{k: v.to(device) for k, v in t.items()} for t in targets]
        step_start = time.perf_counter()
        net.train()
        with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
            loss = sum(net(images, targets).values())
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        _sync(device)
        out = {"ok": True, "backend": backend, "world_size": dist.get_world_size(),
               "loss": round(float(loss.detach()), 4),
               "step_seconds": round(time.perf_counter() - step_start, 2)}
        value = torch.ones(1, device=device)
        dist.all_reduce(value)
        out["all_reduce"] = "ok" if float(value) == 1.0 else f"wrong sum {float(value)}"
        out["project_collectives"] = _project_collectives()
        out["ok"] = out["all_reduce"] == "ok" and all(
            v == "ok" for v in out["project_collectives"].values())
        out["seconds"] = round(time.perf_counter() - start, 2)
        return out
    finally:
        dist.destroy_process_group()


def _project_collectives() -> dict:
    """ml.train.distributed's own `any` and `barrier` on the live group, as training calls them.
    They only talk to the group when the world is larger than one, so the helper is told 2;
    the group itself has one process, which the collectives don't mind."""
    ranks = Distributed(world=2, rank=0, local_rank=0)
    out = {}
    for name, call in (("any", lambda: ranks.any(True)), ("barrier", ranks.barrier)):
        try:
            result = call()
            out[name] = "ok" if result in (True, None) else f"returned {result!r}"
        except Exception as exc:  # reported, not raised: the step itself may still be fine
            out[name] = f"{type(exc).__name__}: {exc}"
    return out


def phase(result: dict, key, work) -> None:
    """Runs one phase, keeping its figures or its error; the next phases still run."""
    try:
        value = work()
    except Exception as exc:  # the check reports every failure it meets
        value = {"ok": False, "error": f"{type(exc).__name__}: {exc}",
                 "traceback_tail": traceback.format_exc().strip().splitlines()[-6:]}
    if value.get("ok") is False:
        result["ok"] = False
    *path, last = key if isinstance(key, tuple) else (key,)
    target = result
    for part in path:
        target = target.setdefault(part, {})
    target[last] = value
    print(json.dumps({"phase": key, **({"error": value["error"]} if "error" in value
                                       else {})}), file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, help="per training (default 1.25; "
                        "--quick 0.25)")
    parser.add_argument("--batch", type=int, help="images or tiles a step (default: the "
                        "device's, as `isegui train`)")
    parser.add_argument("--quick", action="store_true", help="smaller data and budgets")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                        help="cpu: a developer smoke run of the same code (2 steps a run)")
    parser.add_argument("--phases", default="train,predict,ddp",
                        help="which phases to run (predict needs train)")
    parser.add_argument("--out", type=Path, help="where the demo data and runs go (kept); "
                        "default: a temporary folder, removed")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        print(json.dumps({"benchmark": "gpu_check", "cuda": False,
                          "message": "no CUDA device: torch "
                          f"{torch.__version__} sees none (built for CUDA "
                          f"{torch.version.cuda or 'none'}); nothing was run"}))
        return 0
    device = torch.device("cuda", 0) if args.device == "cuda" else torch.device("cpu")
    plan = make_plan(args)
    out = args.out or Path(tempfile.mkdtemp(prefix="isegui-gpu-check-"))
    started = time.perf_counter()
    result = {"benchmark": "gpu_check", "cuda": device.type == "cuda", "ok": True,
              "plan": {**plan.__dict__, "frame_size": "x".join(map(str, plan.frame_size))},
              **device_info(device)}
    try:
        data = make_data(out, plan)
        result["data"] = {"parts_scenes": plan.scenes, "defects_frames": plan.frames,
                          "seconds": data["seconds"]}
        projects = {"whole": data["parts"], "tiles": data["defects"]}
        phases = set(args.phases.split(","))
        for model in MODELS:
            for mode in MODES if "train" in phases else ():
                phase(result, ("train", model, mode),
                      lambda model=model, mode=mode: train(projects[mode], model, mode, plan,
                                                           device, args.batch))
        for model in MODELS:
            for mode, timed in (("whole", plan.predict_images), ("tiles", plan.predict_frames)):
                checkpoint = result.get("train", {}).get(model, {}).get(mode, {}).get(
                    "checkpoint")
                if "predict" not in phases or not checkpoint:
                    continue
                files = sorted((projects[mode] / IMAGES_DIR).iterdir())
                phase(result, ("predict", model, mode),
                      lambda c=checkpoint, f=files, t=timed: predict_speed(c, f, t, device))
        if "ddp" in phases:
            phase(result, "ddp", lambda: ddp_step(data["parts"], plan.size, device))
    finally:
        if args.out is None:
            shutil.rmtree(out, ignore_errors=True)
    result["total_seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result, indent=1))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
