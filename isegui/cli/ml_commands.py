"""Sub-commands of the model side: train, evaluate, predict, export-model. torch is imported
only when one of them runs, so the other commands start fast."""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
from contextlib import ExitStack
from pathlib import Path

from isegui.cli.output import print_json, print_warnings, progress_bar
from isegui.core.one_line import one_line
from isegui.core.entities import Split
from isegui.core.working_scale import WorkingScale

# what a line naming stored names (image paths, run and class names) shows before it is cut:
# each such line goes through one_line, as a copied project's names may hold ESC or a line break
LINE_LIMIT = 2000


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model on the project's train split",
                       description="Train (or fine-tune, or resume) a model. Ctrl+C stops at "
                       "the next batch and keeps a checkpoint; --resume RUN continues it.")
    p.add_argument("dir", type=Path, help="the project folder")
    p.add_argument("--model", default="fast", help="fast (CPU-friendly) or accurate")
    p.add_argument("--size", type=int, default=512,
                   help="long side of the input, or the side of a tile (512)")
    p.add_argument("--tile", type=int,
                   help="train and predict on tiles of this many px (0: whole images; "
                   "default: chosen from the labeled objects' sizes)")
    p.add_argument("--scale", type=float,
                   help="the tiles' scale of the frame, 1.0 = the camera's pixels "
                   "(default: chosen from the labeled objects' sizes)")
    p.add_argument("--no-blobs", dest="blobs", action="store_false",
                   help="on tiles, find every class with the detector (by default small "
                   "defects are found pixel by pixel, as blobs, and told apart where they "
                   "touch or cross)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--epochs", type=int, help="how many epochs (default 30)")
    budget.add_argument("--minutes", type=float, help="a wall-clock budget instead of epochs")
    p.add_argument("--batch", type=int,
                   help="images per step (default: 2 on a CPU, 4 on a GPU)")
    p.add_argument("--lr", type=float, help="learning rate (default: the model's)")
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--augment", default="default",
                   help="flip,color (the default), all (rotate,flip,scale,color), none, or "
                   "e.g. 'flip,rotate=30,scale=0.8:1.2'")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--init", help="start from a weights file or a run (id or name)")
    p.add_argument("--resume", help="continue a cancelled or finished run (id or name)")
    p.add_argument("--name", help="a name for the run")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, help="data loading processes (default: by machine)")
    p.add_argument("--max-steps", type=int, help=argparse.SUPPRESS)
    p.add_argument("--progress", choices=["bar", "jsonl"], default="bar",
                   help="a progress bar, or JSON lines on stdout (for the app)")
    p.set_defaults(handler=run_train)

    p = sub.add_parser("evaluate", help="mAP, per-class AP, confusions and errors of a run")
    p.add_argument("dir", type=Path)
    p.add_argument("--run", help="run id or name (default: the active run)")
    p.add_argument("--split", choices=[s.value for s in Split], default="val")
    p.add_argument("--threshold", type=float, default=0.5,
                   help="score for the confusion matrix and per-image counts (0.5)")
    p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=run_evaluate)

    p = sub.add_parser("predict", help="find and measure objects in images")
    p.add_argument("source", type=Path, nargs="+",
                   help="a project folder, an image folder or image files")
    p.add_argument("--project", type=Path, help="the project whose run to use (and store into)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--run", help="run id or name (default: the project's active run)")
    which.add_argument("--checkpoint", type=Path,
                       help="a checkpoint file (.pt), or a model exported as .onnx")
    p.add_argument("--threshold", type=float, default=0.5, help="lowest score kept (0.5)")
    p.add_argument("--out", type=Path, help="write a COCO file of the predictions")
    p.add_argument("--csv", type=Path, help="write one row per instance with measurements")
    p.add_argument("--into-project", action="store_true",
                   help="store the predictions in the project (apart from the labels)")
    p.add_argument("--device", default="auto")
    p.add_argument("--batch", type=int, default=4)
    p.set_defaults(handler=run_predict)

    p = sub.add_parser("suggest", help="the unlabeled images the model is least sure of: "
                       "the ones worth labeling next")
    p.add_argument("dir", type=Path)
    p.add_argument("--n", type=int, default=20, help="how many to list (20)")
    p.add_argument("--run", help="run id or name (default: the active run)")
    p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=run_suggest)

    p = sub.add_parser("export-model", help="write a run's model for onnxruntime",
                       description="Export a run's best checkpoint as ONNX at a fixed input "
                       "size; `isegui predict --checkpoint OUT.onnx` runs it with onnxruntime.")
    p.add_argument("dir", type=Path, help="the project folder")
    p.add_argument("out", type=Path, help="the file to write, e.g. model.onnx")
    p.add_argument("--run", help="run id or name (default: the active run)")
    p.add_argument("--format", choices=["onnx"], default="onnx")
    p.add_argument("--rules", type=Path, help="inspection rules (docs/rules.md) the file "
                   "carries to the line: isegui watch uses them")
    p.add_argument("--size", help="input size: N (square) or WxH at the images' aspect ratio, "
                   "e.g. 512x384 (default: the training size, square)")
    p.set_defaults(handler=run_export_model)


