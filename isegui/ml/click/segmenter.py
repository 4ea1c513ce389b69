"""The click model answering clicks: the window round the clicks and current mask
(core.click_view), the network's probabilities there, and the mask back in image pixels. A
window the answer runs out of is widened and asked again (a first click on a part bigger than
the project's usual object)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from isegui.core.click_view import (Click, ClickView, click_maps, grown, mask_from_view,
                                    runs_into_border, view_for, view_mask, view_pixels)
from isegui.core.mask_window import MaskWindow
from isegui.ml.click.model_file import ClickModelInfo, load_click_model
from isegui.ml.click.net import ClickNet

MAX_WIDENINGS = 2
THRESHOLD = 0.5


class ClickSegmenter:
    def __init__(self, net: ClickNet, info: ClickModelInfo, device: str | torch.device = "cpu"):
        self.net = net.eval()
        self.info = info
        self.device = torch.device(device)

    @classmethod
    def load(cls, path: Path, device: str = "cpu") -> ClickSegmenter:
        net, info = load_click_model(path, device)
        return cls(net, info, device)

    @torch.inference_mode()
    def probabilities(self, image: np.ndarray, view: ClickView, clicks: Sequence[Click],
                      previous: MaskWindow | None) -> np.ndarray:
        """The object's probability over the window (VIEW_SIDE x VIEW_SIDE float32)."""
        rgb = torch.from_numpy(view_pixels(image, view)).permute(2, 0, 1)[None]
        maps = torch.from_numpy(click_maps(clicks, view))[None]
        prev = torch.from_numpy(view_mask(previous, view))[None, None]
        logits = self.net(rgb.to(self.device).float().div_(255.0), maps.to(self.device),
                          prev.to(self.device))
        return torch.sigmoid(logits)[0, 0].float().cpu().numpy()

    def segment(self, image: np.ndarray, clicks: Sequence[Click],
                previous: MaskWindow | None = None) -> MaskWindow | None:
        """The object's mask for `clicks` on an RGB uint8 image, starting from `previous` (the
        current candidate, or a detector's mask); None when the model sees nothing there."""
        if not clicks:
            return previous
        height, width = image.shape[:2]
        view = view_for(clicks, previous, self.info.first_side)
        found = None
        for attempt in range(MAX_WIDENINGS + 1):
            prob = self.probabilities(image, view, clicks, previous)
            found = mask_from_view(prob, view, width, height, THRESHOLD)
            if attempt == MAX_WIDENINGS or not runs_into_border(found, view, width, height):
                break
            view = grown(view)
        return found
