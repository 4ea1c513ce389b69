"""On the line: watch a folder, inspect each new image once it is complete (a camera or a
share may still be writing it), and say OK / NG with the reasons, one row per image in a
CSV or JSON-lines file. Runs on any predictor; `isegui watch` gives it the onnxruntime one,
so nothing here (nor below it) imports torch or Qt."""

from __future__ import annotations

import csv
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from isegui.core.errors import ImageReadError
from isegui.core.fileio import atomic_write_bytes
from isegui.core.images import is_image_file, load_image, verify_image
from isegui.core.line_rules import Rules
from isegui.core.measure import measure
from isegui.ml.infer.detection import Detection, ImagePredictor, prepare_image

log = logging.getLogger(__name__)

STOP_FILE = "STOP"  # created in the watched folder, it ends the watch cleanly
UNREADABLE = "unreadable"


@dataclass
class WatchSettings:
    folder: Path
    out: Path  # .csv or .jsonl: one row per image; also what was done, for a restart
    overlays: Path | None = None  # NG images drawn with what was found
    move_to: Path | None = None  # inspected images go here (else they stay)
    settle_s: float = 0.5  # a file unchanged this long is complete
    give_up_s: float = 10.0  # unreadable this long after it stopped changing: NG unreadable
    poll_s: float = 0.2
    mm_per_px: float | None = None


class ResultsFile:
    """Rows appended as images are inspected. A file another program holds (Excel locks the
    CSV it shows) queues them: they go in, in order, once it lets go."""

    def __init__(self, path: Path, columns: Sequence[str]):
        self.path, self.columns = path, list(columns)
        self.waiting: list[dict[str, Any]] = []
        self.jsonl = path.suffix.lower() in (".jsonl", ".json")

    def done_files(self) -> set[str]:
        """The files a run before this one already inspected (a restart goes on from there)."""
        if not self.path.is_file():
            return set()
        text = self.path.read_text(encoding="utf-8", errors="replace")
        if self.jsonl:
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            rows = list(csv.DictReader(text.splitlines()))
        return {str(r.get("file")) for r in rows}

    def add(self, row: dict[str, Any]) -> None:
        self.waiting.append(row)
        self.flush()

    def flush(self) -> bool:
        """Write what waits; False while the file cannot be written (it stays queued)."""
        if not self.waiting:
            return True
        try:
            new = not self.path.exists() or self.path.stat().st_size == 0
            with open(self.path, "a", encoding="utf-8", newline="") as out:
                if self.jsonl:
                    for row in self.waiting:
                        out.write(json.dumps(row, allow_nan=False) + "\n")
                else:
                    writer = csv.DictWriter(out, self.columns, extrasaction="ignore")
                    if new:
                        writer.writeheader()
                    writer.writerows(self.waiting)
        except OSError as exc:
            log.warning("%s cannot be written (%s): %d rows wait", self.path, exc,
                        len(self.waiting))
            return False
        self.waiting.clear()
        return True


@dataclass
class _Pending:
    size: int
    mtime: float
    stable_since: float