# --------------------------------------------------------------------------- train

def run_train(args) -> int:
    from isegui.ml.run_protocol import EXIT_CANCELLED, EXIT_OK, CancelToken, JsonLinesReporter
    if args.progress == "jsonl":  # the app shows it while the imports below take seconds
        JsonLinesReporter().event("note", message="loading PyTorch…", phase=True)
    from isegui.ml.train.preflight import training_outlook
    from isegui.ml.train.spec import AugmentConfig, TrainSpec
    from isegui.ml.train.trainer import TrainingError, fit
    spec = TrainSpec(
        project=args.dir.resolve(), model=args.model, size=args.size, tile=args.tile,
        scale=args.scale, blobs=args.blobs,
        # resuming keeps the run's own budget unless a new one is given
        epochs=args.epochs if args.epochs is not None else (
            None if args.minutes or args.resume else 30),
        minutes=args.minutes, batch=args.batch, lr=args.lr, weight_decay=args.weight_decay,
        augment=AugmentConfig.parse(args.augment), device=args.device, init=args.init,
        resume=args.resume, name=args.name, seed=args.seed, workers=args.workers,
        max_steps=args.max_steps)
    cancel = CancelToken()
    _cancel_on_signals(cancel)
    reporter: JsonLinesReporter | _BarReporter
    if args.progress == "jsonl":
        reporter = JsonLinesReporter()
        if not sys.stdin.isatty():
            cancel.watch_stdin()
    else:
        reporter = _BarReporter()
    try:
        reporter.event("note", message="checking the project's images…", phase=True)
        advice = training_outlook(spec.project, spec)  # what will limit it, before it starts
        for item in advice:
            print(one_line(item.line(), LINE_LIMIT), file=sys.stderr)
        result = fit(spec, reporter, cancel, advice=advice)
    except TrainingError as exc:
        if args.progress == "jsonl":
            reporter.event("error", message=str(exc), remedy=exc.remedy)
        raise
    finally:
        if isinstance(reporter, _BarReporter):
            reporter.close()
    if args.progress == "bar":
        best = result.best
        summary = ", ".join(f"{k} {best[k]:.3f}" for k in ("mask_map", "box_map", "loss")
                            if k in best)
        print(one_line(f"run {result.run_id} {result.status.value} after {result.epochs} "
                       f"epochs ({result.steps} steps); best: {summary or 'n/a'}; checkpoint: "
                       f"{result.checkpoint}", LINE_LIMIT))
    return EXIT_CANCELLED if result.status.value == "cancelled" else EXIT_OK


def _cancel_on_signals(cancel) -> None:
    """First Ctrl+C (or SIGTERM): stop at the next batch, keeping a checkpoint. Second: now."""
    def handler(signum, frame):
        if cancel.cancelled:
            raise KeyboardInterrupt
        cancel.cancel("interrupted")
        print("\nstopping after this batch (again to stop at once)", file=sys.stderr)
    signal.signal(signal.SIGINT, handler)
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, handler)


