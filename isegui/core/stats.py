"""A project in numbers, for `isegui stats` and the GUI's overview."""

from __future__ import annotations

from collections import Counter
from typing import Any

import shapely

from isegui.core.entities import ImageStatus, Split
from isegui.core.project import Project


def project_stats(project: Project) -> dict[str, Any]:
    store = project.store
    classes = store.classes()
    per_class: Counter[int] = Counter()
    areas: dict[int, list[float]] = {c.id: [] for c in classes}
    splits: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    instances_total = crowd = 0
    for record, instances in store.iter_labeled():
        splits[record.split.value] += 1
        statuses[record.status.value] += 1
        objects = [i for i in instances if not i.crowd]
        crowd += len(instances) - len(objects)
        instances_total += len(objects)
        for inst in objects:
            if inst.class_id is not None:
                per_class[inst.class_id] += 1
        class_ids = [i.class_id for i in objects if i.class_id is not None]
        if class_ids:
            shapes = [i.shape for i in objects if i.class_id is not None]
            for cid, area in zip(class_ids, shapely.area(shapes).tolist()):
                areas[cid].append(area)
    images = sum(splits.values())
    calibration = project.mm_per_px
    return {
        "project": project.name,
        "folder": str(project.folder),
        "images": images,
        "splits": {s.value: splits.get(s.value, 0) for s in Split},
        "status": {s.value: statuses.get(s.value, 0) for s in ImageStatus},
        "instances": instances_total,
        "regions_to_ignore": crowd,
        "instances_per_image": round(instances_total / images, 2) if images else 0.0,
        "mm_per_px": calibration,
        "classes": [{
            "id": c.id, "name": c.name, "color": c.color, "instances": per_class.get(c.id, 0),
            "mean_area_px": round(sum(areas[c.id]) / len(areas[c.id]), 1) if areas[c.id] else None,
        } for c in classes],
        "runs": len(store.runs()),
    }
