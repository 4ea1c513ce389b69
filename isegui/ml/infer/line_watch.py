"""On the line: watch a folder, inspect each new image once it is complete (a camera or a
share may still be writing it), and say OK / NG with the reasons, one row per image in a
CSV or JSON-lines file. Runs on any predictor; `isegui watch` gives it the onnxruntime one,
so nothing here (nor below it) imports torch or Qt.

The line never stops for one part: whatever goes wrong with one image (it cannot be read,
the model fails on it, its name is not UTF-8) is that image's NG row, with the reason in
words and the traceback in the log; what cannot work for any image (the model, the rules,
the results file) is refused in one line before the watch starts.

A file is complete when its size and time stamp have not changed over the watch's own looks
for the settle time, by the watch's clock: a copy keeps the time stamp of its original
(Explorer, robocopy, `cp -p`), so the file's own time says nothing about when it landed.
One that still does not decode is looked at again while its bytes change (a copy may fill
a file whose size was set first), and is NG "unreadable" once they have not for give_up_s."""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from isegui.core.csv_cells import CsvDictWriter, unescape_row
from isegui.core.errors import ImageReadError, InputFileError, IseguiError
from isegui.core.fileio import atomic_write_bytes
from isegui.core.images import is_image_file, load_image, verify_image
from isegui.core.line_rules import Rules
from isegui.core.measure import measure
from isegui.logs import FILE_ONLY
from isegui.ml.infer.detection import Detection, ImagePredictor, prepare_image

log = logging.getLogger(__name__)

STOP_FILE = "STOP"  # created in the watched folder, it ends the watch cleanly
UNREADABLE = "unreadable"
NOT_INSPECTED = "not inspected"  # the image was read; predicting or judging it failed
MAX_REASON = 300  # characters of an error's own words kept in a reason
DIGEST_SAMPLES, DIGEST_BLOCK = 16, 1 << 16  # what is read of an unreadable file at a look


@dataclass
class WatchSettings:
    folder: Path
    out: Path  # .csv or .jsonl: one row per image; also what was done, for a restart
    overlays: Path | None = None  # NG images drawn with what was found
    move_to: Path | None = None  # inspected images go here (else they stay)
    settle_s: float = 0.5  # a file unchanged this long (by the watch's clock) is complete
    give_up_s: float = 10.0  # unreadable and unchanged this long after that: NG unreadable
    poll_s: float = 0.2
    mm_per_px: float | None = None


def file_label(path: Path) -> str:
    """The name as the results file and the screen give it. A name that is not UTF-8 (bytes a
    Linux share can hold) shows its odd bytes as \\xNN: writing it never fails, and a restart
    finds the same label for the same file."""
    return os.fsencode(path.name).decode("utf-8", "backslashreplace")