class _BarReporter:
    """A terminal view of training: a bar per epoch, a line per epoch's metrics."""

    def __init__(self):
        from tqdm import tqdm
        self._tqdm = tqdm
        self.bar = None
        self.epoch = None

    def event(self, kind: str, **f) -> None:
        if kind == "start":
            working = WorkingScale.from_dict(f.get("working_scale"), f["size"])
            print(one_line(f"run {f['run_id']}: {f['model']}, {working.describe()}, on "
                           f"{f['device']}, {f['train_images']} train images, validation on "
                           f"{f['validation']}; weights: {f['init']['source']}", LINE_LIMIT),
                  file=sys.stderr)
            if working.reason:
                print(one_line(f"working scale: {working.reason}", LINE_LIMIT), file=sys.stderr)
            for note in f.get("notes", []):
                print(one_line(f"note: {note}", LINE_LIMIT), file=sys.stderr)
        elif kind == "step":
            if self.bar is None or self.epoch != f["epoch"]:
                self.close()
                self.epoch = f["epoch"]
                self.bar = self._tqdm(total=f["batches"], desc=f"epoch {f['epoch']}",
                                      file=sys.stderr, leave=False, disable=None)
            self.bar.n = f["batch"]
            losses = f.get("losses") or {}
            self.bar.set_postfix(loss=f"{losses.get('loss', float('nan')):.3f}",
                                 eta=f"{f['eta_s']:.0f}s")
        elif kind == "epoch":
            self.close()
            keys = [k for k in ("loss", "mask_map", "box_map") if k in f]
            print(f"epoch {f['epoch']}: " + ", ".join(f"{k} {f[k]:.3f}" for k in keys)
                  + (" (best)" if f.get("improved") else "")
                  + (" (cancelled)" if f.get("cancelled") else ""), file=sys.stderr)
        elif kind == "note" and not f.get("phase"):  # phases are for the app's waiting
            print(one_line(f"note: {f['message']}", LINE_LIMIT), file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


# --------------------------------------------------------------------------- evaluate

def run_suggest(args) -> int:
    if args.n < 1:
        raise ValueError(f"--n must be 1 or more, not {args.n}")
    from isegui.core.entities import ImageStatus
    from isegui.core.errors import ImageReadError
    from isegui.core.images import load_image
    from isegui.core.project import Project
    from isegui.ml.model.torch_predictor import Predictor
    from isegui.ml.runs import checkpoint_file, find_run
    from isegui.ml.infer.suggest import SEEN, uncertainty
    with Project.open(args.dir, read_only=True) as project:
        run = find_run(project, args.run)
        path = checkpoint_file(project, run, "best")
        images = [(r.path, project.image_path(r.path)) for r in project.store.images()
                  if r.status == ImageStatus.UNLABELED]
    predictor = Predictor.from_checkpoint(path, args.device, threshold=SEEN)
    ranked, unreadable = [], []
    with progress_bar("predicting") as progress:
        for n, (stored, file) in enumerate(images, start=1):
            try:
                ranked.append((stored, uncertainty(predictor, load_image(file))))
            except ImageReadError as exc:
                unreadable.append(str(exc))
            progress(n, len(images), stored)
    ranked.sort(key=lambda item: -item[1].value)
    top = ranked[:max(0, args.n)]
    if args.json:
        print_json({"run": run.id, "unlabeled": len(images), "unreadable": unreadable,
                    "images": [{"path": p, **u.as_dict()} for p, u in top]})
        return 0
    print_warnings(unreadable)
    print(one_line(f"run {run.id} ({run.name}): {len(top)} of {len(images)} unlabeled images, "
                   "least sure first (value = borderline share + mirror disagreement, 0-2)",
                   LINE_LIMIT))
    for stored, u in top:  # a name may hold ESC or a line break (add takes any file name)
        print(one_line(f"{u.value:5.2f}  {stored}  ({u.objects} objects, {u.borderline} "
                       f"borderline, mirror disagreement {u.disagreement:.2f})", LINE_LIMIT))
    return 0


def _per_class_lines(result: dict) -> list[str]:
    """Evaluate's line for each class; a class name read from a project copied from elsewhere
    may hold ESC or a line break, so each is printed as one line."""
    fits = result["matched_iou_per_class"]
    lines = []
    for name, ap in result["mask_ap_per_class"].items():
        fit = f", matched IoU {fits[name]:.2f}" if fits.get(name) is not None else ""
        lines.append(f"  {one_line(name):<16} mask AP {ap:.3f}{fit}")
    return lines


def run_evaluate(args) -> int:
    from isegui.core.project import Project
    from isegui.ml.model.checkpoint import load_checkpoint
    from isegui.ml.train.data import read_samples, sample_pixels
    from isegui.ml.train.evaluate import evaluate
    from isegui.ml.model.torch_predictor import Predictor
    from isegui.ml.runs import checkpoint_file, find_run
    _check_threshold(args.threshold)
    with Project.open(args.dir, read_only=True) as project:
        run = find_run(project, args.run)
        path = checkpoint_file(project, run, "best")
    classes = load_checkpoint(path)["classes"]
    _, by_split, notes = read_samples(args.dir, classes)
    samples = by_split[Split(args.split)]
    if not samples:
        raise ValueError(f"the {args.split} split has no labeled images to evaluate on")
    predictor = Predictor.from_checkpoint(path, args.device, threshold=0.05)
    detections = []
    with progress_bar("predicting") as progress:
        for n, sample in enumerate(samples, start=1):
            detections += predictor.predict([sample_pixels(sample)])
            progress(n, len(samples), str(sample.path))
    result = evaluate(samples, detections, classes, args.threshold)
    result = {"run": run.id, "run_name": run.name, "split": args.split, **result}
    with Project.open(args.dir, lock=False) as project:
        metrics = dict(project.store.run(run.id).metrics)
        metrics.setdefault("evaluation", {})[args.split] = {
            k: result[k] for k in ("mask_map", "mask_map50", "box_map", "box_map50",
                                   "mask_ap_per_class", "matched_iou", "matched_iou_per_class",
                                   "true_positives", "false_positives", "false_negatives")}
        project.store.update_run(run.id, metrics=metrics)
    if args.json:
        print_json(result)
        return 0
    print(one_line(f"run {run.id} ({run.name}) on {args.split}: {result['images']} images, "
                   f"{result['instances']} instances", LINE_LIMIT))
    print(f"  mask mAP {result['mask_map']:.3f} (mAP50 {result['mask_map50']:.3f}), "
          f"box mAP {result['box_map']:.3f} (mAP50 {result['box_map50']:.3f})")
    for line in _per_class_lines(result):
        print(line)
    matched = (f" (found ones fit their labels at mean IoU {result['matched_iou']:.2f})"
               if result["matched_iou"] is not None else "")
    print(f"  at score >= {args.threshold}: {result['true_positives']} found, "
          f"{result['false_positives']} false, {result['false_negatives']} missed{matched}")
    worst = sorted(result["per_image"], key=lambda p: -(p["false_positives"] +
                                                        p["false_negatives"]))[:5]
    for p in worst:
        if p["false_positives"] + p["false_negatives"]:
            print(one_line(f"  worst: {p['path']}: {p['false_positives']} false, "
                           f"{p['false_negatives']} missed", LINE_LIMIT))
    return 0


# --------------------------------------------------------------------------- predict

def run_predict(args) -> int:
    from isegui.core.images import is_image_file
    from isegui.core.project import Project, project_exists
    from isegui.ml.infer.detection import iter_predictions
    from isegui.ml.model.predictors import load_predictor
    files: list[Path] = []
    project_dir = args.project
    for source in args.source:
        if project_exists(source):  # a project folder or a team file: its images
            project_dir = project_dir or source
            with Project.open(source, read_only=True) as project:
                files += [project.image_path(r.path) for r in project.store.images()]
        elif source.is_dir():
            files += sorted(p for p in source.rglob("*") if p.is_file() and is_image_file(p))
        elif source.is_file():
            files.append(source)
        else:
            raise ValueError(f"{source}: not found")
    files = _named_in_text(files)
    if not files:
        raise ValueError("no images to predict on")
    _check_outputs(args, files)
    checkpoint, run_id, mm_per_px = _checkpoint_for(args, project_dir)
    if args.into_project and project_dir is None:
        raise ValueError("--into-project needs a project: give one as SOURCE or --project")
    predictor = load_predictor(checkpoint, args.device, args.threshold)
    return _predict_files(args, predictor, files, project_dir, run_id, mm_per_px,
                          iter_predictions)


def run_export_model(args) -> int:
    from isegui.core.project import Project
    from isegui.ml.model.onnx_export import export_onnx
    from isegui.ml.runs import checkpoint_file, find_run
    from isegui.core.line_rules import load_rules
    if args.out.suffix.lower() != ".onnx" or args.out.is_dir():
        # any other name could be the project's own file, a checkpoint, an image: replaced
        raise ValueError(f"{args.out}: name the model file FILE.onnx (isegui writes a new "
                         "ONNX file there, replacing one of that name)")
    rules = load_rules(args.rules) if args.rules else None
    with Project.open(args.dir, read_only=True) as project:
        run = find_run(project, args.run)
        path = checkpoint_file(project, run, "best")
        mm_per_px = project.mm_per_px
    if rules is not None:  # said now, not on the line PC: mm rules on an uncalibrated
        rules.check_calibration(mm_per_px)  # project, classes the run does not have
        from isegui.ml.model.checkpoint import load_checkpoint
        rules.check_classes(load_checkpoint(path)["classes"], f"run {run.id}")
    written = export_onnx(path, args.out, args.size, mm_per_px,
                          rules.as_dict() if rules is not None else None)
    print(one_line(f"wrote {written['path']}: run {run.id} ({run.name}), "
                   f"{written['model_name']}, {written['width']} x {written['height']} px "
                   f"input, classes {', '.join(written['classes'])}", LINE_LIMIT))
    if max(written["width"], written["height"]) < written["trained_size"]:
        print(f"warning: the run was trained at {written['trained_size']} px; a smaller "
              "input finds fewer small objects (a run trained at 512 and exported at 384 "
              "lost 0.08 mask mAP): export at the training size unless speed matters more",
              file=sys.stderr)
    return 0


def _checkpoint_for(args, project_dir):
    from isegui.core.project import Project
    from isegui.ml.runs import checkpoint_file, find_run
    if project_dir is None:
        if args.checkpoint is None:
            raise ValueError("give --checkpoint FILE, or a project (SOURCE or --project) whose "
                             "run to use")
        return args.checkpoint, None, None
    with Project.open(project_dir, read_only=True) as project:
        if args.checkpoint is not None:
            return args.checkpoint, None, project.mm_per_px
        run = find_run(project, args.run)
        return checkpoint_file(project, run, "best"), run.id, project.mm_per_px


def _check_threshold(threshold: float) -> None:
    if not (math.isfinite(threshold) and 0 <= threshold <= 1):
        raise ValueError(f"--threshold must be a score from 0 to 1, not {threshold}")


def _named_in_text(files: list[Path]) -> list[Path]:
    """The files whose names the results can hold (JSON and CSV are text); each other one is
    named as the shell would show its bytes and left out, not the whole run's results."""
    from isegui.core.one_line import is_text
    for path in files:
        if not is_text(str(path)):
            shown = os.fsencode(path).decode("utf-8", "backslashreplace")
            print(f"warning: {shown}: left out, its name is not text (not UTF-8); rename it",
                  file=sys.stderr)
    return [path for path in files if is_text(str(path))]


def _check_outputs(args, files: list[Path]) -> None:
    """Refused before anything is predicted: an output that is not named as one (--csv FILE.csv,
    --out FILE.json) or that is one of the images, whatever its name (it would be replaced:
    `--csv part.jpg` or `--out project.isegui` destroyed the file), a threshold or batch that
    is not one."""
    inputs = {os.path.realpath(f) for f in files}
    for option, path, suffix in (("--csv", args.csv, ".csv"), ("--out", args.out, ".json")):
        if path is None:
            continue
        if path.suffix.lower() != suffix:
            raise ValueError(f"{option} {path}: name it FILE{suffix} (isegui writes a new "
                             f"{suffix[1:].upper()} file there, replacing one of that name)")
        if os.path.realpath(path) in inputs:
            raise ValueError(f"{option} {path} is one of the images predicted on")
    _check_threshold(args.threshold)
    if args.batch < 1:
        raise ValueError(f"--batch must be 1 or more, not {args.batch}")


def _predict_files(args, predictor, files, project_dir, run_id, mm_per_px, iter_predictions):
    from isegui.core.fileio import atomic_open
    from isegui.ml.infer.outputs import CocoResults, csv_writer, measurement_rows
    coco = CocoResults(predictor.classes) if args.out else None
    stored: list = []
    counts: dict[str, int] = {}
    failed = 0
    with ExitStack() as csv_file:  # the CSV appears whole when the loop ends, or not at all
        writer = (csv_writer(csv_file.enter_context(atomic_open(args.csv, text=True)),
                             calibrated=bool(mm_per_px)) if args.csv else None)
        with progress_bar("predicting") as progress:
            for path, size, found in iter_predictions(predictor, files, args.batch, progress):
                if size is None:
                    print(f"warning: {found}", file=sys.stderr)
                    failed += 1
                    continue
                name = str(path)
                for det in found:
                    counts[det.class_name] = counts.get(det.class_name, 0) + 1
                if coco:
                    coco.add(name, size, found)
                if writer:
                    writer.writerows(measurement_rows(name, found, mm_per_px))
                if args.into_project:
                    stored.append((path, [(d.class_name, d.shape(), d.score) for d in found]))
                if not (coco or writer or args.into_project):
                    per: dict[str, int] = {}
                    for det in found:
                        per[det.class_name] = per.get(det.class_name, 0) + 1
                    print(one_line(f"{name}: {len(found)} objects" + (
                        f" ({', '.join(f'{k} {v}' for k, v in sorted(per.items()))})"
                        if per else ""), 2000))
        csv_file.close()
    if coco:
        coco.write(args.out)
    if stored:
        _store_predictions(project_dir, run_id, stored)
    total = sum(counts.values())
    print(one_line(f"{len(files) - failed} images, {total} objects" + (
        f" ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))})" if counts else ""),
        2000), file=sys.stderr)
    return 1 if failed else 0


def _store_predictions(project_dir: Path, run_id, stored) -> None:
    """Predictions go in apart from the labels, for the images the project has."""
    from isegui.core.project import Project
    with Project.open(project_dir, lock=False) as project:
        by_file = {project.image_path(r.path).resolve(): r for r in project.store.images()}
        missing = [str(p) for p, _ in stored if p.resolve() not in by_file]
        if missing:
            raise ValueError(f"{missing[0]} (and {len(missing) - 1} more) are not in the "
                             "project; import them first to store predictions")
        held = {i: who for i, (who, _) in project.store.claims().items()
                if who != project.store.user}  # a team mate's image: theirs to predict
        with project.store.transaction():
            ids = project.store.ensure_classes(sorted({c for _, d in stored for c, _, _ in d}))
            for path, found in stored:
                record = by_file[path.resolve()]
                if record.id in held:
                    print(one_line(f"warning: {record.path}: {held[record.id]} is labeling it; "
                                   "its predictions were not stored"), file=sys.stderr)
                    continue
                project.store.add_predictions(
                    record.id, run_id, [(ids[c], shape, score) for c, shape, score in found
                                        if not shape.is_empty])
