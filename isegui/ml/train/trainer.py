"""Training: `fit(spec, reporter, cancel)`, a plain function the CLI and the GUI's worker
process both call. No printing, no exiting: events go to the reporter, failures raise
TrainingError with what to do about them."""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel

from isegui.core.entities import RunStatus
from isegui.core.errors import IseguiError
from isegui.core.store.lock import ProjectLock
from isegui.core.project import Project
from isegui.core.working_scale import WorkingScale, choose_working_scale
from isegui.ml.model.blob_head import BLOB_TRAINING_CROP, runs_detector
from isegui.ml.model.batchnorm import freeze_batchnorm, restore_statistics, settle_batchnorm
from isegui.ml.model.checkpoint import load_checkpoint, save_checkpoint
from isegui.ml.train.data import Target, collate, labeled_shapes, sample_sizes, snapshot
from isegui.ml.model.device import default_batch, resolve_device
from isegui.ml.train.distributed import Distributed, EpochBatches
from isegui.ml.train.calibrate import calibrate_cutoffs
from isegui.ml.train.evaluate import evaluate
from isegui.ml.infer.detection import Detection
from isegui.ml.infer.tiled import BlobMap
from isegui.ml.train.interrupt import CancellableDataset, StepInterrupted, StepInterrupter
from isegui.ml.model.torch_predictor import Predictor
from isegui.ml.train.preflight import Advice, blocking, training_outlook
from isegui.ml.run_protocol import CancelToken, NullReporter, Reporter
from isegui.ml.model.registry import build_model, model_from_checkpoint, model_info
from isegui.ml.run_log import RunLog
from isegui.ml.runs import (active_choice, check_runs_folder, checkpoint_file, find_run,
                             make_run_folder, run_lock, settle_abandoned_runs)
from isegui.ml.train.spec import TrainSpec
from isegui.ml.train.tile_data import MINED_FRAMES, TiledDataset, training_dataset
from isegui.ml.train.state import TrainResult, TrainState
from isegui.ml.model.weights import InitReport, find_pretrained, initialise

VALIDATION_SCORE = 0.05  # low, so mAP sees the whole ranking
WARMUP_SHARE = 0.1  # of the budget, at most
VALIDATION_SPACING = 5  # training seconds between validations, in validations' durations
BAD_STEPS_BEFORE_LOWER = 3  # non-finite losses in a row before the rate is halved
LOWERINGS_BEFORE_GIVING_UP = 3


class TrainingError(IseguiError):
    def __init__(self, message: str, remedy: str = ""):
        self.remedy = remedy
        super().__init__(f"{message}{' ' + remedy if remedy else ''}")


def fit(spec: TrainSpec, reporter: Reporter | None = None,
        cancel: CancelToken | None = None, advice: list[Advice] | None = None) -> TrainResult:
    """`advice`: what preflight said of this run, when the caller has already asked; a run
    with an error-level finding (images it would fail on) is not started."""
    cancel = cancel or CancelToken()
    advice = training_outlook(spec.project, spec) if advice is None else advice
    if blocking(advice):
        raise TrainingError("training not started: " + " ".join(
            f"{a.title}: {a.text}" for a in blocking(advice)))
    device = resolve_device(spec.device)
    ranks = Distributed.from_env(device)
    if ranks.enabled and device.type == "cuda":
        device = torch.device("cuda", ranks.local_rank)
    reporter = reporter if (reporter and ranks.main) else NullReporter()
    if spec.batch is None and not spec.resume:  # a resumed run keeps its own
        spec = spec.with_(batch=default_batch(device))
    try:
        return _Trainer(spec, device, ranks, reporter, cancel, advice).run()
    finally:
        ranks.close()


