"""An exported model (`ml.model.onnx_export`) on onnxruntime, behind the same `predict` as the torch
predictor; no torch here, so a line PC predicting with it never imports torch.

The predictor scales an image to fit the export's input, as the torch model's transform does,
and fills the rest with the model's mean colour, which normalises to the zeros torch pads with.

Each run of the graph has a time limit: a model can pass every check at load and still loop
for ever on some images (a Loop whose trip count comes from the pixels runs 0 times on the
blank frame of the dry run). A run past its limit is stopped (onnxruntime's RunOptions
.terminate, set from a timer) and raises ModelTooSlow: that image is not inspected, the next
one is."""

from __future__ import annotations

import json
import math
import threading
import time
from pathlib import Path
from typing import Any, NoReturn

import cv2
import numpy as np

from isegui.core.entities import MAX_CLASSES
from isegui.core.one_line import is_text
from isegui.core.errors import IseguiError
from isegui.core.fileio import read_regular_bytes
from isegui.core.measure import MAX_MM_PER_PX, MIN_MM_PER_PX
from isegui.core.working_scale import WorkingScale
from isegui.ml.infer.detection import Detection, detections_from_raw, prepare_image
from isegui.ml.infer.tiled import RawOutput, TileOutput, predict_frame

INPUTS = ("image", "score_threshold")
OUTPUTS = ("boxes", "labels", "scores", "masks", "blobs")  # blobs: optional
MAX_SIDE = 16384  # px of the model's input; larger is no export of isegui's
# The time one run of the graph may take: DRY_RUN_FACTOR times the dry run's, and never less
# than RUN_LIMIT_S. Every run feeds the same input (one height x width canvas), so a sound
# model's runs all take about what the dry run took (which, the first, also pays for
# onnxruntime's warm-up): 20 times that, or a minute at least, leaves a slow or busy line PC
# far inside the limit, while a graph that would spin for ever stops within a minute or so.
# Tests shrink RUN_LIMIT_S.
RUN_LIMIT_S = 60.0
DRY_RUN_FACTOR = 20.0


class ExportError(IseguiError):
    pass


class ModelTooSlow(IseguiError):
    """One run of the model was stopped at its time limit; the image it ran on is not
    inspected (the predictor stays usable for the next one)."""


