"""What the assisted tools share: the open image as RGB, and the active run's model (loaded
once, in the background when such a tool is picked, and kept with the Review panel's), its
detections of the image (for the click tool) and its mask head on a user's box."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np

from isegui.core.errors import IseguiError
from isegui.core.labeling_aids import Candidate
from isegui.core.mask_window import Box
from isegui.gui.workers.predict_worker import STORE_ABOVE
from isegui.ml.model.loaded_model import LoadedModel
from isegui.ml.runs import RunNotFound, checkpoint_file

log = logging.getLogger(__name__)


class LabelAssist:
    def __init__(self, session, loaded: LoadedModel):
        self.session = session
        self.loaded = loaded
        self._rgb: tuple[int, np.ndarray] | None = None
        self._detections: dict[tuple[int, str], list] = {}
        self.model_error: str | None = None  # why the model is not helping, when it is not

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

    def predictor(self):
        """The active run's torch predictor (None without a usable run; `model_error` says
        why when loading failed)."""
        checkpoint = self.checkpoint()
        if checkpoint is None:
            return None
        try:
            predictor = self.loaded.get(checkpoint, "auto", STORE_ABOVE)
        except (IseguiError, ValueError, RuntimeError, OSError) as exc:
            self.model_error = f"the active run's model cannot be loaded: {exc}"
            log.warning("%s", self.model_error)
            return None
        self.model_error = None
        return predictor

    def preload(self) -> None:
        """Load the model in the background so the first box does not wait for it."""
        if self.checkpoint() is not None:
            threading.Thread(target=self.predictor, daemon=True).start()

    def segment_box(self, box: Box, class_index: int | None = None) -> Candidate | None:
        """The model's mask for `box` on the open image; None without a model."""
        predictor, image = self.predictor(), self.rgb()
        if predictor is None or image is None:
            return None
        from isegui.ml.model.box_segmenter import BoxSegmenter
        return BoxSegmenter(predictor).segment(image, box, class_index)

    def detections(self) -> list:
        """The model's detections on the open image down to the lowest stored score."""
        doc, checkpoint = self.session.document, self.checkpoint()
        if doc is None or checkpoint is None:
            return []
        key = (doc.image_id, str(checkpoint))
        if key not in self._detections:
            predictor, image = self.predictor(), self.rgb()
            if predictor is None or image is None:
                return []
            self._detections = {key: predictor.predict([image])[0]}  # one image's worth
        return self._detections[key]

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