@dataclass
class Watcher:
    settings: WatchSettings
    predictor: ImagePredictor
    rules: Rules | None = None
    say: Callable[[str], None] = print
    # each inspected image, for a view (the station): its row, pixels (None when unreadable)
    # and what was found
    on_inspected: Callable[[dict[str, Any], np.ndarray | None, list[Detection]], None] | None \
        = None
    _pending: dict[Path, _Pending] = field(default_factory=dict)
    _done: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        classes = list(self.predictor.classes)
        self.results = ResultsFile(self.settings.out, ["time", "file", "verdict", "reasons",
                                                       *[f"count_{c}" for c in classes],
                                                       "sizes", "ms"])
        self._done = self.results.done_files()
        if self._done:
            self.say(f"{len(self._done)} images inspected before: not again")

    def run(self, stop: Callable[[], bool] = lambda: False, once: bool = False) -> int:
        """Until `stop()`, Ctrl+C or a STOP file in the folder; `once`: what is there now.
        Returns how many images were inspected."""
        count = 0
        try:
            while not stop():
                if (self.settings.folder / STOP_FILE).exists():
                    self.say(f"{STOP_FILE} found: stopping")
                    break
                done = len(self.step(time.monotonic(), wait=once))
                count += done
                self.results.flush()
                if once and not self._pending:
                    break
                if not done:  # a pass that found work looks again at once
                    time.sleep(self.settings.poll_s)
        except KeyboardInterrupt:
            self.say("interrupted: stopping")
        if not self.results.flush():
            self.say(f"{len(self.results.waiting)} rows could not be written to "
                     f"{self.settings.out} (in use?)")
        return count

    def step(self, now: float, wait: bool = False) -> list[dict[str, Any]]:
        """Inspect the images that are complete now. `wait`: treat every file as settled
        (a one-off run over a folder nothing writes to)."""
        rows = []
        for path in sorted(self.settings.folder.iterdir()):
            if path.name in self._done or not path.is_file() or not is_image_file(path):
                continue
            try:
                stat = path.stat()
            except OSError:
                continue  # moved or deleted meanwhile
            seen = self._pending.get(path)
            if seen is None or (seen.size, seen.mtime) != (stat.st_size, stat.st_mtime):
                seen = self._pending[path] = _Pending(stat.st_size, stat.st_mtime, now)
            # settled: unchanged that long by its own time stamp (no second look needed),
            # or, where a share's clock differs from this PC's, over our own looks
            quiet = max(time.time() - stat.st_mtime, now - seen.stable_since)
            if not wait and quiet < self.settings.settle_s:
                continue
            try:
                if path.suffix.lower() in (".jpg", ".jpeg"):
                    verify_image(path)  # every byte decoded: a JPEG cut short is refused
                pixels = load_image(path)
            except ImageReadError as exc:
                if not wait and quiet < self.settings.give_up_s:
                    continue  # maybe still being written in place: look again
                rows.append(self._finish(path, self._unreadable(path, str(exc)), None, []))
                continue
            row, found = self.inspect(path, pixels)
            rows.append(self._finish(path, row, pixels, found))
        return rows

    def _finish(self, path: Path, row: dict[str, Any], pixels: np.ndarray | None,
                found: list[Detection]) -> dict[str, Any]:
        if self.on_inspected is not None:
            self.on_inspected(row, pixels, found)
        self._pending.pop(path, None)
        self._done.add(path.name)
        self.results.add(row)
        self.say(f"{row['verdict'] or '-':>3} {path.name}"
                 + (f": {row['reasons']}" if row["reasons"] else ""))
        if self.settings.move_to is not None:
            self.settings.move_to.mkdir(parents=True, exist_ok=True)
            try:
                path.replace(self.settings.move_to / path.name)
            except OSError as exc:
                log.warning("%s not moved: %s", path, exc)
        return row

    def _unreadable(self, path: Path, why: str) -> dict[str, Any]:
        return {"time": _now(), "file": path.name, "verdict": "NG",
                "reasons": f"{UNREADABLE}: {why}", "sizes": "{}", "ms": 0}

    def inspect(self, path: Path, pixels: np.ndarray
                ) -> tuple[dict[str, Any], list[Detection]]:
        start = time.perf_counter()
        (found,) = self.predictor.predict([pixels])  # down to the predictor's threshold
        measured = [(d.class_name, d.score, measure(d.shape())) for d in found]
        row: dict[str, Any] = {"time": _now(), "file": path.name}
        counts = {c: 0 for c in self.predictor.classes}
        if self.rules is not None:
            verdict = self.rules.evaluate(measured, self.settings.mm_per_px)
            row.update(verdict=verdict.label, reasons="; ".join(verdict.reasons),
                       sizes=json.dumps(verdict.sizes))
            counts.update(verdict.counts)
        else:
            for name, _, _ in measured:
                counts[name] = counts.get(name, 0) + 1
            row.update(verdict="", reasons="", sizes=json.dumps(
                {c: [round(m.area, 1) for n, _, m in measured if n == c] for c in counts}))
        row.update({f"count_{c}": n for c, n in counts.items()})
        row["ms"] = round((time.perf_counter() - start) * 1000, 1)
        if row["verdict"] == "NG" and self.settings.overlays is not None:
            ok, png = cv2.imencode(".png", self.draw(pixels, found, "NG"))
            if ok:
                self.settings.overlays.mkdir(parents=True, exist_ok=True)
                atomic_write_bytes(self.settings.overlays / f"{path.stem}_NG.png",
                                   png.tobytes())
        return row, found

    @staticmethod
    def draw(pixels: np.ndarray | None, found: list[Detection], verdict: str) -> np.ndarray:
        """The image (BGR) with what was found outlined and named: red on an NG part, green
        otherwise; a dark frame when the image could not be read."""
        if pixels is None:
            return np.full((240, 320, 3), 40, np.uint8)
        image = cv2.cvtColor(prepare_image(pixels), cv2.COLOR_RGB2BGR)
        color = (40, 40, 230) if verdict == "NG" else (60, 200, 60)
        thick = max(2, round(max(image.shape[:2]) / 400))
        for det in found:
            x, y = det.origin
            mask = det.mask.astype(np.uint8)
            contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            cv2.drawContours(image, contours, -1, color, thick, offset=(x, y))
            cv2.putText(image, det.class_name, (x, max(12, y - 3)), cv2.FONT_HERSHEY_SIMPLEX,
                        0.25 * thick, color, 1, cv2.LINE_AA)
        return image


def _now() -> str:
    return datetime.now().isoformat(timespec="milliseconds")


def watcher_for(folder: Path, model: Path, rules_file: Path | None = None,
                out: Path | None = None, *, threshold: float = 0.5,
                mm_per_px: float | None = None, **settings: Any) -> Watcher:
    """The watch `isegui watch` runs: the exported model on onnxruntime, the rules given or
    else those the model carries, the calibration given or else the model's. Rules in mm
    without a calibration, and a missing folder, are refused here, before any image."""
    from isegui.core.line_rules import load_rules
    from isegui.ml.infer.onnx_model import OnnxPredictor
    if not Path(folder).is_dir():
        raise ValueError(f"{folder}: not a folder to watch")
    predictor = OnnxPredictor.from_file(model, threshold)
    rules = load_rules(rules_file) if rules_file else (
        Rules.from_json(predictor.rules, f"{model} (its rules)") if predictor.rules else None)
    if rules is not None:  # the model reports down to the lowest score the rules look at
        predictor.threshold = min([threshold, rules.min_score, *[
            c.min_score for c in rules.classes.values() if c.min_score is not None]])
    mm_per_px = mm_per_px or predictor.mm_per_px
    if rules is not None:
        rules.check_calibration(mm_per_px)
    return Watcher(WatchSettings(Path(folder), out or Path(folder) / "results.csv",
                                 mm_per_px=mm_per_px, **settings), predictor, rules)
