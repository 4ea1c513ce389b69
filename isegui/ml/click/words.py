"""A click model's held-out figures in words (no torch: the window says them too)."""

from __future__ import annotations

from typing import Any


def holdout_in_words(held: dict[str, Any]) -> str:
    """What the click tool gains from the model on instances it did not learn from, and
    whether it is used (ml.click.train.holdout_figures)."""
    if not held:
        return "no held-out instances to judge it on (fewer than 5 train images); used"
    said = (f"on {held['instances']} held-out instances, mean IoU after 1 / 3 clicks "
            f"{held['iou_after_1']:.2f} / {held['iou_after_3']:.2f}")
    if "grabcut_iou_after_3" in held:
        said += (f" (GrabCut: {held['grabcut_iou_after_1']:.2f} / "
                 f"{held['grabcut_iou_after_3']:.2f})")
    if held.get("better_than_grabcut", True):
        return said + "; the click tool uses it"
    return said + "; GrabCut does better, so the click tool keeps to GrabCut for now " \
                  "(more labels, or a longer training, may change that)"


def used_by_click_tool(held: dict[str, Any]) -> bool:
    return bool(held.get("better_than_grabcut", True))
