"""`isegui self-test`: proves that this installation works, from source or as the packaged
program: every module imports, torchvision's compiled ops run, each registered model predicts,
the training process starts and takes a step, and the main window opens and closes. Each check
is small (seconds on a CPU) and runs in a temporary folder; nothing of the user's is touched."""

from __future__ import annotations

import importlib
import json
import logging
import os
import pkgutil
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import isegui
from isegui.logs import FILE_ONLY
from isegui.runtime import is_frozen, isegui_command

# what the line folder's programs run: the command line (every command's parser), the watch,
# onnxruntime's predictor and the station
LINE_MODULES = ("isegui.cli", "isegui.ml.infer.line_watch", "isegui.ml.infer.onnx_model",
                "isegui.gui.station")
LINE_MODEL = "self-test/model.onnx"  # in the line folder's bundle, made by its build
SIZE = 128  # input size of the model and training checks: tiny, so they take seconds
TRAIN_TIMEOUT_S = 600
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    seconds: float
    detail: str  # what was found, or what went wrong


class Workspace:
    """A temporary folder with a tiny demo project, made when a check first needs it."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._project: Path | None = None

    def demo_project(self) -> Path:
        if self._project is None:
            from isegui.core.demo import create_demo_project
            folder = self.folder / "demo"
            create_demo_project(folder, n_images=2, width=SIZE, height=SIZE * 3 // 4).close()
            self._project = folder
        return self._project


def check_imports(_: Workspace) -> str:
    names = [info.name for info in pkgutil.walk_packages(isegui.__path__, "isegui.")
             if not info.name.endswith("__main__")]  # __main__ would run the program
    failed = []
    for name in names:
        try:
            __import__(name)
        except Exception as exc:  # noqa: BLE001 (every failure is reported by name)
            failed.append(f"{name} ({type(exc).__name__}: {exc})")
    if failed:
        raise AssertionError(f"{len(failed)} of {len(names)} modules failed to import: "
                             + "; ".join(failed))
    if len(names) < 10:  # a packaged build that lost its modules would still "pass"
        raise AssertionError(f"only {len(names)} isegui modules were found")
    return f"{len(names)} modules"


def check_team_driver(_: Workspace) -> str:
    """PostgreSQL's driver for team projects, with the libpq it carries (a line PC has none)."""
    import psycopg
    return f"psycopg {psycopg.__version__} ({psycopg.pq.__impl__}, libpq {psycopg.pq.version()})"


def check_torchvision_ops(_: Workspace) -> str:
    import torch
    from torchvision.ops import nms, roi_align
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], dtype=torch.float)
    keep = nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5).tolist()
    if keep != [0, 2]:
        raise AssertionError(f"nms kept {keep}, expected [0, 2]")
    ramp = torch.arange(8, dtype=torch.float).repeat(8, 1)[None, None]  # value = x
    pooled = roi_align(ramp, [torch.tensor([[2.0, 0.0, 6.0, 8.0]])], output_size=(1, 2),
                       spatial_scale=1.0, sampling_ratio=2, aligned=True)
    expected = torch.tensor([2.5, 4.5])  # each half of the box: the mean of its pixels
    if not torch.allclose(pooled.flatten(), expected, atol=1e-4):
        raise AssertionError(f"roi_align gave {pooled.flatten().tolist()}, expected "
                             f"{expected.tolist()}")
    return f"nms and roi_align on the CPU (torch {torch.__version__})"