class OnnxPredictor:
    """An exported model on onnxruntime (CPU): `predict(images)` as Predictor's.

    A model is checked whole when it is loaded, so that what would fail on every image is
    refused in one line before the first one: its inputs and outputs, each metadata value's
    type and range, and a dry run on a blank frame."""

    def __init__(self, path: str | Path, threshold: float = 0.5, mask_threshold: float = 0.5,
                 threads: int | None = None):
        self.path = Path(path)
        self.session = _session(self.path, threads)
        meta = _Metadata(self.path, self.session)
        # what this export has: a model of blob classes only needs no score threshold, and
        # exports from before blob classes give no blob probabilities
        self._inputs = _check_inputs(self.path, self.session, meta.width, meta.height)
        self._outputs = _check_outputs(self.path, self.session)
        self.width, self.height = meta.width, meta.height
        self.classes = meta.classes
        self.model_name = meta.model_name
        self.mean = meta.mean
        self.working = meta.working
        self.device = "cpu"
        self.mm_per_px = meta.mm_per_px  # exports of a calibrated project carry it
        self.rules = meta.rules  # the inspection rules, when exported
        self.threshold = threshold
        self.mask_threshold = mask_threshold
        self.run_limit_s = RUN_LIMIT_S  # for the dry run; then set by its time
        self.dry_run_s = 0.0
        self._frame_deadline: float | None = None  # while a tiled frame is predicted
        self._dry_run()

    def _dry_run(self) -> None:
        """Predict a blank frame: a graph whose outputs do not fit fails here, not on a part;
        its time sets each later run's limit (see RUN_LIMIT_S)."""
        side = self.working.window if self.working.tiled else 0
        blank = np.zeros((side or self.height, side or self.width, 3), np.uint8)
        start = time.perf_counter()
        try:
            self.predict([blank])
        except ExportError as exc:
            raise ExportError(f"{exc} (on a blank frame, when loaded)") from None
        except Exception as exc:  # onnxruntime's own errors are untyped
            raise ExportError(f"{self.path}: fails on a blank frame ({_one_line(exc)})") \
                from None
        self.dry_run_s = time.perf_counter() - start
        self.run_limit_s = max(RUN_LIMIT_S, DRY_RUN_FACTOR * self.dry_run_s)

    @classmethod
    def from_file(cls, path: str | Path, threshold: float = 0.5) -> OnnxPredictor:
        return cls(path, threshold)

    def set_input_size(self, side: int) -> None:
        if self.working.tiled:
            raise ExportError(f"{self.path.name} predicts on tiles of {self.width} px only")
        if int(side) != max(self.width, self.height):
            raise ExportError(f"{self.path.name} takes {self.width} x {self.height} px images "
                              f"only; export it again with --size {int(side)}")

    def predict(self, images: list[np.ndarray], batch_size: int = 1) -> list[list[Detection]]:
        if self.working.tiled:
            return [self._predict_tiled(image) for image in images]
        return [self._predict_one(image) for image in images]

    def _predict_tiled(self, image: np.ndarray) -> list[Detection]:
        """The frame's detections, its tiles run within one time budget as well as each within
        the run limit: DRY_RUN_FACTOR times what the dry run's tile took, for each tile's
        worth of the frame, and RUN_LIMIT_S at least (a model taking just under a minute on
        each of 40 tiles must not hold the line for 40 minutes)."""
        frame_budget_s = max(RUN_LIMIT_S, DRY_RUN_FACTOR * self.dry_run_s * _frame_share(
            image.shape[:2], self.working.window))
        self._frame_deadline = time.monotonic() + frame_budget_s
        try:
            return predict_frame(image, self.working, self._run_tiles, self.classes, 4,
                                 self.mask_threshold, self.threshold)
        finally:
            self._frame_deadline = None

    def _run_tiles(self, tiles: list[np.ndarray]) -> list[TileOutput]:
        """Each tile (at most the input size) top-left on the mean colour, as torch pads."""
        out: list[TileOutput] = []
        for tile in tiles:
            raw, blobs = self._run(tile)
            h, w = tile.shape[:2]
            out.append((raw, blobs[:, :h, :w] if len(blobs) else None))
        return out

    def _run(self, pixels: np.ndarray) -> tuple[RawOutput, np.ndarray]:
        """The graph's raw output for RGB uint8 `pixels` placed top-left on the input, and
        its blob probabilities (none from a model without a blob head, or an older export)."""
        h, w = pixels.shape[:2]
        canvas = np.empty((self.height, self.width, 3), dtype=np.float32)
        canvas[:] = self.mean
        canvas[:h, :w] = pixels.astype(np.float32) / 255.0
        feed = {"image": np.ascontiguousarray(canvas.transpose(2, 0, 1)[None]),
                "score_threshold": np.asarray(self.threshold, dtype=np.float32)}
        feed = {k: v for k, v in feed.items() if k in self._inputs}
        limit_s = self.run_limit_s
        if self._frame_deadline is not None:
            limit_s = min(limit_s, self._frame_deadline - time.monotonic())
            if limit_s <= 0:
                raise ModelTooSlow("the model took longer than its time for a frame of this "
                                   "size and was stopped")
        boxes, labels, scores, masks, *rest = _timed_run(self.session, self._outputs, feed,
                                                         limit_s)
        blobs = rest[0] if rest else np.zeros((0, self.height, self.width), np.float32)
        self._check_run(boxes, labels, scores, masks, blobs)
        return (boxes, labels, scores, masks[:, 0]), blobs

    def _check_run(self, boxes: np.ndarray, labels: np.ndarray, scores: np.ndarray,
                   masks: np.ndarray, blobs: np.ndarray) -> None:
        """The outputs' shapes as `ml.model.onnx_export` makes them: N boxes x 4, N labels,
        N scores, N x 1 x M x M masks, blob classes x height x width."""
        n = len(boxes) if np.ndim(boxes) else -1
        fits = {"boxes": np.shape(boxes) == (n, 4), "labels": np.shape(labels) == (n,),
                "scores": np.shape(scores) == (n,),
                "masks": np.ndim(masks) == 4 and np.shape(masks)[:2] == (n, 1)
                and min(np.shape(masks)[2:]) > 0,
                "blobs": np.ndim(blobs) == 3 and np.shape(blobs)[1:] == (self.height, self.width)}
        wrong = [name for name, ok in fits.items() if not ok]
        if wrong:
            shapes = {"boxes": boxes, "labels": labels, "scores": scores, "masks": masks,
                      "blobs": blobs}
            raise ExportError(f"{self.path}: outputs of shapes the predictor cannot use: "
                              + ", ".join(f"{k} {np.shape(shapes[k])}" for k in wrong))

    def _predict_one(self, image: np.ndarray) -> list[Detection]:
        pixels = prepare_image(image)
        h, w = pixels.shape[:2]
        scale = min(self.width / w, self.height / h)
        # the size torch's resize (bilinear, scale factor recomputed) arrives at; at least a
        # pixel, as a line-scan strip of 1 x 65535 would otherwise come to 0 px
        rh, rw = max(1, int(np.floor(h * scale))), max(1, int(np.floor(w * scale)))
        resized = cv2.resize(pixels, (rw, rh), interpolation=cv2.INTER_LINEAR) \
            if (rh, rw) != (h, w) else pixels
        raw, _ = self._run(resized)  # whole-image runs have no blob classes
        return detections_from_raw(*raw, (w / rw, h / rh), (h, w), self.classes,
                                   self.mask_threshold)


