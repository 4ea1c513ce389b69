"""The project's own Mask R-CNN as a labeling tool: its mask head run on a box the user drew
(the box as the one proposal, RoIAlign on it), and on whole images for the click tool's
candidates. Only a window around the box is run through the backbone, at the scale the model
was trained on, so a box on a 20-MP frame costs about what one on a small image does."""

from __future__ import annotations

import math
from dataclasses import replace

import cv2
import numpy as np
import torch

from isegui.core.labeling_aids import context_rect
from isegui.core.mask_window import Box
from isegui.ml.model.blob_head import blob_probabilities, runs_detector
from isegui.ml.infer.blobs import blob_detections
from isegui.ml.infer.detection import Detection, paste_in_box, prepare_image
from isegui.ml.model.torch_predictor import Predictor

CONTEXT = 0.5  # of the box's size, on each side: what the backbone sees around the object
LEAST_INPUT = 64  # px at the model's scale: the backbone's coarsest level needs some room


class BoxSegmenter:
    """Masks for user boxes from a loaded torch Predictor (its model in eval mode)."""

    def __init__(self, predictor: Predictor):
        self.predictor = predictor
        self.model = predictor.model

    def model_scale(self, height: int, width: int) -> float:
        """Model pixels per image pixel for this image, as training and prediction use it."""
        working = self.predictor.working
        if working.tiled:
            return working.scale
        transform = self.model.transform
        small, large = min(height, width), max(height, width)
        return min(float(transform.min_size[-1]) / small, float(transform.max_size) / large)

    @torch.inference_mode()
    def segment(self, image: np.ndarray, box: Box, class_index: int | None = None
                ) -> Detection | None:
        """The model's mask for the object in `box` (image pixels): the class from the box
        head unless `class_index` (1..C) is given; None when the mask comes out empty."""
        frame = prepare_image(image)
        height, width = frame.shape[:2]
        x0, y0, x1, y1 = (float(v) for v in box)
        if x1 - x0 < 1 or y1 - y0 < 1:
            return None
        scale = self.model_scale(height, width)
        rect = context_rect(box, width, height, CONTEXT, least=math.ceil(LEAST_INPUT / scale / 2))
        rx0, ry0, rx1, ry1 = rect
        crop = frame[ry0:ry1, rx0:rx1]
        w_in = max(1, round((rx1 - rx0) * scale))
        h_in = max(1, round((ry1 - ry0) * scale))
        if (w_in, h_in) != (crop.shape[1], crop.shape[0]):
            crop = cv2.resize(crop, (w_in, h_in), interpolation=cv2.INTER_AREA if scale < 1
                              else cv2.INTER_LINEAR)
        device = self.predictor.device
        tensor = torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1).to(device)
        tensor = self.model.transform.normalize(tensor.float().div_(255.0))
        batch = self.model.transform.batch_images([tensor], self.model.transform.size_divisible)
        sx, sy = w_in / (rx1 - rx0), h_in / (ry1 - ry0)
        blob_labels = list(getattr(self.model, "blob_labels", ()))
        if blob_labels and (not runs_detector(self.model) or class_index in blob_labels):
            window = (round((x0 - rx0) * sx), round((y0 - ry0) * sy),
                      round((x1 - rx0) * sx), round((y1 - ry0) * sy))
            return self._blob_in_box(batch, window, (rx0, ry0), (sx, sy), blob_labels,
                                     class_index)
        features = self.model.backbone(batch.contiguous(memory_format=torch.channels_last))
        proposal = torch.tensor([[(x0 - rx0) * sx, (y0 - ry0) * sy, (x1 - rx0) * sx,
                                  (y1 - ry0) * sy]], dtype=torch.float32, device=device)
        sizes = [(h_in, w_in)]
        heads = self.model.roi_heads
        pooled = heads.box_head(heads.box_roi_pool(features, [proposal], sizes))
        class_logits, _ = heads.box_predictor(pooled)
        probs = torch.softmax(class_logits[0], dim=0)
        if class_index is None:
            class_index = int(probs[1:].argmax()) + 1
        masks = heads.mask_predictor(heads.mask_head(heads.mask_roi_pool(
            features, [proposal], sizes)))
        prob = torch.sigmoid(masks[0, class_index]).float().cpu().numpy()
        pasted = paste_in_box(prob, (x0, y0, x1, y1), height, width,
                              self.predictor.mask_threshold)
        if pasted is None:
            return None
        inside = prob[prob > self.predictor.mask_threshold]
        return Detection(class_index, self.predictor.classes[class_index - 1],
                         float(probs[class_index]), (x0, y0, x1, y1), pasted.mask,
                         pasted.origin, float(inside.mean()) if inside.size else 0.0)

    def _cutoff(self, channel: int) -> float:
        """The blob channel's calibrated pixel threshold, or the predictor's mask threshold."""
        working = self.predictor.working
        if working.blob_thresholds:
            return working.blob_cutoffs(self.predictor.classes)[channel]
        return float(self.predictor.mask_threshold)

    def _blob_in_box(self, batch: torch.Tensor, window: tuple[int, int, int, int],
                     origin: tuple[int, int], scale: tuple[float, float],
                     blob_labels: list[int], class_index: int | None) -> Detection | None:
        """A blob class's pixels inside the box (ml.infer.blobs): the class asked for, or the one
        the blob head sees most of there."""
        probs = blob_probabilities(self.model, batch)
        assert probs is not None
        wx0, wy0, wx1, wy1 = window
        inside = probs[0, :, max(0, wy0):max(wy0 + 1, wy1), max(0, wx0):max(wx0 + 1, wx1)]
        channel = (blob_labels.index(class_index) if class_index in blob_labels
                   else int(inside.flatten(1).sum(dim=1).argmax()))
        found = blob_detections(inside[channel:channel + 1].float().cpu().numpy(),
                                [blob_labels[channel]], self.predictor.classes,
                                (1 / scale[0], 1 / scale[1]),
                                (origin[0] + round(max(0, wx0) / scale[0]),
                                 origin[1] + round(max(0, wy0) / scale[1])),
                                threshold=0.0, mask_threshold=self._cutoff(channel))
        best = max(found, key=lambda d: d.area, default=None)
        # a blob's score is already the mean probability over its pixels
        return replace(best, mask_score=best.score) if best is not None else None
