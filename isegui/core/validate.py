"""Label-consistency checks: the rules inspectors follow, for one image (live, in the GUI) or
the whole project (`isegui validate`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np
import shapely
from shapely.geometry import Polygon, box

from isegui.core.entities import ImageRecord, ImageStatus, Instance, LabelClass
from isegui.core.errors import ImageReadError
from isegui.core.geometry import invalidity, polygons_of
from isegui.core.images import verify_image
from isegui.core.progress import Progress, no_progress
from isegui.core.project import Project

ERROR, WARNING, INFO = "error", "warning", "info"


@dataclass(frozen=True)
class Rules:
    min_area: float = 16.0  # px²: smaller instances are probably slips of the mouse
    duplicate_share: float = 0.5  # same-class pair sharing this much of the smaller one
    overlap_tolerance: float = 1.0  # px² of overlap that counts as touching
    rare_share: float = 0.1  # a class with fewer instances than this share of the largest
    min_instances_per_class: int = 10


@dataclass(frozen=True)
class Finding:
    severity: str
    code: str
    message: str
    image_id: int | None = None
    image_path: str | None = None
    instance_ids: tuple[int, ...] = ()


class _AddFinding(Protocol):
    def __call__(self, severity: str, code: str, message: str, *ids: int) -> None: ...


@dataclass
class ValidationReport:
    findings: list[Finding] = field(default_factory=list)
    class_counts: dict[str, int] = field(default_factory=dict)

    def count(self, severity: str) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    def as_dict(self) -> dict[str, Any]:
        return {"summary": {s: self.count(s) for s in (ERROR, WARNING, INFO)},
                "class_counts": self.class_counts,
                "findings": [asdict(f) for f in self.findings]}


def validate_image(record: ImageRecord, instances: list[Instance], classes: list[LabelClass],
                   rules: Rules = Rules()) -> list[Finding]:
    """Every check that needs only this image."""
    out: list[Finding] = []

    def add(severity: str, code: str, message: str, *ids: int) -> None:
        out.append(Finding(severity, code, message, record.id, record.path, tuple(ids)))

    if record.status == ImageStatus.UNLABELED and not instances:
        add(INFO, "unlabeled-image", "not labeled yet")
    elif not instances:
        add(INFO, "empty-image", "marked labeled but has no instances (a negative example?)")
    known = {c.id for c in classes}
    frame = box(0, 0, record.width, record.height)
    objects = []
    for inst in instances:
        _check_instance(inst, known, frame, rules, add)
        if not inst.crowd and inst.shape.is_valid and inst.shape.area > 0:
            objects.append(inst)
    tracks = Counter(i.track_id for i in instances if i.track_id is not None)
    for track, n in tracks.items():
        if n > 1:
            ids = [i.id for i in instances if i.track_id == track]
            add(ERROR, "duplicate-track-id", f"track id {track} is used by {n} instances "
                f"({', '.join(map(str, ids))}); each object in a sequence needs its own", *ids)
    _check_pairs(objects, rules, add)
    return out


def _check_instance(inst: Instance, known: set[int], frame: Polygon, rules: Rules,
                    add: _AddFinding) -> None:
    i = inst.id
    if inst.class_id is None and not inst.crowd:
        add(ERROR, "missing-class", f"instance {i} has no class", i)
    elif inst.class_id is not None and inst.class_id not in known:
        add(ERROR, "missing-class", f"instance {i} refers to a class that no longer exists", i)
    if inst.shape.is_empty or not inst.shape.is_valid:
        reason = "empty" if inst.shape.is_empty else invalidity(inst.shape)
        add(ERROR, "invalid-shape", f"instance {i} has a broken shape ({reason})", i)
        return
    area = inst.shape.area
    if area <= 0:
        add(ERROR, "degenerate", f"instance {i} has no area", i)
        return
    if area < rules.min_area and not inst.crowd:
        add(WARNING, "tiny", f"instance {i} is tiny ({area:.1f} px², below "
            f"{rules.min_area:g}): a stray click?", i)
    minx, miny, maxx, maxy = inst.shape.bounds
    fx0, fy0, fx1, fy1 = frame.bounds
    inside = minx >= fx0 and miny >= fy0 and maxx <= fx1 and maxy <= fy1
    outside = 0.0 if inside else area - inst.shape.intersection(frame).area
    if outside > rules.overlap_tolerance:
        add(WARNING, "out-of-bounds", f"instance {i} reaches {outside:.0f} px² outside the "
            "image", i)
    parts = polygons_of(inst.shape)
    if len(parts) > 1 and not inst.crowd and _far_apart(parts):
        add(INFO, "parts-far-apart", f"instance {i} has {len(parts)} parts farther apart than "
            "the object is wide: one occluded object, or several objects in one instance?", i)


def _far_apart(parts: list[Polygon]) -> bool:
    """An occluder splits an object into parts about the object's own size apart at most;
    parts farther from the largest part than its diameter look like separate objects."""
    biggest = max(parts, key=lambda p: p.area)
    reach = 2.0 * np.sqrt(biggest.area / np.pi)
    return any(part.distance(biggest) > reach for part in parts if part is not biggest)


def _check_pairs(objects: list[Instance], rules: Rules, add: _AddFinding) -> None:
    if len(objects) < 2:
        return
    shapes = np.array([o.shape for o in objects], dtype=object)
    tree = shapely.STRtree(shapes)
    a, b = tree.query(shapes, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    if not len(a):
        return
    shared = shapely.area(shapely.intersection(shapes[a], shapes[b]))
    areas = shapely.area(shapes)
    for j, k, inter in zip(a.tolist(), b.tolist(), shared.tolist()):
        if inter <= rules.overlap_tolerance:
            continue  # touching, as neighbours should
        lo, hi = objects[j], objects[k]
        share = inter / min(areas[j], areas[k])
        if lo.class_id == hi.class_id and share >= rules.duplicate_share:
            add(WARNING, "duplicate-instance", f"instances {lo.id} and {hi.id} (same class) "
                f"share {share:.0%} of the smaller one: a duplicate, or two objects drawn as "
                "one?", lo.id, hi.id)
        else:
            top = hi if (hi.z, hi.id) > (lo.z, lo.id) else lo
            add(INFO, "overlap", f"instances {lo.id} and {hi.id} overlap by {inter:.0f} px²; "
                f"each keeps its own mask, {top.id} is on top where one label per pixel is "
                "needed", lo.id, hi.id)


def validate_project(project: Project, rules: Rules = Rules(),
                     progress: Progress = no_progress) -> ValidationReport:
    store = project.store
    classes = store.classes()
    report = ValidationReport()
    counts: Counter[int] = Counter()
    images = list(store.iter_labeled())
    for n, (record, instances) in enumerate(images, start=1):
        report.findings += validate_image(record, instances, classes, rules)
        problem = image_problem(project, record)
        if problem:
            report.findings.append(Finding(ERROR, "unreadable-image", problem, record.id,
                                           record.path))
        counts.update(i.class_id for i in instances if not i.crowd and i.class_id is not None)
        progress(n, len(images), record.path)
    report.findings += [Finding(ERROR, "damaged-row", f"{store.path}: {problem}")
                        for problem in store.damaged_rows]
    report.class_counts = {c.name: counts.get(c.id, 0) for c in classes}
    report.findings += class_balance(report.class_counts, rules)
    return report


def image_problem(project: Project, record: ImageRecord) -> str | None:
    """Why the image's file cannot be used (missing, or it does not decode), or None."""
    path = project.image_path(record.path)
    if not path.is_file():
        return f"the image file is missing ({path})"
    try:
        info = verify_image(path)
    except ImageReadError as exc:
        return f"the image cannot be read: {exc.problem}"
    if (info.width, info.height) != (record.width, record.height):
        # replaced by another picture (or turned): every label is in another frame now
        return (f"the image file is {info.width}x{info.height}, the project knew it as "
                f"{record.width}x{record.height}: replaced or turned since it was added? "
                "Its labels no longer fit it")
    return None


def class_balance(class_counts: dict[str, int], rules: Rules = Rules()) -> list[Finding]:
    out = []
    most = max(class_counts.values(), default=0)
    for name, n in class_counts.items():
        if n == 0:
            out.append(Finding(WARNING, "unused-class", f"class {name!r} has no instances"))
        elif n < rules.min_instances_per_class or n < rules.rare_share * most:
            out.append(Finding(WARNING, "rare-class", f"class {name!r} is rare: {n} instances "
                               f"against {most} of the most common class; a model will "
                               "learn it poorly"))
    return out
