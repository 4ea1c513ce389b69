"""Sub-commands about one project: demo, stats, split, validate, calibrate."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from isegui.cli.output import print_json, progress_bar
from isegui.core.one_line import one_line
from isegui.core.demo import DEMO_IMAGES, create_demo_project
from isegui.core.demo_defects import DEFECT_FRAMES, FRAME_SIZE, create_defects_project
from isegui.core.project import Project
from isegui.core.splits import assign_splits
from isegui.core.stats import project_stats
from isegui.core.validate import ERROR, Rules, validate_project

# per kind: the maker, its default image count and size, and what the progress bar says
DEMO_KINDS = {
    "parts": (create_demo_project, DEMO_IMAGES, "512x384", "making scenes"),
    "defects": (create_defects_project, DEFECT_FRAMES, f"{FRAME_SIZE[0]}x{FRAME_SIZE[1]}",
                "making frames"),
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="create a labeled demo project of synthetic parts "
                                     "(or, with --kind defects, of large inspection frames)")
    p.add_argument("dir", type=Path, help="a new project folder")
    p.add_argument("--kind", choices=tuple(DEMO_KINDS), default="parts",
                   help="parts: small scenes of pills, washers, chips; defects: large frames "
                        "of brushed metal with small scratches, pits, stains and dust")
    p.add_argument("--images", type=int, default=None,
                   help=f"how many images (default {DEMO_IMAGES} parts scenes, "
                        f"{DEFECT_FRAMES} defects frames)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", default=None,
                   help="WIDTHxHEIGHT of the images (default 512x384 parts, "
                        f"{FRAME_SIZE[0]}x{FRAME_SIZE[1]} defects)")
    p.set_defaults(handler=run_demo)

    p = sub.add_parser("stats", help="counts of images, instances and classes")
    p.add_argument("dir", type=Path)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=run_stats)

    p = sub.add_parser("split", help="assign images to train / val / test at random")
    p.add_argument("dir", type=Path)
    p.add_argument("--val", type=float, default=0.2, help="share for validation (0.2)")
    p.add_argument("--test", type=float, default=0.0, help="share for testing (0.0)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(handler=run_split)

    p = sub.add_parser("validate", help="check the labels for consistency")
    p.add_argument("dir", type=Path)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--min-area", type=float, default=Rules.min_area,
                   help=f"instances below this many px² are reported (default {Rules.min_area:g})")
    p.set_defaults(handler=run_validate)

    p = sub.add_parser("calibrate", help="set how many millimetres one pixel is")
    p.add_argument("dir", type=Path)
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--mm-per-px", type=float, help="millimetres per pixel")
    group.add_argument("--clear", action="store_true", help="remove the calibration")
    p.set_defaults(handler=run_calibrate)


def run_demo(args) -> int:
    create, images, size, what = DEMO_KINDS[args.kind]
    width, height = _size(args.size or size)
    count = images if args.images is None else args.images
    with progress_bar(what) as progress:
        project = create(args.dir, count, args.seed, width, height, progress)
    with project:
        stats = project_stats(project)
    print(one_line(f"demo project created in {project.folder}: {stats['images']} images, "
                   f"{stats['instances']} instances of "
                   f"{', '.join(c['name'] for c in stats['classes'])}"))
    return 0


MIN_DEMO_SIDE = 96  # the demo's parts need that much room (64 x 48 had no place for one)


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--size must look like 512x384, got {text!r}") from None
    if not (MIN_DEMO_SIDE <= width <= 8192 and MIN_DEMO_SIDE <= height <= 8192):
        raise ValueError(f"--size must be between {MIN_DEMO_SIDE} and 8192 pixels each way")
    return width, height


def run_stats(args) -> int:
    with Project.open(args.dir, read_only=True) as project:
        stats = project_stats(project)
    if args.json:
        print_json(stats)
        return 0
    print(one_line(f"{stats['project']}  ({stats['folder']})"))
    splits = ", ".join(f"{k} {v}" for k, v in stats["splits"].items())
    status = ", ".join(f"{k} {v}" for k, v in stats["status"].items())
    print(f"  images     {stats['images']}  ({splits}; {status})")
    ignored = stats["regions_to_ignore"]
    print(f"  instances  {stats['instances']}  ({stats['instances_per_image']} per image"
          + (f", {ignored} regions to ignore" if ignored else "") + ")")
    calibration = stats["mm_per_px"]
    print(f"  calibration {f'{calibration:g} mm/px' if calibration else 'none (sizes in px)'}")
    for c in stats["classes"]:
        area = f", mean area {c['mean_area_px']:g} px²" if c["mean_area_px"] else ""
        # a class name read from a project copied from elsewhere may hold ESC or a line break
        print(f"  class {one_line(c['name']):<16} {c['instances']:>6} instances{area}")
    return 0


def run_split(args) -> int:
    with Project.open(args.dir) as project:
        counts = assign_splits(project, args.val, args.test, args.seed)
    print(", ".join(f"{split.value} {n}" for split, n in counts.items()))
    return 0


def run_validate(args) -> int:
    if not (math.isfinite(args.min_area) and args.min_area >= 0):
        raise ValueError(f"--min-area must be an area of 0 px² or more, not {args.min_area}")
    with Project.open(args.dir, read_only=True) as project, \
            progress_bar("checking images") as progress:
        report = validate_project(project, Rules(min_area=args.min_area), progress)
    if args.json:
        print_json(report.as_dict())
    else:
        for f in report.findings:
            where = f"{f.image_path}: " if f.image_path else ""
            print(one_line(f"{f.severity:<7} {f.code:<20} {where}{f.message}", 2000))
        summary = report.as_dict()["summary"]
        print(f"{summary['error']} errors, {summary['warning']} warnings, {summary['info']} notes",
              file=sys.stderr)
    return 1 if report.count(ERROR) else 0


def run_calibrate(args) -> int:
    with Project.open(args.dir) as project:
        project.set_calibration(None if args.clear else args.mm_per_px)
        value = project.mm_per_px
    print(f"calibration: {value:g} mm per pixel" if value else "calibration removed")
    return 0