def _frame_share(frame: tuple[int, int], window: int) -> float:
    """How many tiles' worth of time a frame may take: twice its area in tile windows (the
    tiles overlap), at least 1."""
    return max(1.0, 2.0 * frame[0] * frame[1] / max(1, window * window))


def _session(path: Path, threads: int | None) -> Any:
    import onnxruntime as ort
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    # weights kept in a file beside the model (any model over 2 GB) are read from the
    # model's folder, not the current one (where another file of that name may lie)
    options.add_session_config_entry("session.model_external_initializers_file_folder_path",
                                     str(Path(path).resolve().parent))
    try:  # from the bytes of a plain file: a FIFO named .onnx is not waited on
        return ort.InferenceSession(read_regular_bytes(path), options,
                                    providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ExportError(f"{path}: not a model onnxruntime can load ({_one_line(exc)})") \
            from None


def _timed_run(session: Any, outputs: list[str], feed: dict[str, np.ndarray],
               limit_s: float) -> list[Any]:
    """session.run, stopped by a timer once it has taken `limit_s` (ModelTooSlow)."""
    import onnxruntime as ort
    options = ort.RunOptions()
    options.log_severity_level = 4  # fatal only: its error line on the stop is a 2nd line
    timer = threading.Timer(limit_s, _terminate, (options,))
    timer.daemon = True  # a timer left waiting never keeps the program alive
    timer.start()
    try:
        return list(session.run(outputs, feed, options))
    except Exception:
        if options.terminate:  # onnxruntime's error for it is untyped
            raise ModelTooSlow(f"the model took longer than {_seconds(limit_s)} s on this "
                               "image and was stopped") from None
        raise
    finally:
        timer.cancel()


def _terminate(options: Any) -> None:
    options.terminate = True


def _seconds(value: float) -> str:
    return f"{value:.0f}" if value >= 1 else f"{value:.2f}"


def _check_inputs(path: Path, session: Any, width: int, height: int) -> set[str]:
    """The graph's inputs: an image of 1 x 3 x height x width floats, and optionally the score
    threshold; any other input could never be fed."""
    inputs = {i.name: i for i in session.get_inputs()}
    if "image" not in inputs:
        raise ExportError(f"{path}: the model has no input \"image\" (it has: "
                          f"{', '.join(map(repr, inputs)) or 'none'})")
    unknown = sorted(set(inputs) - set(INPUTS))
    if unknown:
        raise ExportError(f"{path}: the model needs inputs isegui does not give: "
                          f"{', '.join(map(repr, unknown))} (it gives {', '.join(INPUTS)})")
    shape = list(inputs["image"].shape)
    wanted = [1, 3, height, width]
    if len(shape) != 4 or any(isinstance(got, int) and got != want
                              for got, want in zip(shape, wanted)):
        raise ExportError(f"{path}: its input \"image\" is {shape}, its metadata says "
                          f"{wanted} (1 x 3 x height x width)")
    for name in inputs:
        if inputs[name].type != "tensor(float)":
            raise ExportError(f"{path}: its input {name!r} takes {inputs[name].type}, not "
                              "tensor(float)")
    return set(inputs)


def _check_outputs(path: Path, session: Any) -> list[str]:
    """The outputs the predictor reads, in its order; blob probabilities are optional."""
    outputs = {o.name for o in session.get_outputs()}
    missing = [name for name in OUTPUTS[:4] if name not in outputs]
    if missing:
        raise ExportError(f"{path}: the model has no output {', '.join(map(repr, missing))} "
                          f"(an isegui export has {', '.join(OUTPUTS)})")
    return [name for name in OUTPUTS if name in outputs]


class _Metadata:
    """The "isegui" metadata of an export, each value checked for its type and range; the
    first that does not fit is refused naming the key."""

    def __init__(self, path: Path, session: Any):
        self.path = path
        text = session.get_modelmeta().custom_metadata_map.get("isegui")
        if text is None:
            raise ExportError(f"{path}: not an isegui export (no isegui metadata); export it "
                              "with `isegui export-model`")
        try:
            meta = json.loads(text)
        except (ValueError, RecursionError) as exc:
            self.fail("", f"not valid JSON ({_one_line(exc)})")
        if not isinstance(meta, dict):
            self.fail("", "must be a JSON object")
        self.width, self.height = (self.side(meta, key) for key in ("width", "height"))
        self.classes = self.class_names(meta.get("classes"))
        self.model_name = self.text(meta.get("model_name", ""), "model_name")
        self.mean = self.colour(meta.get("mean"))
        self.working = self.working_scale(meta.get("working_scale"))
        self.mm_per_px = self.calibration(meta.get("mm_per_px"))
        rules = meta.get("rules")
        if rules is not None and not isinstance(rules, dict):
            self.fail("rules", "must be an object (the rules file's content)")
        self.rules: dict[str, Any] | None = rules

    def fail(self, key: str, problem: str) -> NoReturn:
        where = f"its metadata's {key!r}" if key else "its isegui metadata"
        raise ExportError(f"{self.path}: {where}: {problem}")

    def side(self, meta: dict[str, Any], key: str) -> int:
        value: Any = meta.get(key)
        if not _whole(value) or not 1 <= value <= MAX_SIDE:
            self.fail(key, f"must be a whole number of pixels from 1 to {MAX_SIDE}, not "
                      f"{_shown(value)}")
        return int(value)

    def class_names(self, value: Any) -> list[str]:
        if not isinstance(value, list) or not value or len(value) > MAX_CLASSES:
            self.fail("classes", f"must be a list of 1 to {MAX_CLASSES} class names, not "
                      f"{_shown(value)}")
        for name in value:
            if not isinstance(name, str) or not name.strip() or not is_text(name):
                self.fail("classes", f"a class name must be non-empty text, not {_shown(name)}")
        if len(set(value)) < len(value):
            self.fail("classes", "a class is named twice")
        return list(value)

    def text(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not is_text(value):
            self.fail(key, f"must be text, not {_shown(value)}")
        return value

    def colour(self, value: Any) -> np.ndarray:
        if not (isinstance(value, list) and len(value) == 3
                and all(_number(v) and 0 <= v <= 1 for v in value)):
            self.fail("mean", f"must be 3 numbers from 0 to 1 (red, green, blue), not "
                      f"{_shown(value)}")
        return np.asarray(value, dtype=np.float32)

    def working_scale(self, value: Any) -> WorkingScale:
        if value is not None and not isinstance(value, dict):
            self.fail("working_scale", f"must be an object, not {_shown(value)}")
        try:
            working = WorkingScale.from_dict(value, max(self.width, self.height))
        except (TypeError, ValueError, OverflowError) as exc:
            self.fail("working_scale", _one_line(exc))
        if working.tiled and (working.size, working.size) != (self.width, self.height):
            self.fail("working_scale", f"tiles of {working.size} px do not fit the model's "
                      f"{self.width} x {self.height} px input")
        return working

    def calibration(self, value: Any) -> float | None:
        if value is None:
            return None
        if not _number(value) or not MIN_MM_PER_PX <= value <= MAX_MM_PER_PX:
            self.fail("mm_per_px", f"must be a number of mm per pixel above 0, not "
                      f"{_shown(value)}")
        return float(value)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    """A finite JSON number (a bool is not one)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # a whole number too large for a float
        return False


def _shown(value: Any) -> str:
    """A metadata value as a message shows it: JSON, on one line, cut short."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        text = type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