class ResultsFile:
    """Rows appended as images are inspected. A file another program holds (Excel locks the
    CSV it shows) queues them: they go in, in order, once it lets go. Every cell of the CSV
    goes through core.csv_cells, so a name starting with "=" is never a formula there."""

    def __init__(self, path: Path, columns: Sequence[str]):
        self.path, self.columns = path, list(columns)
        self.waiting: list[dict[str, Any]] = []
        self.jsonl = path.suffix.lower() in (".jsonl", ".json")
        self.damaged = 0  # lines of a JSON-lines file that did not read back

    def done_files(self) -> set[str]:
        """The files a run before this one already inspected (a restart goes on from there).
        A CSV the csv module cannot read back is refused (InputFileError): going on would
        inspect every image again; a damaged JSON line is skipped and counted."""
        if not self.path.is_file():
            return set()
        try:
            # newline="": a name holding a line break (U+2028 too) stays in its own row
            with open(self.path, encoding="utf-8", errors="replace", newline="") as f:
                rows = self._json_rows(f.read().split("\n")) if self.jsonl else [
                    unescape_row(row) for row in csv.DictReader(f)]
        except (OSError, csv.Error) as exc:
            raise InputFileError(self.path, f"cannot read back the images inspected before "
                                 f"({exc}); move it away to start a new results file") from None
        return {str(r["file"]) for r in rows if r.get("file") is not None}

    def _json_rows(self, lines: list[str]) -> list[dict[str, Any]]:
        rows = []
        for line in filter(str.strip, lines):
            try:
                row = json.loads(line)
            except (ValueError, RecursionError):
                row = None
            if isinstance(row, dict):
                rows.append(row)
            else:
                self.damaged += 1
        return rows

    def add(self, row: dict[str, Any]) -> None:
        self.waiting.append(row)
        self.flush()

    def flush(self) -> bool:
        """Write what waits; False while the file cannot be written (it stays queued)."""
        if not self.waiting:
            return True
        try:
            new = not self.path.exists() or self.path.stat().st_size == 0
            # backslashreplace: no text in a row can make the write fail
            with open(self.path, "a", encoding="utf-8", errors="backslashreplace",
                      newline="") as out:
                if self.jsonl:
                    for row in self.waiting:
                        out.write(json.dumps(row, allow_nan=False) + "\n")
                else:
                    writer = CsvDictWriter(out, self.columns, extrasaction="ignore")
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
class _Seen:
    """A file as the watch last saw it, and since when (its clock) it has looked so."""
    size: int
    mtime_ns: int
    since: float
    digest: int | None = None  # of its bytes, once it failed to decode


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
    _pending: dict[Path, _Seen] = field(default_factory=dict)
    _done: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        classes = list(self.predictor.classes)
        if self.rules is not None:  # rules that cannot work for any image: refused now
            self.rules.check_classes(classes)
            self.rules.check_calibration(self.settings.mm_per_px)
        self.results = ResultsFile(self.settings.out, ["time", "file", "verdict", "reasons",
                                                       *[f"count_{c}" for c in classes],
                                                       "sizes", "ms"])
        self._done = self.results.done_files()
        if self.results.damaged:
            self._say(f"{self.results.damaged} damaged lines in {self.settings.out} skipped")
        if self._done:
            self._say(f"{len(self._done)} images inspected before: not again")

    def run(self, stop: Callable[[], bool] = lambda: False, once: bool = False) -> int:
        """Until `stop()`, Ctrl+C or a STOP file in the folder; `once`: what is there now.
        Returns how many images were inspected."""
        count = 0
        try:
            while not stop():
                if (self.settings.folder / STOP_FILE).exists():
                    self._say(f"{STOP_FILE} found: stopping")
                    break
                done = len(self.step(time.monotonic(), wait=once))
                count += done
                self.results.flush()
                if once and not self._pending:
                    break
                if not done:  # a pass that found work looks again at once
                    time.sleep(self._next_look(time.monotonic()))
        except KeyboardInterrupt:
            self._say("interrupted: stopping")
        if not self.results.flush():
            self._say(f"{len(self.results.waiting)} rows could not be written to "
                      f"{self.settings.out} (in use?)")
        return count

    def _next_look(self, now: float) -> float:
        """Seconds until the next look: the poll interval, or less when a file settles
        sooner (what a part waits beyond the settle time is this, not a whole poll)."""
        due = [seen.since + self.settings.settle_s - now for seen in self._pending.values()
               if seen.digest is None]
        return max(0.005, min([self.settings.poll_s, *due]))

    def step(self, now: float, wait: bool = False) -> list[dict[str, Any]]:
        """Inspect the images that are complete at `now` (the watch's clock). `wait`: treat
        every file as complete (a one-off run over a folder nothing writes to)."""
        rows = []
        paths = self._new_files()
        present = set(paths)
        self._pending = {p: seen for p, seen in self._pending.items() if p in present}
        for path in paths:
            seen = self._look(path, now)
            if seen is None:
                continue  # moved or deleted meanwhile
            if wait or now - seen.since >= self.settings.settle_s:
                row = self._judge(path, now, wait)
                if row is not None:
                    rows.append(row)
        return rows

    def _new_files(self) -> list[Path]:
        try:
            paths = sorted(self.settings.folder.iterdir())
        except OSError as exc:  # a share gone for a moment: look again at the next pass
            log.warning("%s cannot be listed (%s)", self.settings.folder, exc)
            return []
        return [p for p in paths if is_image_file(p) and file_label(p) not in self._done
                and _is_file(p)]

    def _look(self, path: Path, now: float) -> _Seen | None:
        """The file's size and time stamp, and since when (the watch's clock) they have been
        what they are now; None when it is gone."""
        try:
            stat = path.stat()
        except OSError:
            return None
        seen = self._pending.get(path)
        if seen is None or (seen.size, seen.mtime_ns) != (stat.st_size, stat.st_mtime_ns):
            seen = self._pending[path] = _Seen(stat.st_size, stat.st_mtime_ns, now)
        return seen

    def _still_arriving(self, path: Path, now: float) -> bool:
        """For a settled file that does not decode: whether to look again. Its bytes are
        compared with the last look's, as a copy may fill a file whose size and time stamp
        were set first; it is given up on once they have not changed for give_up_s."""
        seen = self._pending[path]
        digest = _digest(path)
        if digest != seen.digest:
            seen.digest, seen.since = digest, now
        return now - seen.since < self.settings.give_up_s

    def _judge(self, path: Path, now: float, wait: bool) -> dict[str, Any] | None:
        """The row of one settled image, or None when it is to be looked at again. Any
        failure on it is its own NG row: the line goes on."""
        try:
            pixels = _read(path)
        except ImageReadError as exc:
            if not wait and self._still_arriving(path, now):
                return None  # maybe still being written in place: look again
            return self._finish(path, self._failed(path, UNREADABLE, exc.problem), None, [])
        except Exception as exc:  # the decoder itself failed: MemoryError, cv2.error, ...
            return self._finish(path, self._failed(path, UNREADABLE, exc), None, [])
        try:
            row, found = self.inspect(path, pixels)
        except Exception as exc:  # the model or the judging failed on this image alone
            return self._finish(path, self._failed(path, NOT_INSPECTED, exc), pixels, [])
        return self._finish(path, row, pixels, found)

    def _finish(self, path: Path, row: dict[str, Any], pixels: np.ndarray | None,
                found: list[Detection]) -> dict[str, Any]:
        self._pending.pop(path, None)
        self._done.add(row["file"])
        self.results.add(row)
        self._say(f"{row['verdict'] or '-':>3} {row['file']}"
                  + (f": {row['reasons']}" if row["reasons"] else ""))
        if self.on_inspected is not None:
            try:
                self.on_inspected(row, pixels, found)
            except Exception:  # a view that cannot show one image must not stop the line
                log.warning("%s: the view failed to show it", row["file"], exc_info=True)
        if self.settings.move_to is not None:
            try:
                self.settings.move_to.mkdir(parents=True, exist_ok=True)
                path.replace(self.settings.move_to / path.name)
            except OSError as exc:
                log.warning("%s not moved: %s", path, exc)
        return row

    def _failed(self, path: Path, what: str, why: Exception | str) -> dict[str, Any]:
        """The NG row of an image that could not be judged, the reason in words; the
        traceback, if any, goes to the log file only."""
        if isinstance(why, Exception):
            log.warning("%s: %s", file_label(path), what, exc_info=why, extra=FILE_ONLY)
        return {"time": _now(), "file": file_label(path), "verdict": "NG",
                "reasons": f"{what}: {_in_words(why)}", "sizes": "{}", "ms": 0}

    def _say(self, text: str) -> None:
        """Say it; on a console that cannot show a character (Windows, output redirected to
        a file in a code page), with that character escaped."""
        try:
            self.say(text)
        except UnicodeError:
            self.say(text.encode("ascii", "backslashreplace").decode("ascii"))

    def inspect(self, path: Path, pixels: np.ndarray
                ) -> tuple[dict[str, Any], list[Detection]]:
        start = time.perf_counter()
        (found,) = self.predictor.predict([pixels])  # down to the predictor's threshold
        found = _finite(found)
        measured = [(d.class_name, d.score, measure(d.shape())) for d in found]
        row: dict[str, Any] = {"time": _now(), "file": file_label(path)}
        counts = {c: 0 for c in self.predictor.classes}
        if self.rules is not None:
            verdict = self.rules.evaluate(measured, self.settings.mm_per_px)
            row.update(verdict=verdict.label, reasons="; ".join(verdict.reasons),
                       sizes=json.dumps(verdict.sizes, allow_nan=False))
            counts.update(verdict.counts)
        else:
            for name, _, _ in measured:
                counts[name] = counts.get(name, 0) + 1
            row.update(verdict="", reasons="", sizes=json.dumps(
                {c: [round(m.area, 1) for n, _, m in measured if n == c] for c in counts},
                allow_nan=False))
        row.update({f"count_{c}": n for c, n in counts.items()})
        row["ms"] = round((time.perf_counter() - start) * 1000, 1)
        if row["verdict"] == "NG" and self.settings.overlays is not None:
            self._write_overlay(self.settings.overlays, path, pixels, found)
        return row, found

    def _write_overlay(self, folder: Path, path: Path, pixels: np.ndarray,
                       found: list[Detection]) -> None:
        """The NG image drawn; one that cannot be written is a warning, the verdict stands."""
        try:
            ok, png = cv2.imencode(".png", self.draw(pixels, found, "NG"))
            if ok:
                folder.mkdir(parents=True, exist_ok=True)
                atomic_write_bytes(folder / f"{path.stem}_NG.png", png.tobytes())
        except (OSError, cv2.error) as exc:
            log.warning("%s: no overlay written (%s)", file_label(path), exc)

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



