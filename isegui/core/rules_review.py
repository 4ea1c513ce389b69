"""Line rules seen against a run's predictions in the project: the measurements the engineer
sets tolerances from, and the verdict each predicted image would get (what `isegui watch`
would say on the line). No Qt: the Review panel's rules dialog shows it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from isegui.core.entities import ImageStatus
from isegui.core.line_rules import Detection, Rules, Verdict
from isegui.core.measure import Measurements, measure
from isegui.core.store import Store


@dataclass(frozen=True)
class PredictedImage:
    image_id: int
    path: str
    detections: list[Detection]  # class name, score, measurements in px; best score first


def predicted_images(store: Store, run_id: int, min_score: float = 0.0,
                     reviewed_only: bool = False) -> list[PredictedImage]:
    """The images holding predictions of run `run_id` (only those marked reviewed, if asked),
    each with its predictions at or above `min_score`, measured."""
    names = {c.id: c.name for c in store.classes()}
    with_predictions = store.images_with_predictions(run_id)
    out = []
    for record in store.images():
        if record.id not in with_predictions:
            continue
        if reviewed_only and record.status != ImageStatus.REVIEWED:
            continue
        found = [(names.get(p.class_id, "?") if p.class_id is not None else "?", p.score,
                  measure(p.shape))
                 for p in store.predictions(record.id, run_id, min_score)]
        out.append(PredictedImage(record.id, record.path, found))
    return out


def measurements_by_class(images: Iterable[PredictedImage], classes: Iterable[str]
                          ) -> dict[str, list[list[Measurements]]]:
    """Per class (every one of `classes`, and any other predicted): one list of measurements
    per image, empty where the image has none: what `rules_from_measurements` takes."""
    images = list(images)
    by_class: dict[str, list[list[Measurements]]] = {name: [] for name in classes}
    for image in images:
        for name in {d[0] for d in image.detections}:
            by_class.setdefault(name, [])
    for name, per_image in by_class.items():
        per_image.extend([m for c, _, m in image.detections if c == name] for image in images)
    return by_class


def verdicts(rules: Rules, images: Iterable[PredictedImage],
             mm_per_px: float | None = None) -> list[tuple[PredictedImage, Verdict]]:
    """Each image's verdict under `rules` (RulesError when they are in mm without a scale)."""
    return [(image, rules.evaluate(image.detections, mm_per_px)) for image in images]
