"""What the assisted tools share: the open image as RGB, the engine they use (the active run's
model, or colour: GrabCut) and the model's work, done off the window's thread (gui.workers.
model_work): the model is read when a run becomes active or such a tool is picked, and its
detections of the image (for the click tool) are made in the background. A tool that needs the
model while that work is under way either waits for it (engine "model": its action runs when
the work ends, the window stays live) or uses GrabCut for now (engine "auto")."""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QApplication

from isegui.core.labeling_aids import Candidate
from isegui.core.mask_window import Box
from isegui.gui.workers.model_work import Job, ModelWork
from isegui.gui.workers import predict_worker
from isegui.ml.click.words import holdout_in_words, used_by_click_tool
from isegui.ml.model.loaded_model import LoadedModel
from isegui.ml.runs import RunNotFound, checkpoint_file

log = logging.getLogger(__name__)

ENGINES = {"auto": "Auto", "model": "Model", "colour": "Colour (GrabCut)"}
# with engine "auto" the model's answer is used only from these scores up (its box score and
# the mean probability over its mask's pixels) ...
AUTO_SCORE = 0.5
AUTO_MASK_SCORE = 0.6
# ... and, for a box the user drew round an object, only a mask that spans at least this part
# of the box's longer side (a 45-px² speck in a stain's box is not the stain)
AUTO_BOX_SPAN = 0.5


def _read_click_model(path: Path) -> tuple[Callable, dict]:
    """The click model's answer function and its held-out figures."""
    from isegui.ml.click.segmenter import ClickSegmenter
    segmenter = ClickSegmenter.load(path)
    return segmenter.segment, segmenter.info.holdout


class Use(enum.Enum):
    MODEL = "model"
    COLOUR = "colour"  # GrabCut; `why_colour` says why when the user did not choose it
    WAIT = "wait"  # the model's work is under way: the action runs when it ends