def model_check(name: str) -> Callable[[Workspace], str]:
    def check(_: Workspace) -> str:
        import torch
        from isegui.ml.model.registry import build_model
        model = build_model(name, num_classes=3, size=SIZE).eval()
        with torch.no_grad():
            (out,) = model([torch.rand(3, SIZE * 3 // 4, SIZE)])
        missing = {"boxes", "labels", "scores", "masks"} - set(out)
        if missing:
            raise AssertionError(f"the output lacks {', '.join(sorted(missing))}")
        return f"CPU forward pass at {SIZE} px, {len(out['boxes'])} detections"
    return check


def export_self_test_model(out: Path) -> None:
    """The fast model, untrained, at SIZE px, as an ONNX file at `out` (the line folder's
    build bundles one: it has no torch to make it)."""
    from isegui.ml.model.checkpoint import save_checkpoint
    from isegui.ml.model.onnx_export import export_onnx
    from isegui.ml.model.registry import build_model
    classes = ["a", "b", "c"]
    model = build_model("fast", num_classes=len(classes), size=SIZE)
    out.parent.mkdir(parents=True, exist_ok=True)
    checkpoint = out.with_suffix(".pt")
    save_checkpoint(checkpoint, {"model_name": "fast", "size": SIZE, "classes": classes,
                                 "state_dict": model.state_dict()})
    export_onnx(checkpoint, out)
    checkpoint.unlink()


def check_onnx(space: Workspace) -> str:
    """The fast model exported to ONNX and run on onnxruntime, as `isegui export-model` and
    `isegui predict --checkpoint model.onnx` do."""
    import numpy as np

    from isegui.ml.infer.onnx_model import OnnxPredictor
    export_self_test_model(space.folder / "fast.onnx")
    predictor = OnnxPredictor(space.folder / "fast.onnx", threshold=0.0)
    image = np.random.default_rng(0).integers(0, 255, (SIZE * 3 // 4, SIZE, 3), np.uint8)
    (found,) = predictor.predict([image])
    return f"exported at {SIZE} px, onnxruntime found {len(found)} objects"


def check_line_watch(space: Workspace) -> str:
    """The watch as `isegui watch` runs it: the exported model (the onnx check's), a folder
    with a part and a torn file, rules: one row each, the torn one NG unreadable."""
    import numpy as np

    from isegui.core.images import save_image
    from isegui.ml.infer.line_watch import watcher_for
    model = space.folder / "fast.onnx"
    if not model.is_file():
        _line_model(space)
    folder = space.folder / "camera"
    folder.mkdir(exist_ok=True)
    save_image(folder / "part.png", np.full((SIZE * 3 // 4, SIZE, 3), 90, np.uint8))
    (folder / "torn.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut short")
    rules = space.folder / "rules.json"
    rules.write_text('{"isegui_rules": 1, "units": "px", "classes": {"a": {"count": {"max": 99}}}}')
    out = space.folder / "results.jsonl"
    watcher = watcher_for(folder, model, rules, out)
    watcher.say = lambda _: None  # its lines are not the self-test's
    count = watcher.run(once=True)
    rows = {r["file"]: r for r in map(json.loads, out.read_text().splitlines())}
    if count != 2 or set(rows) != {"part.png", "torn.jpg"} or rows["torn.jpg"]["verdict"] != "NG":
        raise AssertionError(f"watch wrote {rows}")
    return f"2 images: {rows['part.png']['verdict']}, {rows['torn.jpg']['verdict']} (torn)"


def _line_model(space: Workspace) -> None:
    """The model the line checks use, as space.folder/fast.onnx: the one the line folder's
    build bundled (it has no torch to export one), else exported here (the onnx check)."""
    bundle = getattr(sys, "_MEIPASS", None)
    bundled = Path(bundle) / LINE_MODEL if bundle else None
    if bundled is not None and bundled.is_file():
        shutil.copyfile(bundled, space.folder / "fast.onnx")
    else:
        check_onnx(space)


def check_line_imports(_: Workspace) -> str:
    """What the line programs run imports without torch, which the line folder leaves out."""
    import onnxruntime
    for name in LINE_MODULES:  # by name, as check_imports walks the package
        importlib.import_module(name)
    if "torch" in sys.modules:
        raise AssertionError("torch was imported, and the line folder has none")
    return f"onnxruntime {onnxruntime.__version__}; torch not needed"


def check_station(space: Workspace) -> str:
    """The station view on a watch, opened and closed off screen."""
    from isegui.gui.window_self_test import open_and_close_station
    from isegui.ml.infer.line_watch import watcher_for
    if not (space.folder / "fast.onnx").is_file():
        _line_model(space)
    folder = space.folder / "station"
    folder.mkdir(exist_ok=True)
    watcher = watcher_for(folder, space.folder / "fast.onnx", None,
                          space.folder / "station.csv")
    try:
        return open_and_close_station(watcher)
    finally:
        watcher.results.lock.release()


def check_training_process(space: Workspace) -> str:
    """`isegui train` in a process of its own, started as the app starts it."""
    program, prefix = isegui_command()
    command = [program, *prefix, "train", str(space.demo_project()), "--size", str(SIZE),
               "--epochs", "1", "--max-steps", "1", "--batch", "1", "--device", "cpu",
               "--workers", "1", "--augment", "none", "--progress", "jsonl", "--name",
               "self-test"]
    done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=TRAIN_TIMEOUT_S)
    events = []
    for line in done.stdout.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    finished = [e for e in events if e.get("event") == "done"]
    if done.returncode != 0 or not finished:
        tail = "\n".join(done.stderr.strip().splitlines()[-8:])
        raise AssertionError(f"{' '.join(command)} exited with {done.returncode}"
                             + (f": {tail}" if tail else ""))
    steps = [e for e in events if e.get("event") == "step"]
    return f"run {finished[0].get('run_id')} {finished[0].get('status')} after " \
           f"{len(steps)} step(s)"


def check_main_window(space: Workspace) -> str:
    from isegui.gui.window_self_test import open_and_close_main_window
    return open_and_close_main_window(space.demo_project())


def checks() -> list[tuple[str, Callable[[Workspace], str]]]:
    try:
        from isegui.ml.model.registry import model_names
        models = [(f"model {name}", model_check(name)) for name in model_names()]
    except Exception as exc:  # noqa: BLE001 (torch or the registry is broken: one failed check)
        models = [("models", _raise(exc))]
    return [("imports", check_imports), ("torchvision ops", check_torchvision_ops), *models,
            ("onnx", check_onnx), ("line watch", check_line_watch),
            ("team driver", check_team_driver),
            ("training process", check_training_process),
            ("main window", check_main_window)]


def line_checks() -> list[tuple[str, Callable[[Workspace], str]]]:
    """The line folder's (isegui-watch, isegui-station): onnxruntime, no torch."""
    return [("line imports", check_line_imports), ("line watch", check_line_watch),
            ("station", check_station)]


def run_self_test(report: Callable[[CheckResult], None] = lambda result: None,
                  line: bool = False) -> list[CheckResult]:
    """Every check (`line`: the line folder's), each timed, in order; a failing check does
    not stop the others."""
    results = []
    folder = Path(tempfile.mkdtemp(prefix="isegui-self-test-"))
    try:
        space = Workspace(folder)
        for name, check in (line_checks() if line else checks()):
            start = time.perf_counter()
            try:
                detail, ok = check(space), True
            except Exception as exc:  # noqa: BLE001 (a failed check is a result)
                detail, ok = f"{type(exc).__name__}: {exc}", False
                log.error("self-test: %s failed\n%s", name, traceback.format_exc(),
                          extra=FILE_ONLY)
            result = CheckResult(name, ok, time.perf_counter() - start, detail)
            log.info("self-test: %s %s in %.1f s: %s", name, "ok" if ok else "FAILED",
                     result.seconds, detail)
            results.append(result)
            report(result)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return results


def _raise(exc: Exception) -> Callable[[Workspace], str]:
    def check(_: Workspace) -> str:
        raise exc
    return check


def describe_pretrained() -> str:
    """Which pretrained weights this installation's runs start from, per model: information
    for support, never a failure (without them runs start from random weights)."""
    try:
        from isegui.ml.model.registry import model_names
        from isegui.ml.model.weights import describe_start
        return "; ".join(f"{name}: {describe_start(name, None)}" for name in model_names())
    except Exception as exc:  # noqa: BLE001 (torch itself is broken: the checks will say so)
        return f"unknown ({type(exc).__name__}: {exc})"


def describe_environment() -> str:
    """One line for the report: which program and Python this is."""
    kind = "packaged" if is_frozen() else "from source"
    return f"isegui {isegui.__version__} ({kind}), Python {sys.version.split()[0]}, " \
           f"{sys.platform}, {os.cpu_count()} CPUs"
