"""What will limit a run, said before it starts: random weights on few labels, an input size
that shrinks the objects below what a model can find, little or no validation, and image files
training would fail on. `isegui train` prints it and refuses to start on an error; the start
event carries it; the training panel shows it as the settings change.

Reading the project (`read_facts`) is the slow part and is done once; `advise` is arithmetic
on its result, cheap enough to run on every change of a setting."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from isegui.core.entities import ImageRecord, ImageStatus, Instance, Split
from isegui.core.project import Project
from isegui.core.validate import image_problem
from isegui.core.working_scale import (LOW_PERCENTILE, MIN_OBJECT_PX, ObjectSizes, WorkingScale,
                                       advise_size, choose_working_scale, measure_objects)
from isegui.ml.train.spec import TrainSpec

INFO, WARNING, ERROR = "info", "warning", "error"
FEW_INSTANCES_FOR_RANDOM = 300  # below this, random weights learn slowly and poorly
MIN_HOLD_OUT_IMAGES = 5  # as the data snapshot: fewer train images hold none out
FEW_VAL_IMAGES = 3
LARGEST_SIZE = 4096  # TrainSpec's limit
SHOWN_FILES = 10


@dataclass(frozen=True)
class Advice:
    level: str  # info, warning or error (error: the run would fail; it is not started)
    title: str
    text: str  # with the numbers, and what helps
    files: tuple[str, ...] = ()  # the images concerned, relative to the project

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["files"] = list(self.files)
        return out

    def line(self) -> str:
        return f"{self.level}: {self.title}: {self.text}"


@dataclass(frozen=True)
class ProjectFacts:
    """What the advice needs from the project, read once."""
    sizes: ObjectSizes
    train_images: int  # labeled images of each split (training skips unlabeled ones)
    val_images: int
    empty_images: tuple[str, ...]  # labeled, in train or val, without an instance
    # unlabeled images of train or val that have instances: begun, not marked labeled
    in_progress: tuple[str, ...] = ()
    unreadable: tuple[tuple[str, str], ...] = ()  # (path, problem); when files were checked
    files_checked: bool = False

    @property
    def instances(self) -> int:
        return len(self.sizes)


def read_facts(project_folder: Path, check_files: bool = True) -> ProjectFacts:
    """The labeled data of the train and val splits; with `check_files`, every one of their
    image files is decoded once (the part that takes time on a large project)."""
    with Project.open(project_folder, read_only=True) as project:
        items = _training_items(project)
        begun = project.store.instance_counts()
        in_progress = tuple(r.path for r in project.store.images(status=ImageStatus.UNLABELED)
                            if begun.get(r.id) and r.split in (Split.TRAIN, Split.VAL))
    facts = ProjectFacts(in_progress=in_progress,
        sizes=measure_objects(items),
        train_images=sum(r.split == Split.TRAIN for r, _ in items),
        val_images=sum(r.split == Split.VAL for r, _ in items),
        empty_images=tuple(r.path for r, i in items if all(x.crowd for x in i)))
    return with_file_checks(facts, project_folder) if check_files else facts


def with_file_checks(facts: ProjectFacts, project_folder: Path,
                     stopped: Callable[[], bool] = lambda: False) -> ProjectFacts:
    """`facts` with the images training would read checked: every file decoded once.
    `stopped` is asked between files (a window closing)."""
    unreadable = []
    with Project.open(project_folder, read_only=True) as project:
        for record, _ in _training_items(project):
            if stopped():
                return facts
            problem = image_problem(project, record)
            if problem:
                unreadable.append((record.path, problem))
    return replace(facts, unreadable=tuple(unreadable), files_checked=True)


def _training_items(project: Project) -> list[tuple[ImageRecord, list[Instance]]]:
    return [(r, i) for r, i in project.store.iter_labeled()
            if r.status != ImageStatus.UNLABELED and r.split in (Split.TRAIN, Split.VAL)]


def training_outlook(project_folder: Path, spec: TrainSpec,
                     check_files: bool = True) -> list[Advice]:
    """The advice for the run `spec` would start."""
    from isegui.ml.model.weights import describe_start
    start = None
    if not (spec.init or spec.resume):
        start = describe_start(spec.model, project_folder) if spec.pretrained_search else \
            "random weights: no pretrained file looked for"
    return advise(read_facts(project_folder, check_files), model=spec.model, size=spec.size,
                  start=start, resumed=bool(spec.resume), val_fraction=spec.val_fraction,
                  tile=spec.tile, scale=spec.scale)


def advise(facts: ProjectFacts, *, model: str, size: int, start: str | None,
           resumed: bool = False, val_fraction: float = 0.15, tile: int | None = None,
           scale: float | None = None) -> list[Advice]:
    """`start`: what a run starts from without --init (`weights.describe_start`), or None when
    it starts from a run or a file the user named. A resumed run keeps its model and size, so
    only the data is looked at."""
    out = _files(facts)
    if not facts.instances:
        return out + [Advice(ERROR, "nothing to learn from yet", "no labeled instances in the "
                             "train or val split. Label some images (draw the objects, or "
                             "accept a model's predictions), then train.")]
    if not resumed:
        out += _weights(facts, model, start)
        working = choose_working_scale(facts.sizes, size, tile, scale)
        out += _tiles(facts, working) if working.tiled else _size(facts, size)
    out += _validation(facts, val_fraction)
    order = {ERROR: 0, WARNING: 1, INFO: 2}
    return sorted(out, key=lambda a: order[a.level])


def blocking(advice: list[Advice]) -> list[Advice]:
    return [a for a in advice if a.level == ERROR]


def _files(facts: ProjectFacts) -> list[Advice]:
    out = []
    if facts.unreadable:
        listed = "; ".join(f"{path} ({problem})" for path, problem in
                           facts.unreadable[:SHOWN_FILES])
        more = f"; and {len(facts.unreadable) - SHOWN_FILES} more" \
            if len(facts.unreadable) > SHOWN_FILES else ""
        out.append(Advice(ERROR, "unreadable images",
                          f"{len(facts.unreadable)} labeled image(s) of the train and val splits "
                          f"cannot be read, and training would stop at the first: {listed}{more}."
                          " Replace the files, or remove the images from the project.",
                          tuple(p for p, _ in facts.unreadable)))
    if facts.in_progress:
        out.append(Advice(WARNING, "images in progress left out",
                          f"{len(facts.in_progress)} image(s) have labels but are not marked "
                          f"labeled, so training leaves them out: {_listed(facts.in_progress)}."
                          " Mark each one labeled (Ctrl+Shift+L) once every object in it is "
                          "drawn; the image list's \"Only in progress\" shows them.",
                          facts.in_progress))
    if facts.empty_images:
        out.append(Advice(WARNING, "labeled images without objects",
                          f"{len(facts.empty_images)} image(s) are marked labeled but have no "
                          f"instance: {_listed(facts.empty_images)}. Training takes them as "
                          "pictures of nothing to find; if they do show objects, label them or "
                          "mark them unlabeled.", facts.empty_images))
    return out


def _listed(paths: tuple[str, ...]) -> str:
    """The first SHOWN_FILES names, and how many more."""
    more = f" and {len(paths) - SHOWN_FILES} more" if len(paths) > SHOWN_FILES else ""
    return ", ".join(paths[:SHOWN_FILES]) + more


def _weights(facts: ProjectFacts, model: str, start: str | None) -> list[Advice]:
    if start is None:
        return []
    if not start.startswith("random"):
        return [Advice(INFO, "start", f"from {start.removeprefix('pretrained: ')}")]
    n = facts.instances
    if n >= FEW_INSTANCES_FOR_RANDOM:
        return [Advice(INFO, "random weights", f"no pretrained file for {model} was found; "
                       f"{n} labeled instances are enough to learn from scratch, given time")]
    return [Advice(WARNING, "random weights on few labels",
                   f"no pretrained file for {model} was found, so the model starts from random "
                   f"weights with only {n} labeled instances (a few hundred or more are "
                   "needed from scratch): expect a low mAP on a short run. What helps: more "
                   "labels, a longer time budget, or a pretrained weights file (`isegui "
                   "weights add FILE`, or File… beside Start from).")]


def _tiles(facts: ProjectFacts, working: WorkingScale) -> list[Advice]:
    out = [Advice(INFO, "tiles", f"{working.reason}. Each frame is cut into overlapping tiles "
                  f"of {working.window} x {working.window} px for training and prediction; "
                  "with tiles off it trains on whole images instead.")]
    if len(facts.sizes) and facts.sizes.smallest() < MIN_OBJECT_PX and working.scale >= 1:
        # the tiles already keep every pixel: nothing in the settings can do more
        out.append(Advice(INFO, "small objects", f"the narrowest {LOW_PERCENTILE}% of the "
                          f"labeled objects are {facts.sizes.smallest():.1f} px wide or less; "
                          "the tiles keep them at the images' full resolution, the most any "
                          "setting can give. A model finds such objects less reliably than "
                          "larger ones; a closer or higher-resolution camera would help."))
    return out


def _size(facts: ProjectFacts, size: int) -> list[Advice]:
    found = advise_size(facts.sizes, size)
    if found is None:
        return []
    narrow = (f"at {size} px, the narrowest {LOW_PERCENTILE}% of the {found.objects} labeled "
              f"objects are {found.smallest_px:.1f} px wide or less (the narrowest "
              f"{found.minimum_px:.1f} px)")
    native = (f" They are only {found.native_smallest_px:.1f} px wide in the images' own "
              "pixels: enlarging the images helps the model see them but adds no detail; a "
              "closer or higher-resolution camera would.") if found.native_too_small else ""
    if not found.too_small:
        return [Advice(INFO, "object size", f"{narrow}; {MIN_OBJECT_PX:g} px is enough to find "
                       f"them, and any size from {found.keeping_size} px keeps that.{native}")]
    keeping = found.keeping_size  # None: no size keeps them
    if keeping is None or keeping > LARGEST_SIZE:
        takes = "more than" if keeping is None else f"{keeping} px, beyond"
        return [Advice(WARNING, "objects too small", f"{narrow}. Keeping them "
                       f"{MIN_OBJECT_PX:g} px wide takes {takes} the largest input size "
                       f"({LARGEST_SIZE} px): they need the images' full resolution, cut into "
                       f"tiles.{native}")]
    beyond = (f", more than the images' own {found.largest_long_side} px (they are enlarged)"
              if found.needs_full_resolution else "")
    return [Advice(WARNING, "objects too small", f"{narrow}, below the {MIN_OBJECT_PX:g} px a "
                   f"model needs to find them. An input size of {found.keeping_size} px keeps "
                   f"them {MIN_OBJECT_PX:g} px wide{beyond}; it costs time and memory."
                   f"{native}")]


def _validation(facts: ProjectFacts, val_fraction: float) -> list[Advice]:
    if facts.val_images == 0:
        if facts.train_images >= MIN_HOLD_OUT_IMAGES and val_fraction > 0:
            held = max(1, round(val_fraction * facts.train_images))
            return [Advice(INFO, "no val split", f"{held} of the {facts.train_images} train "
                           "images are held out to measure the model; put images in the val "
                           "split to choose them yourself")]
        n = facts.train_images
        return [Advice(WARNING, "no validation", f"no val split, and {n} labeled train "
                       f"image{'' if n == 1 else 's'} {'is' if n == 1 else 'are'} too few to "
                       "hold some out: nothing measures "
                       "the model while it trains. Label more images and put about one in "
                       "seven in the val split.")]
    if facts.val_images < FEW_VAL_IMAGES:
        return [Advice(WARNING, "few val images", f"validation on {facts.val_images} image(s) "
                       "is a noisy measure: the mAP jumps from epoch to epoch. Put about one "
                       "labeled image in seven in the val split.")]
    return []