class LabelAssist(QObject):
    modelStatus = Signal(str)  # a line for the status bar ("" when no run is active)

    def __init__(self, session, loaded: LoadedModel, options=None,
                 work: ModelWork | None = None):
        super().__init__()
        self.session = session
        self.loaded = loaded
        self.options = options  # ToolOptions: the engine the user chose
        self.work = work or ModelWork()
        self.work.finished.connect(self._job_finished)
        self._rgb: tuple[int, np.ndarray] | None = None
        self._detections: dict[tuple[int, str], list] = {}
        self._failed: dict[str, str] = {}  # checkpoint -> why its model cannot be read
        self._pending: tuple[int, Callable[[], object]] | None = None  # image id, action
        self.why_colour: str | None = None  # why GrabCut was used, when it was not chosen
        self._closed = False  # the project closed: work ending after it is not heard
        # the project's click model: (file, mtime, size) -> its answer function, once read
        self._click_model: tuple[tuple, Callable] | None = None
        session.aboutToClose.connect(self._close)

    def _close(self) -> None:
        self._closed = True
        self.drop_waiting()
        self.work.close()

    @property
    def engine(self) -> str:
        return getattr(self.options, "engine", "auto")

    def rgb(self) -> np.ndarray | None:
        """The open image as the models take it (RGB uint8), made once per image."""
        doc = self.session.document
        if doc is None:
            return None
        if self._rgb is None or self._rgb[0] != doc.image_id:
            pixels = doc.pixels()
            if pixels is None:
                return None
            from isegui.ml.infer.detection import prepare_image
            self._rgb = (doc.image_id, prepare_image(pixels))
        return self._rgb[1]

    def checkpoint(self) -> Path | None:
        run_id = self.session.project.active_run_id
        if run_id is None:
            return None
        try:
            return checkpoint_file(self.session.project, self.session.store.run(run_id))
        except RunNotFound:
            return None

    # ------------------------------------------------------------ the model, never waited for

    def model(self):
        """The active run's model if it has been read, else None (never waits)."""
        checkpoint = self.checkpoint()
        return None if checkpoint is None else \
            self.loaded.ready(checkpoint, "auto", predict_worker.STORE_ABOVE)

    @property
    def model_error(self) -> str | None:
        """Why the active run's model is not helping, when reading it failed."""
        checkpoint = self.checkpoint()
        return None if checkpoint is None else self._failed.get(str(checkpoint))

    def preload(self) -> None:
        """Start reading the active run's model (a run became active, an assisted tool was
        picked); the status bar says how it goes."""
        if self._closed:
            return
        self.click_model()
        checkpoint = self.checkpoint()
        if checkpoint is None:
            self.modelStatus.emit("")
            return
        if self.model() is not None:
            self.modelStatus.emit(f"Model: {self._run_name()} ready")
            return
        if str(checkpoint) in self._failed:
            return
        key = ("model", str(checkpoint), self._run_name())
        if key not in self.work.under_way:
            self.modelStatus.emit(f"Model: loading {key[2]}…")
            # the same device and threshold as Review's: one model kept for both
            self.work.submit(key, lambda: self.loaded.get(checkpoint, "auto",
                                                          predict_worker.STORE_ABOVE))

    def _run_name(self) -> str:
        run_id = self.session.project.active_run_id
        try:
            return f"run {self.session.store.run(run_id).name}" if run_id is not None else ""
        except RunNotFound:
            return "the active run"

    def use(self, retry: Callable[[], object], detections: bool = False) -> Use:
        """Which engine a tool's action uses now. With the model's work under way (reading it;
        with `detections`, finding the objects of the open image) the action `retry` is kept
        and run when the work ends (engine "model"), or GrabCut is used for now (engine
        "auto", while the model is read)."""
        self.why_colour = None
        if self.engine == "colour":
            return Use.COLOUR
        checkpoint = self.checkpoint()
        if checkpoint is None:
            self.why_colour = "no trained run is active yet"
            return Use.COLOUR
        if str(checkpoint) in self._failed:
            self.why_colour = f"the active run's model cannot be loaded: " \
                              f"{self._failed[str(checkpoint)]}"
            return Use.COLOUR
        if self.model() is None:
            self.preload()
            if self.engine == "auto":
                self.why_colour = "the model is still loading"
                return Use.COLOUR
            return self._wait(retry, "Waiting for the model to load…")
        if detections and self._detection_key() not in self._detections:
            self._start_detections()
            return self._wait(retry, "The model is looking at this image…")
        return Use.MODEL

    def _wait(self, retry: Callable[[], object], what: str) -> Use:
        doc = self.session.document
        if doc is None:
            return Use.COLOUR
        if self._pending is None:
            QApplication.setOverrideCursor(Qt.CursorShape.BusyCursor)
        self._pending = (doc.image_id, retry)
        self.modelStatus.emit(f"Model: {what} (Esc drops the action)")
        return Use.WAIT

    def drop_waiting(self) -> None:
        """The action kept for the model is dropped (Esc, another tool, another image)."""
        if self._pending is not None:
            self._pending = None
            QApplication.restoreOverrideCursor()

    @property
    def waiting(self) -> bool:
        return self._pending is not None

    def _job_finished(self, job: Job) -> None:
        self.work.forget(job)
        if self._closed:
            return
        if job.key[0] == "click-model":
            self._click_model_read(job)
        elif job.key[0] == "model":
            _, checkpoint, run_name = job.key
            if job.error is not None:
                self._failed[checkpoint] = job.error
                self.modelStatus.emit(f"Model: {run_name} cannot be loaded — {job.error}")
            else:
                self._failed.pop(checkpoint, None)
                self.modelStatus.emit(f"Model: {run_name} ready")
        else:  # one image's worth; none when the model could not look at it
            self._detections = {job.key[1:]: job.result if job.error is None else []}
            if job.error is not None:
                self.modelStatus.emit(f"Model: could not look at this image — {job.error}")
        pending, doc = self._pending, self.session.document
        if pending is None or self.work.under_way:
            return
        self.drop_waiting()
        if doc is not None and doc.image_id == pending[0]:
            pending[1]()

    # ------------------------------------------------------------ the click model

    def click_model(self) -> Callable | None:
        """The project's click model (`isegui train-clicks`, or Train click model) as the
        click tool asks it, once read; None before (reading starts here, off the window's
        thread), without one, with engine "colour", or when it cannot be read (said once).
        A model trained again is read again."""
        if self.engine == "colour" or self._closed:
            return None
        from isegui.core.project import CLICK_MODEL_FILE
        path = self.session.project.folder / CLICK_MODEL_FILE
        try:
            stat = path.stat()
        except OSError:
            return None
        key = ("click-model", str(path), stat.st_mtime_ns, stat.st_size)
        if self._click_model is not None and self._click_model[0] == key:
            return self._click_model[1]
        if str(key) not in self._failed:
            self.work.submit(key, lambda: _read_click_model(path))
        return None

    def _click_model_read(self, job: Job) -> None:
        if job.error is not None:
            self._failed[str(job.key)] = job.error
            self.modelStatus.emit(f"Click model cannot be read — {job.error}")
            return
        segment, held = job.result
        if used_by_click_tool(held):
            self._click_model = (job.key, segment)
            self.modelStatus.emit("Click model ready")
        else:  # measured worse than GrabCut on its held-out instances: not used
            self._failed[str(job.key)] = "GrabCut does better"
            self.modelStatus.emit(f"Click model not used: {holdout_in_words(held)}")

    # ------------------------------------------------------------ what the model gives

    def _detection_key(self) -> tuple[int, str] | None:
        doc, checkpoint = self.session.document, self.checkpoint()
        return None if doc is None or checkpoint is None else (doc.image_id, str(checkpoint))

    def _start_detections(self) -> None:
        key, predictor, image = self._detection_key(), self.model(), self.rgb()
        if key is None or predictor is None or image is None or self._closed:
            return
        self.work.submit(("detections", *key), lambda: predictor.predict([image])[0])

    def detections(self) -> list:
        """The model's detections on the open image down to the lowest stored score, as far
        as they are made (`use(..., detections=True)` makes them); with engine "auto", those
        whose score passes the bar."""
        found = self._detections.get(self._detection_key() or (-1, ""), [])
        if self.engine == "auto":
            found = [d for d in found if d.score >= AUTO_SCORE]
        return found

    def segment_box(self, box: Box, class_index: int | None = None) -> Candidate | None:
        """The model's mask for `box` on the open image: None without a model read, or (engine
        "auto") when its answer does not pass the bar (`why_colour` says how)."""
        predictor, image = self.model(), self.rgb()
        if predictor is None or image is None or self.engine == "colour":
            return None
        from isegui.ml.model.box_segmenter import BoxSegmenter
        found = BoxSegmenter(predictor).segment(image, box, class_index)
        if found is None or self.engine != "auto":
            return found
        why = self._below_bar(found, box)
        if why is not None:
            self.why_colour = why
            return None
        return found

    @staticmethod
    def _below_bar(found, box: Box) -> str | None:
        """Why the model's mask for a box is not good enough to use (engine "auto")."""
        if found.score < AUTO_SCORE:
            return f"the model's score there is {found.score:.2f}"
        if found.mask_score is not None and found.mask_score < AUTO_MASK_SCORE:
            return f"the model's mask is unsure ({found.mask_score:.2f})"
        ys, xs = np.nonzero(found.mask)
        if not len(xs):
            return "the model's mask is empty"
        x0, y0, x1, y1 = box
        span = max((xs.max() - xs.min() + 1) / max(x1 - x0, 1.0),
                   (ys.max() - ys.min() + 1) / max(y1 - y0, 1.0))
        if span < AUTO_BOX_SPAN:
            return f"the model's mask spans {span:.0%} of the box"
        return None

    def class_id_for(self, class_index: int | None) -> int | None:
        """The project class the model names by `class_index`, else the active class."""
        predictor = self.loaded.current()
        if class_index is not None and predictor is not None:
            name = predictor.classes[class_index - 1]
            for cls in self.session.classes():
                if cls.name == name:
                    return cls.id
        return self.session.active_class_id

    def class_index_for(self, class_id: int | None) -> int | None:
        """The model's index (1..C) of a project class, None when the model lacks it."""
        predictor = self.loaded.current()
        cls = self.session.class_by_id(class_id)
        if predictor is None or cls is None or cls.name not in predictor.classes:
            return None
        return predictor.classes.index(cls.name) + 1
