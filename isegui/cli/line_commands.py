"""On the line: `isegui watch` inspects each new image of a folder with an exported model
(onnxruntime only: it starts in about a second) and writes OK / NG with the reasons."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from isegui.core.one_line import one_line


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "watch", help="inspect each new image of a folder: OK / NG by the rules",
        description="Watch FOLDER; each new image, once completely written, is predicted with "
        "the exported MODEL (isegui export-model), measured, judged by the rules and written "
        "as one row to --out. Images already in --out are not inspected again. Ends on "
        "Ctrl+C or when a file named STOP appears in FOLDER.")
    _watch_arguments(p)
    p.add_argument("--once", action="store_true", help="inspect what is there now, then stop")
    p.set_defaults(handler=run_watch)

    p = sub.add_parser(
        "station", help="the station view: isegui watch on a screen beside the camera",
        description="isegui watch with a full-screen view: the latest image with what was "
        "found, a large OK / NG with the reasons, counters and the last verdicts.")
    _watch_arguments(p)
    p.add_argument("--windowed", action="store_true", help="a window, not the full screen")
    p.set_defaults(handler=run_station)


def _watch_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder", type=Path)
    p.add_argument("--model", type=Path, required=True, help="model.onnx (isegui export-model)")
    p.add_argument("--rules", type=Path, help="rules.json (docs/rules.md); none: counts only")
    p.add_argument("--out", type=Path, help="results .csv or .jsonl (default: FOLDER/results.csv)")
    p.add_argument("--overlays", type=Path, help="write NG images with what was found here")
    p.add_argument("--move-to", type=Path, help="move inspected images here")
    p.add_argument("--threshold", type=float, default=0.5, help="lowest score counted (0.5)")
    p.add_argument("--mm-per-px", type=float, help="calibration (default: the model's)")
    p.add_argument("--settle", type=float, default=0.5,
                   help="seconds a file must stay unchanged to count as complete (0.5)")


def run_watch(args) -> int:
    start = time.perf_counter()
    watcher = _watcher(args)
    print(one_line(f"ready in {time.perf_counter() - start:.2f} s: watching {args.folder} "
                   f"with {args.model.name} ({', '.join(watcher.predictor.classes)}); results "
                   f"in {watcher.settings.out}", limit=2000), flush=True)
    count = watcher.run(once=args.once)
    print(f"{count} images inspected")
    if watcher.results.waiting:  # said by the watch; the exit code tells a script too
        print(f"error: {len(watcher.results.waiting)} rows could not be written to "
              f"{watcher.settings.out}", file=sys.stderr)
        return 1
    return 0


def run_station(args) -> int:
    watcher = _watcher(args)
    from PySide6.QtWidgets import QApplication

    from isegui.gui.display_check import problems
    from isegui.gui.station import StationWindow
    found = problems()
    if found:
        print("isegui cannot open its window:\n" + "\n".join(found))
        return 1
    app = QApplication.instance() or QApplication(["isegui station"])
    window = StationWindow(watcher, f"isegui station — {args.folder}")
    window.show() if args.windowed else window.showFullScreen()
    window.start()
    return int(app.exec())


def _watcher(args):
    from isegui.ml.infer.line_watch import watcher_for
    return watcher_for(args.folder, args.model, args.rules, args.out, threshold=args.threshold,
                       mm_per_px=args.mm_per_px, overlays=args.overlays,
                       move_to=args.move_to, settle_s=args.settle)
