"""Sub-commands that move labels in and out: import, export."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from isegui.cli.output import print_warnings, progress_bar
from isegui.core.one_line import one_line
from isegui.core.entities import Split
from isegui.core.formats.exporter import export_dataset
from isegui.core.formats import FORMATS
from isegui.core.formats.importer import ImportOptions, import_dataset
from isegui.core.project import Project, project_exists


def register(sub: argparse._SubParsersAction) -> None:
    formats = sorted(FORMATS)
    p = sub.add_parser("import", help="add labeled images from another tool's format",
                       description="Read a dataset and add its images and labels to the "
                       "project (created if needed). Everything is checked first; on any "
                       "problem nothing is changed.")
    p.add_argument("dir", type=Path, help="the project folder")
    p.add_argument("--format", required=True, choices=formats)
    p.add_argument("source", type=Path, help="the annotation file or folder")
    p.add_argument("--images", type=Path, help="the folder the file names are relative to "
                   "(default: the format's usual place next to the annotations)")
    p.add_argument("--split", choices=[s.value for s in Split],
                   help="put the images in this split (default: the format's, else train)")
    p.add_argument("--copy", action="store_true", help="copy the images into the project "
                   "(default: refer to them where they are)")
    p.add_argument("--existing", choices=["error", "skip", "replace"], default="error",
                   help="an image already in the project: stop (default), skip it, or "
                   "replace its labels")
    p.add_argument("--skip-missing", action="store_true",
                   help="leave out images whose file is missing instead of stopping")
    p.add_argument("--class", dest="default_class", metavar="NAME",
                   help="the class of instances the files give none (label images without a "
                   "class map); default: they come in without a class")
    p.set_defaults(handler=run_import)

    p = sub.add_parser("export", help="write the labels in another tool's format")
    p.add_argument("dir", type=Path, help="the project folder")
    p.add_argument("--format", required=True, choices=formats)
    p.add_argument("dest", type=Path, help="a new (or empty) folder for the dataset")
    p.add_argument("--split", choices=[s.value for s in Split], help="only this split")
    p.add_argument("--predictions", action="store_true",
                   help="export a run's predictions (with scores) instead of the labels")
    p.add_argument("--run", type=int, help="with --predictions: which run (default: active)")
    p.add_argument("--no-images", action="store_true",
                   help="write the annotations only, without copies of the images")
    p.add_argument("--mask-suffix", choices=[".png", ".tif"], default=".png",
                   help="masks format: PNG or TIFF files")
    p.set_defaults(handler=run_export)


def run_import(args) -> int:
    options = ImportOptions(format=args.format, source=args.source, images_root=args.images,
                            split=Split(args.split) if args.split else None, copy=args.copy,
                            existing=args.existing, skip_missing=args.skip_missing,
                            default_class=args.default_class)
    created = not project_exists(args.dir)
    project = Project.open_or_create(args.dir)
    try:
        with progress_bar("checking images") as progress:
            report = import_dataset(project, options, progress)
    except BaseException:
        project.close()
        if created:
            _remove_new_project(args.dir)
        raise
    project.close()
    print_warnings(report.warnings)
    print(f"imported {report.images_added} images ({report.images_replaced} replaced, "
          f"{report.images_skipped} skipped) with {report.instances_added} instances"
          + (f"; new classes: {', '.join(report.classes_added)}" if report.classes_added else ""))
    return 0


def _remove_new_project(folder: Path) -> None:
    """An import into a project it created itself leaves no empty project behind."""
    for name in ("project.isegui", "project.isegui-wal", "project.isegui-shm",
                 "project.isegui.lock"):
        (folder / name).unlink(missing_ok=True)
    try:
        folder.rmdir()
    except OSError:
        pass


def run_export(args) -> int:
    options = {"suffix": args.mask_suffix} if args.format == "masks" else {}
    with Project.open(args.dir, read_only=True) as project, \
            progress_bar("copying images") as progress:
        report = export_dataset(project, args.format, args.dest,
                                split=Split(args.split) if args.split else None,
                                predictions=args.predictions, run_id=args.run,
                                copy_images=not args.no_images, progress=progress, **options)
    for loss in report.losses:
        print(one_line(f"note: {loss}"), file=sys.stderr)
    print(one_line(f"exported to {args.dest} ({len(report.files)} annotation files)"))
    return 0