def _read(path: Path) -> np.ndarray:
    if path.suffix.lower() in (".jpg", ".jpeg"):
        verify_image(path)  # every byte decoded: a JPEG cut short is refused
    return load_image(path)


def _digest(path: Path) -> int:
    """A checksum of the file's bytes, or of DIGEST_SAMPLES blocks spread over a large file (a
    copy filling it changes one of them every 1/16 of the way; no more than 1 MiB is read at a
    look); -1 when it cannot be read."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size <= DIGEST_SAMPLES * DIGEST_BLOCK:
                return zlib.crc32(f.read())
            crc = 0
            for k in range(DIGEST_SAMPLES):
                f.seek((size - DIGEST_BLOCK) * k // (DIGEST_SAMPLES - 1))
                crc = zlib.crc32(f.read(DIGEST_BLOCK), crc)
            return crc
    except OSError:
        return -1


def _finite(found: list[Detection]) -> list[Detection]:
    """What a predictor found, less detections with a score or box that is not a number: a
    NaN is never judged, counted or written."""
    usable = [d for d in found if math.isfinite(d.score) and all(map(math.isfinite, d.box))]
    if len(usable) < len(found):
        log.warning("%d detections with a score or box that is not a number left out",
                    len(found) - len(usable))
    return usable


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:
        return False


def _in_words(why: Exception | str) -> str:
    """An error as one line: isegui's own message as it is, another error's with its kind
    (\"IndexError: ...\"), at most MAX_REASON characters."""
    if isinstance(why, MemoryError):
        text = "not enough memory"
    elif isinstance(why, IseguiError | str):
        text = str(why)
    else:
        text = f"{type(why).__name__}: {why}" if str(why) else type(why).__name__
    text = " ".join(text.split())
    return text if len(text) <= MAX_REASON else text[:MAX_REASON - 1] + "…"


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
    out = out or Path(folder) / "results.csv"
    if not out.parent.is_dir():
        raise InputFileError(out, "the folder for the results does not exist")
    predictor = OnnxPredictor.from_file(model, threshold)
    rules = load_rules(rules_file) if rules_file else (
        Rules.from_json(predictor.rules, f"{model} (its rules)") if predictor.rules else None)
    if rules is not None:  # the model reports down to the lowest score the rules look at
        predictor.threshold = min([threshold, rules.min_score, *[
            c.min_score for c in rules.classes.values() if c.min_score is not None]])
    mm_per_px = mm_per_px or predictor.mm_per_px
    if rules is not None:
        rules.check_calibration(mm_per_px)
    return Watcher(WatchSettings(Path(folder), out, mm_per_px=mm_per_px, **settings),
                   predictor, rules)