class _Trainer:
    def __init__(self, spec: TrainSpec, device: torch.device, ranks: Distributed,
                 reporter: Reporter, cancel: CancelToken, advice: list[Advice]):
        self.device, self.ranks, self.reporter, self.cancel = device, ranks, reporter, cancel
        self.advice = advice  # preflight's, for the start event
        self.state = TrainState()
        self._validated: tuple[float, float] | None = None  # (elapsed at, seconds it took)
        resumed = None
        if spec.resume:
            resumed, spec = self._load_resume(spec)
        self.spec = spec
        # fit() fills the batch in; a resumed run has its own in its record
        self.batch = spec.batch or default_batch(device)
        self._note("reading the project's images and labels…")
        self.data = snapshot(spec.project, resumed["classes"] if resumed else None,
                             spec.val_fraction, spec.seed)
        if not self.data.classes:
            raise TrainingError("the project has no classes to learn.")
        if not any(s.labels for s in self.data.train):
            raise TrainingError("no labeled instances in the train split.",
                                "Label some images, or move images into the train split.")
        self.working = (WorkingScale.from_dict(resumed.get("working_scale"), resumed["size"])
                        if resumed else choose_working_scale(
                            sample_sizes(self.data.train + self.data.val), spec.size,
                            spec.tile, spec.scale, labeled_shapes(self.data) if spec.blobs
                            else None))
        self._note(f"working scale: {self.working.reason or self.working.describe()}")
        torch.manual_seed(spec.seed)
        self.init = InitReport()
        self.frozen_batchnorm = bool(resumed and resumed.get("frozen_batchnorm"))
        self._note(f"building the {spec.model} model ({len(self.data.classes)} classes; "
                   f"{len(self.data.train)} training images)…")
        if resumed:
            self.model = model_from_checkpoint(resumed, self.resume_path)
            self.init = InitReport(source=resumed["init_source"])
        else:
            classes = self.data.classes
            self.model = build_model(spec.model, num_classes=len(classes), size=self.working.size,
                                     blob_labels=self.working.blob_labels(classes),
                                     line_labels=self.working.line_labels(classes))
            self.init = self._initialise()
        self.model.to(device)
        self.amp = spec.amp and device.type == "cuda"
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.base_lr = spec.lr or model_info(spec.model).default_lr
        self.optimizer = torch.optim.AdamW(params, lr=self.base_lr, weight_decay=spec.weight_decay)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        if resumed:
            self.optimizer.load_state_dict(resumed["optimizer"])
            if resumed.get("scaler"):
                self.scaler.load_state_dict(resumed["scaler"])
            self.state = TrainState(**resumed["state"])
        self.net = (DistributedDataParallel(self.model, device_ids=[device.index] if
                                            device.type == "cuda" else None,
                                            find_unused_parameters=True)
                    if ranks.enabled else self.model)
        crop = None if runs_detector(self.model) else min(BLOB_TRAINING_CROP, self.working.size)
        self.dataset = training_dataset(self.data.train, self.working, spec.augment, spec.seed,
                                        crop)
        self.batches = EpochBatches(len(self.dataset), self.batch, spec.seed, ranks.world,
                                    ranks.rank)
        self.run_id: int | None = resumed["run_id"] if resumed else None
        self.lr: float | None = None  # the learning rate of the last step
        self.folder: Path | None = None
        self.log: RunLog | None = None  # the run's events file (main process only)
        self.lock: ProjectLock | None = None  # held while this process trains the run (main)
        # a cancel during a step ends it at the next block of the model (one process only)
        self.interrupter = None if ranks.enabled else StepInterrupter(self.model, cancel)

    def _note(self, message: str) -> None:
        """What the process is doing, for whoever waits for the first step."""
        self.reporter.event("note", message=message, phase=True)

    # ------------------------------------------------------------------ setup

    def _load_resume(self, spec: TrainSpec) -> tuple[dict[str, Any], TrainSpec]:
        with Project.open(spec.project, read_only=True) as project:
            run = find_run(project, spec.resume)
            path = checkpoint_file(project, run, "last")
        self._note(f"reading run {run.id}'s last checkpoint…")
        data = load_checkpoint(path)
        self.resume_path = path
        if "optimizer" not in data or "state" not in data:
            raise TrainingError(f"{path}: holds no optimizer state, so it cannot be resumed.",
                                "Start a new run with --init instead.")
        saved = TrainSpec.from_dict(data["config"])
        # the run stays; the budget, device and workers may change. The project is the folder
        # asked for, not the run's first one (a copied or renamed project: not its old place)
        given = spec.epochs is not None or spec.minutes is not None
        spec = saved.with_(project=spec.project, epochs=spec.epochs if given else saved.epochs,
                           minutes=spec.minutes if given else saved.minutes,
                           device=spec.device, workers=spec.workers, resume=spec.resume,
                           max_steps=spec.max_steps)
        data["run_id"] = run.id
        first = (run.config.get("init") or {}).get("source") or "unknown"
        data["init_source"] = (f"run {run.id}'s last checkpoint ({path.name}); the run "
                               f"started from {first}")
        return data, spec

    def _initialise(self) -> InitReport:
        spec = self.spec
        source = spec.init
        path = None
        if source:
            path = Path(source)
            if not path.is_file():
                with Project.open(spec.project, read_only=True) as project:
                    path = checkpoint_file(project, find_run(project, source), "best")
        elif spec.pretrained_search:
            path = find_pretrained(spec.model, spec.project)
        if path is None:
            return InitReport(source="random (no pretrained weights file found locally)",
                              total=len(self.model.state_dict()))
        self._note(f"loading the weights of {path.name}…")
        report = initialise(self.model, path, self.data.classes)
        # pretrained statistics are worth more than what batches of a few images would make
        self.frozen_batchnorm = freeze_batchnorm(self.model) > 0
        return report

    def _size_name(self) -> str:
        w = self.working
        return f"tile{w.size}x{w.scale:g}" if w.tiled else str(w.size)

    def _open_run(self) -> None:
        if not self.ranks.main:
            return
        with Project.open(self.spec.project, lock=False) as project:
            check_runs_folder(project.folder)  # before a run is recorded: a link out refused
            settle_abandoned_runs(project)
            if self.run_id is None:
                name = self.spec.name or (f"{self.spec.model}-{self._size_name()}-"
                                          f"{datetime.now():%Y%m%d-%H%M%S}")
                config = {**self.spec.as_dict(), "classes": self.data.classes,
                          "validation": self.data.validation, "init": self.init.as_dict(),
                          "working_scale": self.working.as_dict(),
                          "device": str(self.device), "processes": self.ranks.world}
                self.run_id = project.store.add_run(name, config).id
            else:
                project.store.update_run(self.run_id, status=RunStatus.RUNNING)
            root = project.folder  # a team project's: its image root, which the team shares
        try:
            self.folder = make_run_folder(root, self.run_id)
            self.lock = run_lock(root, self.run_id)
            held = self.lock.try_acquire()
        except IseguiError as exc:  # the run is recorded: it must not stay "running"
            self._fail(str(exc))
            raise
        if not held:
            raise TrainingError(f"run {self.run_id} is being trained by another process"
                                f"{self.lock.holder()}.")
        self.log = RunLog(self.folder)

    # ------------------------------------------------------------------ the loop

    def run(self) -> TrainResult:
        try:
            return self._run()
        finally:  # only once the run's record says how it ended
            if self.lock is not None:
                self.lock.release()

    def _run(self) -> TrainResult:
        self._open_run()
        spec, state = self.spec, self.state
        steps_per_epoch = len(self.batches)
        self.reporter.event(
            "start", run_id=self.run_id, model=spec.model, size=self.working.size,
            working_scale=self.working.as_dict(),
            device=str(self.device), processes=self.ranks.world, classes=self.data.classes,
            train_images=len(self.data.train), val_images=len(self.data.val),
            validation=self.data.validation, init=self.init.as_dict(),
            steps_per_epoch=steps_per_epoch, epochs=spec.epochs, minutes=spec.minutes,
            resumed_at_epoch=state.epoch if spec.resume else None,
            resumed_at_step=state.step if spec.resume else None, notes=list(self.data.notes),
            advice=[a.as_dict() for a in self.advice])
        try:
            status = self._epochs(steps_per_epoch)
        except (MemoryError, RuntimeError) as exc:  # torch.cuda.OutOfMemoryError is one
            if isinstance(exc, RuntimeError) and "out of memory" not in str(exc).lower():
                self._fail(str(exc))
                raise
            self._fail(f"out of memory ({type(exc).__name__})")
            raise TrainingError("training ran out of memory.",
                                "Use a smaller --batch or --size (or the fast model).") from None
        except BaseException as exc:  # the run's record must not stay "running"
            self._fail(str(exc) or type(exc).__name__)
            raise
        finally:
            self._close_log()
        best = self.folder / "best.pt" if self.folder else None
        if status == RunStatus.FINISHED and best is not None and not best.is_file():
            self._fail("it ended before its first epoch: no model to keep")
            raise TrainingError("the run ended before its first epoch, with no model to keep.",
                                "Give it more time (--minutes) or epochs (--epochs).")
        active = self._record_end(status)
        result = TrainResult(self.run_id, status, state.epoch, state.step, state.best_metrics,
                             best if best and best.is_file() else None, self.data.validation)
        self.reporter.event("done", run_id=self.run_id, status=status.value,
                            epochs=state.epoch, steps=state.step, best=state.best_metrics,
                            checkpoint=str(result.checkpoint) if result.checkpoint else None,
                            seconds=round(state.elapsed, 1), **active)
        return result

    def _close_log(self) -> None:
        if self.log is not None:
            self.log.close()
        if self.interrupter is not None:
            self.interrupter.remove()

    def _epochs(self, steps_per_epoch: int) -> RunStatus:
        spec, state = self.spec, self.state
        session_start = time.monotonic() - state.elapsed
        total_steps = (spec.epochs or 0) * steps_per_epoch
        workers = spec.workers if spec.workers is not None else _default_workers(self.device)
        first = True  # of this session: the notes until it come
        # one loader: its workers persist (under spawn each epoch's would import torch again)
        loader = torch.utils.data.DataLoader(
            CancellableDataset(self.dataset, self.cancel)
            if self.interrupter and not workers else self.dataset,
            batch_sampler=self.batches, collate_fn=collate, num_workers=workers,
            persistent_workers=workers > 0, pin_memory=self.device.type == "cuda")
        while True:
            if spec.minutes is None and state.epoch >= (spec.epochs or 0):
                return RunStatus.FINISHED
            self.batches.set_epoch(state.epoch, state.batch)
            self.net.train()
            losses_sum: dict[str, float] = {}
            counted = 0
            last_report = 0.0
            batches = iter(loader)
            if first:
                what = "tiles" if self.working.tiled else "images"
                self._note(f"loading the first batch ({self.batch} {what} at "
                           f"{self.working.size} px)…")
            while state.batch < steps_per_epoch:
                state.elapsed = time.monotonic() - session_start
                progress = (state.elapsed / (spec.minutes * 60) if spec.minutes
                            else state.step / max(1, total_steps))
                stop = (self.cancel.cancelled or progress >= 1.0 or
                        (spec.max_steps is not None and state.step >= spec.max_steps))
                # decided before the next batch is loaded: without loader processes, loading
                # takes seconds that a cancel should not wait for
                if self.ranks.any(stop):
                    return self._stop_mid_epoch(_mean(losses_sum, counted))
                try:
                    images, targets = next(batches)
                except StopIteration:
                    break
                except StepInterrupted:  # cancelled while the batch was loading
                    return self._stop_mid_epoch(_mean(losses_sum, counted))
                if first:
                    self._note("the first training step: the slowest one (the model warms up)…")
                    first = False
                try:
                    losses = self._step(images, targets, progress)
                except StepInterrupted:  # cancelled mid-step: the step is not taken
                    self.optimizer.zero_grad(set_to_none=True)
                    return self._stop_mid_epoch(_mean(losses_sum, counted))
                state.batch += 1
                if losses:
                    counted += 1
                    for k, v in losses.items():
                        losses_sum[k] = losses_sum.get(k, 0.0) + v
                now = time.monotonic()
                if now - last_report > 0.25 or state.batch == steps_per_epoch:
                    last_report = now
                    self._report_step(losses, steps_per_epoch, progress, total_steps)
            state.epoch += 1
            state.batch = 0
            state.elapsed = time.monotonic() - session_start
            self._end_epoch(_mean(losses_sum, counted),
                            final=spec.minutes is None and state.epoch >= (spec.epochs or 0))

    def _step(self, images: Sequence[torch.Tensor], targets: Sequence[Target],
              progress: float) -> dict[str, float] | None:
        spec, state = self.spec, self.state
        # warm-up ends after warmup_steps, or after a tenth of the budget (steps or minutes)
        # when that comes first: a 5-minute run on a CPU has only ~150 steps in all
        warm = min(1.0, max((state.step + 1) / max(1, spec.warmup_steps),
                            progress / WARMUP_SHARE))
        lr = self.base_lr * state.lr_factor * warm * max(0.02, 0.5 * (1 + math.cos(
            math.pi * min(1.0, progress))))
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        # the model samples proposals at random: seeding each step makes a resumed run take
        # the same samples an uninterrupted one would
        torch.manual_seed((spec.seed * 1_000_003 + state.step) & 0x7FFF_FFFF)
        images = [i.to(self.device, non_blocking=True) for i in images]
        targets = [{k: v.to(self.device, non_blocking=True) for k, v in t.items()}
                   for t in targets]
        with self._interruptible():
            with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
                loss_dict = self.net(images, targets)
                loss = sum(loss_dict.values())
            self.optimizer.zero_grad(set_to_none=True)
            if self.ranks.any(not bool(torch.isfinite(loss))):
                self._bad_step()
                return None
            self.scaler.scale(loss).backward()
        state.bad_in_row = 0
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), spec.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        state.step += 1
        out = {k: float(v.detach()) for k, v in loss_dict.items()}
        out["loss"] = float(loss.detach())
        self.lr = lr
        return out

    def _interruptible(self) -> contextlib.AbstractContextManager[None]:
        return self.interrupter.arm() if self.interrupter else contextlib.nullcontext()

    def _bad_step(self) -> None:
        """A non-finite loss: skip the step; halve the rate after a few in a row; give up
        with a clear message rather than ever saving a NaN model."""
        state = self.state
        state.bad_in_row += 1
        state.skipped += 1
        if state.bad_in_row % BAD_STEPS_BEFORE_LOWER:
            return
        lowered = round(-math.log2(state.lr_factor)) + 1
        if lowered > LOWERINGS_BEFORE_GIVING_UP:
            raise TrainingError(
                f"the loss stayed non-finite (NaN or infinite) even at 1/{2 ** (lowered - 1)} "
                "of the learning rate; no checkpoint of it was kept.",
                "Lower --lr, and check the labels for broken or tiny instances "
                "(`isegui validate`).")
        state.lr_factor *= 0.5
        self.reporter.event("note", message=f"non-finite loss {state.bad_in_row} steps in a "
                            f"row: learning rate lowered to {state.lr_factor:g} of its value")

    def _report_step(self, losses: dict[str, float] | None, steps_per_epoch: int,
                     progress: float, total: int) -> None:
        state, spec = self.state, self.spec
        if spec.minutes:
            eta = max(0.0, spec.minutes * 60 - state.elapsed)
        else:
            eta = state.elapsed / max(1, state.step) * max(0, total - state.step)
        fields = dict(
            epoch=state.epoch + 1, batch=state.batch, batches=steps_per_epoch,
            step=state.step, progress=round(min(1.0, progress), 4), eta_s=round(eta, 1),
            elapsed_s=round(state.elapsed, 1), losses=losses, lr=self.lr,
            images_per_s=round(state.step * self.batch * self.ranks.world /
                               max(1e-6, state.elapsed), 2))
        self.reporter.event("step", **fields)
        if self.log is not None and losses:
            self.log.append("step", fields)

    def _stop_mid_epoch(self, losses: dict[str, float]) -> RunStatus:
        state = self.state
        if self.cancel.cancelled:
            self._end_epoch(losses, cancelled=True)
            return RunStatus.CANCELLED
        if state.batch:  # budget spent: the partial epoch counts
            state.epoch += 1
            state.batch = 0
            self._end_epoch(losses, final=True)
        elif state.history and "mask_map" not in state.history[-1] and self.data.val:
            # spent right at an epoch's end that skipped validation: that epoch is the last
            ended = state.history.pop()
            self._end_epoch({k: v for k, v in ended.items() if k.startswith("loss")},
                            final=True)
        return RunStatus.FINISHED

    # ------------------------------------------------------------------ epoch end

    def _end_epoch(self, losses: dict[str, float], cancelled: bool = False,
                   final: bool = False) -> None:
        """Validate (when due), keep the history and the best, write checkpoints, record the
        run. A cancelled epoch only saves `last` (with the batch it reached, to resume there)."""
        state = self.state
        metrics: dict[str, Any] = {"epoch": state.epoch, "step": state.step,
                                   "elapsed_s": round(state.elapsed, 1), **losses}
        validate = bool(self.data.val) and not cancelled and self._validation_due(final)
        running: dict[str, torch.Tensor] = {}  # the running statistics training goes on from
        if self.ranks.main and not cancelled and (validate or not self.data.val):
            # validated, or kept as best by its loss: with statistics that match the weights
            started = time.monotonic()
            running = settle_batchnorm(self.model, self.dataset, state.epoch, self.batch,
                                       self.device)
            if validate:
                n = len(self.data.val)
                self._note(f"validating on {n} image{'s' if n != 1 else ''}…")
                metrics.update(self._validate())
                self._validated = (state.elapsed, time.monotonic() - started)
        self.ranks.barrier()
        if not self.ranks.main:
            return
        folder, run_id = self._opened()
        improved = False
        if not cancelled:
            state.history.append(metrics)
            # mask mAP decides; the loss breaks ties (early on, mAP is 0 for every epoch)
            score = [metrics.get("mask_map", -math.inf), -losses.get("loss", math.inf)]
            if score > state.best:
                state.best, state.best_metrics, improved = score, metrics, True
        self._save(improved, running)
        restore_statistics(self.model, running)
        with Project.open(self.spec.project, lock=False) as project:
            best = folder / "best.pt"
            project.store.update_run(
                run_id,
                metrics={"best": state.best_metrics, "history": state.history,
                         "validation": self.data.validation, "skipped_steps": state.skipped},
                checkpoint=best.relative_to(project.folder).as_posix() if best.is_file()
                else None)
        self.reporter.event("epoch", **metrics, improved=improved, cancelled=cancelled)
        if self.log is not None and not cancelled:  # a cancelled epoch is done again
            self.log.append("epoch", {**metrics, "improved": improved})

    def _validation_due(self, final: bool) -> bool:
        """Every epoch, unless epochs are so short that validating each would take more than
        about a sixth of the time (a few images on a CPU): then every few epochs, and always
        at the end and when the time budget has less than two epochs left."""
        if final or self._validated is None:
            return True
        at, cost = self._validated
        if self.state.elapsed - at >= VALIDATION_SPACING * cost:
            return True
        if self.spec.minutes is None or not self.state.epoch:
            return False
        epoch_seconds = self.state.elapsed / self.state.epoch
        return self.spec.minutes * 60 - self.state.elapsed < 2 * epoch_seconds

    def _validate(self) -> dict[str, float]:
        self.model.eval()
        predictor = Predictor(self.model, self.data.classes, self.device, VALIDATION_SCORE,
                              working=self.working)
        from isegui.ml.train.data import sample_pixels
        detections: list[list[Detection]] = []
        maps: list[BlobMap] = []
        predictor.blob_map_seen = maps.append
        for sample in self.data.val:
            detections += predictor.predict([sample_pixels(sample)])
        if self.working.blob_classes and len(maps) == len(detections):
            # each blob class cut where its validation masks fit best; kept with the weights
            self.working, detections, result = calibrate_cutoffs(
                self.data.val, detections, maps, self.working, self.data.classes,
                VALIDATION_SCORE)
        else:
            result = evaluate(self.data.val, detections, self.data.classes)
        if isinstance(self.dataset, TiledDataset):  # its mistakes on training frames, taught
            mining = Predictor(self.model, self.data.classes, self.device, VALIDATION_SCORE,
                               working=self.working)  # on no more frames than validation's
            self.dataset.mine(mining.predict, min(MINED_FRAMES, len(self.data.val)))
        self.model.train()
        metrics = {k: result[k] for k in ("mask_map", "mask_map50", "box_map", "box_map50",
                                          "true_positives", "instances")}  # found of labeled
        if result["matched_iou"] is not None:  # how closely the found ones fit their labels
            metrics["matched_iou"] = result["matched_iou"]
        return metrics

    def _save(self, improved: bool, running: dict[str, torch.Tensor]) -> None:
        """`best` with the model as it is; `last` with the `running` statistics in place of
        settled ones, so that resuming from it continues as if never stopped."""
        state, spec = self.state, self.spec
        folder, _ = self._opened()
        weights = {k: v.detach().cpu() for k, v in self.model.state_dict().items()}
        common = {"model_name": spec.model, "size": self.working.size,
                  "working_scale": self.working.as_dict(), "classes": self.data.classes,
                  "state_dict": weights, "config": spec.as_dict(), "run_id": self.run_id,
                  "frozen_batchnorm": self.frozen_batchnorm}
        plain = {k: v for k, v in vars(state).items() if k in TrainState.__dataclass_fields__}
        save_checkpoint(folder / "last.pt", {
            **common, "state_dict": {**weights, **{k: v.cpu() for k, v in running.items()}},
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict() if self.amp else {}, "state": plain})
        if improved:
            save_checkpoint(folder / "best.pt", {**common, "metrics": state.best_metrics})
        self.reporter.event("checkpoint", last=str(folder / "last.pt"),
                            best=str(folder / "best.pt") if improved else None)

    def _opened(self) -> tuple[Path, int]:
        """The run's folder and id, which the main process has from `_open_run` on."""
        assert self.folder is not None and self.run_id is not None
        return self.folder, self.run_id

    def _record_end(self, status: RunStatus) -> dict[str, Any]:
        """The run's final status; a finished run may become the active one (one rule:
        `active_choice`). What happened, for the done event."""
        if not self.ranks.main:
            return {}
        _, run_id = self._opened()
        with Project.open(self.spec.project, lock=False) as project:
            project.store.update_run(run_id, status=status)
            if status != RunStatus.FINISHED:
                return {"active": False, "active_run_id": project.active_run_id_or_none()}
            run = project.store.run(run_id)
            active = next((r for r in project.store.runs()
                           if r.id == project.active_run_id_or_none()), None)
            chosen, why = active_choice(run, active)
            if chosen:
                project.set_active_run(run_id)
            return {"active": chosen, "active_run_id": project.active_run_id,
                    "active_reason": why}

    def _fail(self, reason: str) -> None:
        if not (self.ranks.main and self.run_id is not None):
            return
        try:
            with Project.open(self.spec.project, lock=False) as project:
                project.store.update_run(self.run_id, status=RunStatus.FAILED,
                                         metrics={"best": self.state.best_metrics,
                                                  "history": self.state.history,
                                                  "error": reason})
        except IseguiError:
            pass  # the error being reported matters more than the record of it


def _mean(sums: dict[str, float], count: int) -> dict[str, float]:
    return {k: v / count for k, v in sums.items()} if count else {}


def _default_workers(device: torch.device) -> int:
    cores = os.cpu_count() or 1
    if device.type == "cuda":
        return min(4, max(0, cores // 2))
    return 0 if cores <= 4 else 2  # on a small CPU, loading competes with the training
