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

import errno
import json
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from stat import S_ISDIR
from typing import Any

import cv2
import numpy as np

from isegui.core.errors import ImageReadError, InputFileError, IseguiError
from isegui.core.fileio import atomic_write_bytes, copy_new, fitted_name
from isegui.core.images import is_image_file, load_image, verify_image
from isegui.core.line_rules import Rules
from isegui.core.measure import MAX_MM_PER_PX, MIN_MM_PER_PX, measure
from isegui.core.one_line import one_line
from isegui.logs import FILE_ONLY
from isegui.ml.infer.detection import Detection, ImagePredictor
from isegui.ml.infer.judged_files import JudgedFiles, Stamp, stamp_of
from isegui.ml.infer.results_file import ResultsFile
from isegui.ml.infer.verdict_drawing import draw_verdict, marks_of
from isegui.ml.infer.watched_files import (bytes_digest, changed_after, file_identity,
                                           file_label, identity_of, link_target, path_exists,
                                           real_path, stat_of, written_until)

log = logging.getLogger(__name__)

STOP_FILE = "STOP"  # created in the watched folder, it ends the watch cleanly
UNREADABLE = "unreadable"
NOT_INSPECTED = "not inspected"  # the image was read; predicting or judging it failed
MAX_REASON = 300  # characters of an error's own words kept in a reason
MAX_NAME_SHOWN = 200  # characters of a file's name on the screen's line for its row
MAX_WAIT_S = 3600.0  # the longest settle, give-up or poll time
MAX_SIZES_CHARS = 10_000  # of a row's sizes cell (a part with 1,000s of objects)


@dataclass
class WatchSettings:
    folder: Path
    out: Path  # .csv or .jsonl: one row per image; also what was done, for a restart
    overlays: Path | None = None  # NG images drawn with what was found
    move_to: Path | None = None  # inspected images go here (else they stay)
    settle_s: float = 0.5  # a file unchanged this long (by the watch's clock) is complete
    give_up_s: float = 10.0  # unreadable and unchanged this long after that: NG unreadable
    # still changing this long after it appeared (a program appending to it, a capture
    # streamed into it): NG unreadable, "still being written"; a slow copy takes far less
    writing_limit_s: float = 120.0
    poll_s: float = 0.2
    mm_per_px: float | None = None

    def __post_init__(self) -> None:
        """Refused before `ready`, in words: settings the watch could not work with (a settle
        time of NaN would never let a file settle; inspected images moved into the folder
        watched would be inspected for ever)."""
        for name in ("settle_s", "give_up_s", "writing_limit_s", "poll_s"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value)
                    and 0 <= value <= MAX_WAIT_S):
                raise ValueError(f"--{name.removesuffix('_s').replace('_', '-')} must be a "
                                 f"number of seconds from 0 to {MAX_WAIT_S:g}, not {value}")
        if self.mm_per_px is not None and not (math.isfinite(self.mm_per_px)
                                               and MIN_MM_PER_PX <= self.mm_per_px
                                               <= MAX_MM_PER_PX):
            raise ValueError(f"--mm-per-px must be from {MIN_MM_PER_PX:g} to "
                             f"{MAX_MM_PER_PX:g}, not {self.mm_per_px}")
        watched = real_path(self.folder)
        for name, folder in (("--move-to", self.move_to), ("--overlays", self.overlays)):
            if folder is not None and real_path(folder) == watched:
                raise ValueError(f"{name} {folder} is the folder watched: what is written "
                                 "there would be inspected as new parts; choose another")


@dataclass
class _Seen:
    """A file as the watch last saw it, and since when (its clock) it has looked so."""
    size: int
    mtime_ns: int
    since: float
    first: float  # when the watch first saw it
    digest: int | None = None  # of its bytes, once it failed to decode
    said_waiting: bool = False


@dataclass
class Watcher:
    settings: WatchSettings
    predictor: ImagePredictor
    rules: Rules | None = None
    say: Callable[[str], None] = print
    # each inspected image, for a view (the station): its row, pixels (None when unreadable),
    # what was found and what each found thing was to the rules (ml.infer.verdict_drawing)
    on_inspected: Callable[[dict[str, Any], np.ndarray | None, list[Detection], list[str]],
                           None] | None = None
    _pending: dict[Path, _Seen] = field(default_factory=dict)
    # each judged name: the file judged under it (a camera writing each part as part.png
    # replaces it by another file, a new part); None: judged by a run before this one
    _done: dict[str, tuple[int, ...] | None] = field(default_factory=dict)
    # the time (ns, the folder's clock) the results file had at the start: a file under a
    # name judged before that was written after it is a new part; None when not known
    _judged_until: int | None = None
    _stamps: dict[str, Stamp] = field(default_factory=dict)  # judged before: which file, if kept
    _named: set[Path] = field(default_factory=set)  # entries said once not to be watched
    _only: set[Path] | None = None  # a one-off run's files (what was there when it started)

    def __post_init__(self) -> None:
        classes = list(self.predictor.classes)
        if self.rules is not None:  # rules that cannot work for any image: refused now
            self.rules.check_classes(classes)
            self.rules.check_calibration(self.settings.mm_per_px)
        self.results = ResultsFile(self.settings.out, ["time", "file", "verdict", "reasons",
                                                       *[f"count_{c}" for c in classes],
                                                       "sizes", "ms"])
        self.judged = JudgedFiles(self.settings.out)
        written = stat_of(self.settings.out)  # before reading back mends a cut last row
        done_before = self.results.done_files()
        if self.results.damaged:
            self._say(f"{self.results.damaged} damaged lines in {self.settings.out} skipped")
        if self.settings.move_to is not None:
            # inspected images were moved out: one in the folder under a name in the results is
            # a new part under a reused name (or one whose move failed), so it is inspected
            self._done = {}
        elif done_before:
            self._done = dict.fromkeys(done_before)
            self._judged_until = written_until(written, self.settings.folder)
            self._stamps = self.judged.read(done_before)
            self._say(f"{len(self._done)} images inspected before: not again (a file written "
                      "under one of their names since is)")

    def run(self, stop: Callable[[], bool] = lambda: False, once: bool = False) -> int:
        """Until `stop()`, Ctrl+C or a STOP file in the folder; `once`: what is there now.
        Returns how many images were inspected."""
        count = 0
        self.results.hold()  # again, after a run that ended (the station restarts it)
        # a one-off run judges what is there now, not what a camera delivers meanwhile
        self._only = None
        self._only = set(self._new_files()) if once else None
        try:
            while not stop():
                if path_exists(self.settings.folder / STOP_FILE):
                    self._say(f"{STOP_FILE} found: stopping")
                    break
                try:
                    done = len(self.step(time.monotonic(), wait=once))
                except OSError as exc:  # the share went away for a moment: look again
                    _warn(f"{self.settings.folder}: {exc}; looking again")
                    time.sleep(self.settings.poll_s)
                    continue
                count += done
                self.results.flush()
                if once and not self._pending:
                    break
                if once:
                    self._say_waiting(time.monotonic())
                if not done:  # a pass that found work looks again at once
                    time.sleep(self._next_look(time.monotonic()))
        except KeyboardInterrupt:
            self._say("interrupted: stopping")
        if not self.results.flush():
            self._say(f"{len(self.results.waiting)} rows could not be written to "
                      f"{self.settings.out} (in use? disk full?)")
        self.results.lock.release()
        return count

    def _say_waiting(self, now: float) -> None:
        """A one-off run waits for files still being written: each is named once."""
        for path, seen in self._pending.items():
            if not seen.said_waiting and now - seen.first >= self.settings.give_up_s:
                seen.said_waiting = True
                self._say(f"waiting for {file_label(path)}: still being written (judged "
                          f"unreadable if it still is {self.settings.writing_limit_s:g} s "
                          "after it appeared)")

    def _next_look(self, now: float) -> float:
        """Seconds until the next look: the poll interval, or less when a file settles
        sooner (what a part waits beyond the settle time is this, not a whole poll)."""
        due = [seen.since + self.settings.settle_s - now for seen in self._pending.values()
               if seen.digest is None]
        return max(0.005, min([self.settings.poll_s, *due]))

    def step(self, now: float, wait: bool = False) -> list[dict[str, Any]]:
        """Inspect the images that are complete at `now` (the watch's clock): unchanged for
        settle_s. `wait` (a one-off run, --once): a settled file that does not decode is
        judged at once instead of being looked at again until give_up_s (a file still
        growing is still waited for: its size changes)."""
        rows = []
        paths = self._new_files()
        present = set(paths)
        self._pending = {p: seen for p, seen in self._pending.items() if p in present}
        for path in paths:
            seen = self._look(path, now)
            if seen is None:
                continue  # moved or deleted meanwhile
            limit = self.settings.writing_limit_s
            if now - seen.first >= limit and now - seen.since < self.settings.settle_s:
                rows.append(self._finish(path, self._failed(
                    path, UNREADABLE, f"still being written {limit:g} s after it appeared"),
                    None, []))
            elif now - seen.since >= self.settings.settle_s:
                row = self._judge(path, now, wait)
                if row is not None:
                    rows.append(row)
        return rows

    def _new_files(self) -> list[Path]:
        try:
            paths = sorted(self.settings.folder.iterdir())
        except OSError as exc:  # a share gone for a moment: look again at the next pass
            _warn(f"{self.settings.folder} cannot be listed ({exc})")
            return []
        return [p for p in paths if (self._only is None or p in self._only)
                and self._to_judge(p)]

    def _to_judge(self, path: Path) -> bool:
        """Whether `path` is a part to judge: a file named like an image (or a link to
        nothing so named, judged unreadable) not judged yet, or another file under a name
        judged. A folder is said once not to be watched."""
        stat = stat_of(path)  # one look at each entry: a share answers slowly
        if stat is None:
            return False  # gone since the listing
        if S_ISDIR(stat.st_mode):
            if path not in self._named and not self._is_ours(path):
                self._named.add(path)
                _warn(f"{file_label(path)}: a folder, its images are not watched (only the "
                      f"images in {self.settings.folder} itself are)")
            return False
        if not is_image_file(path):
            return False
        identity = identity_of(stat)
        label = file_label(path)
        if label not in self._done:
            return True
        judged = self._done[label]
        if judged is None:  # judged by an earlier run: the file kept, or one not written since
            stamp = self._stamps.get(label)
            if stamp is not None:
                another = stamp_of(identity) != stamp
            else:  # results from before stamps were kept: by the time they were last written
                another = self._judged_until is not None and changed_after(identity,
                                                                            self._judged_until)
            if another:
                return True
            self._done[label] = judged = identity
        return judged != identity

    def _is_ours(self, folder: Path) -> bool:
        """The folder the watch moves parts to or draws NG images in, inside the one watched."""
        return any(mine is not None and real_path(mine) == real_path(folder)
                   for mine in (self.settings.move_to, self.settings.overlays))

    def _look(self, path: Path, now: float) -> _Seen | None:
        """The file's size and time stamp, and since when (the watch's clock) they have been
        what they are now; None when it is gone."""
        stat = stat_of(path)
        if stat is None:
            return None
        seen = self._pending.get(path)
        if seen is None:
            seen = self._pending[path] = _Seen(stat.st_size, stat.st_mtime_ns, now, now)
        elif (seen.size, seen.mtime_ns) != (stat.st_size, stat.st_mtime_ns):
            seen.size, seen.mtime_ns, seen.since = stat.st_size, stat.st_mtime_ns, now
        return seen

    def _still_arriving(self, path: Path, now: float) -> bool:
        """For a settled file that does not decode: whether to look again. Its bytes are
        compared with the last look's, as a copy may fill a file whose size and time stamp
        were set first; it is given up on once they have not changed for give_up_s."""
        seen = self._pending[path]
        digest = bytes_digest(path)
        if digest != seen.digest:
            seen.digest, seen.since = digest, now
        return now - seen.since < self.settings.give_up_s

    def _judge(self, path: Path, now: float, wait: bool) -> dict[str, Any] | None:
        """The row of one settled image, or None when it is to be looked at again. Any
        failure on it is its own NG row: the line goes on."""
        identity = file_identity(path)  # what is judged: a camera may reuse the name meanwhile
        try:
            pixels = _read(path)
        except ImageReadError as exc:
            if not wait and self._still_arriving(path, now):
                return None  # maybe still being written in place: look again
            return self._finish(path, self._failed(path, UNREADABLE, exc.problem), None, [],
                                identity=identity)
        except Exception as exc:  # the decoder itself failed: MemoryError, cv2.error, ...
            return self._finish(path, self._failed(path, UNREADABLE, exc), None, [],
                                identity=identity)
        try:
            row, found, marks = self.inspect(path, pixels)
        except Exception as exc:  # the model or the judging failed on this image alone
            return self._finish(path, self._failed(path, NOT_INSPECTED, exc), pixels, [],
                                identity=identity)
        return self._finish(path, row, pixels, found, marks, identity)

    def _finish(self, path: Path, row: dict[str, Any], pixels: np.ndarray | None,
                found: list[Detection], marks: list[str] | None = None,
                identity: tuple[int, ...] | None = None) -> dict[str, Any]:
        # another part written under the name while this one was judged: a new part, judged
        # next, and never moved away under this one's verdict
        now_there = file_identity(path)
        replaced = identity is not None and now_there is not None and now_there != identity
        self._pending.pop(path, None)
        if replaced:
            self._look(path, time.monotonic())  # waited for as any new file is
        else:
            # what was judged: another file under the name later is another part
            judged = self._done[row["file"]] = identity or now_there
            if judged is not None:
                self.judged.add(row["file"], stamp_of(judged))
            if self._only is not None:
                self._only.discard(path)  # a one-off run judges each file once
        self.results.add(row)
        self._say(_row_line(row))
        if self.on_inspected is not None:
            try:
                self.on_inspected(row, pixels, found, marks or [])
            except Exception as exc:  # a view that cannot show one image must not stop the line
                log.warning("%s: the view failed to show it", row["file"], exc_info=True,
                            extra=FILE_ONLY)
                _warn(f"{row['file']}: the view failed to show it ({_in_words(exc)})")
        if replaced:
            self._say(f"{row['file']}: another file came under its name while it was judged; "
                      "that one is judged next")
        elif self.settings.move_to is not None and self._moved(path, self.settings.move_to):
            # gone from the folder: a new file under the same name is a new part
            self._done.pop(row["file"], None)
        return row

    @staticmethod
    def _moved(path: Path, folder: Path) -> bool:
        """Move an inspected image to `folder`, under a name of its own there ("part-2.png"
        beside an earlier "part.png": a camera reusing a name must not overwrite the
        image of an earlier part); False when it stays where it is."""
        try:
            folder.mkdir(parents=True, exist_ok=True)
            target = _free_name(folder, path.name)
            try:
                os.replace(path, target)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                # another drive (C:\\camera to D:\\ng): copied whole under a hidden name, put
                # in place, then removed here (a kill mid-copy leaves no part under its name)
                # fitted: a part's name may already have all the bytes a name may have
                partial = target.with_name(fitted_name(f".{target.name}",
                                                       f".{os.getpid()}.partial"))
                try:
                    copy_new(path, partial)
                except OSError as exc:  # a read-only or full disk: name the place meant
                    if str(exc.filename) == str(partial):
                        raise OSError(exc.errno, exc.strerror, str(target)) from exc
                    raise
                try:
                    os.rename(partial, target)  # one folder: a rename, never a copy
                except OSError:
                    partial.unlink(missing_ok=True)
                    raise
                try:
                    path.unlink()
                except OSError:
                    target.unlink(missing_ok=True)  # not moved: no second copy at a restart
                    raise
        except (OSError, InputFileError) as exc:
            _warn(f"{file_label(path)} not moved: {exc}")
            return False
        return True

    def _failed(self, path: Path, what: str, why: Exception | str) -> dict[str, Any]:
        """The NG row of an image that could not be judged, the reason in words; the
        traceback, if any, goes to the log file only."""
        if isinstance(why, Exception):
            log.warning("%s: %s", file_label(path), what, exc_info=why, extra=FILE_ONLY)
        return {"time": _now(), "file": file_label(path), "verdict": "NG",
                "reasons": f"{what}: {_in_words(why)}", "sizes": "{}", "ms": 0}

    def _say(self, text: str) -> None:
        """Say it, on one line whatever a file or class name in it holds (a line break
        would print a line of its own, an ESC act on the terminal); on a console that cannot
        show a character (Windows, output redirected to a file in a code page), with that
        character escaped."""
        text = one_line(text)
        try:
            self.say(text)
        except UnicodeError:
            self.say(text.encode("ascii", "backslashreplace").decode("ascii"))

    def inspect(self, path: Path, pixels: np.ndarray
                ) -> tuple[dict[str, Any], list[Detection], list[str]]:
        start = time.perf_counter()
        (found,) = self.predictor.predict([pixels])  # down to the predictor's threshold
        found = _finite(found)
        measured = [(d.class_name, d.score, measure(d.shape())) for d in found]
        row: dict[str, Any] = {"time": _now(), "file": file_label(path)}
        counts = {c: 0 for c in self.predictor.classes}
        verdict = None
        if self.rules is not None:
            verdict = self.rules.evaluate(measured, self.settings.mm_per_px)
            row.update(verdict=verdict.label, reasons="; ".join(verdict.reasons),
                       sizes=json.dumps(verdict.sizes, allow_nan=False))
            counts.update(verdict.counts)
        else:
            for name, _, _ in measured:
                counts[name] = counts.get(name, 0) + 1
            row.update(verdict="", reasons="", sizes=_sizes_cell(
                {c: [round(m.area, 1) for n, _, m in measured if n == c] for c in counts}))
        row.update({f"count_{c}": n for c, n in counts.items()})
        row["ms"] = round((time.perf_counter() - start) * 1000, 1)
        marks = marks_of(verdict, found)
        if row["verdict"] == "NG" and self.settings.overlays is not None:
            self._write_overlay(self.settings.overlays, path, pixels, found, marks)
        return row, found, marks

    def _write_overlay(self, folder: Path, path: Path, pixels: np.ndarray,
                       found: list[Detection], marks: list[str]) -> None:
        """The NG image drawn; one that cannot be written is a warning, the verdict stands."""
        try:
            ok, png = cv2.imencode(".png", draw_verdict(pixels, found, "NG", marks))
            if ok:
                folder.mkdir(parents=True, exist_ok=True)  # another part's overlay stays
                atomic_write_bytes(_free_name(folder, fitted_name(path.stem, "_NG.png")),
                                   png.tobytes())
        except (OSError, cv2.error) as exc:
            _warn(f"{file_label(path)}: no overlay written ({exc})")


def _sizes_cell(sizes: dict[str, list[float]]) -> str:
    """The sizes as JSON, within MAX_SIZES_CHARS: each class's list cut (its count stays in
    its own column) until it fits."""
    text = json.dumps(sizes, allow_nan=False)
    keep = max(map(len, sizes.values()), default=0)
    while len(text) > MAX_SIZES_CHARS and keep > 0:
        keep //= 2
        text = json.dumps({c: v[:keep] for c, v in sizes.items()}, allow_nan=False)
    return text


def _warn(text: str) -> None:
    """A warning on one line: the names and error words in it may hold anything."""
    log.warning("%s", one_line(text))


def _row_line(row: dict[str, Any]) -> str:
    """A row as the screen shows it: verdict, file, reasons; the name and the reasons each
    made one line and cut on their own, so a long name leaves the reasons readable."""
    line = f"{row['verdict'] or '-':>3} {one_line(row['file'], MAX_NAME_SHOWN)}"
    return line + (f": {one_line(row['reasons'])}" if row["reasons"] else "")


def _free_name(folder: Path, name: str) -> Path:
    """`folder / name`, or "NAME-2.EXT", "-3" ... where that is taken."""
    target, k = folder / name, 1
    while target.exists() or target.is_symlink():
        k += 1
        target = folder / fitted_name(Path(name).stem, f"-{k}{Path(name).suffix}")
    return target


def _read(path: Path) -> np.ndarray:
    if path.is_symlink() and not path_exists(path):
        raise ImageReadError(path, f"a link to a missing file ({link_target(path)})")
    if path.suffix.lower() in (".jpg", ".jpeg"):
        verify_image(path)  # every byte decoded: a JPEG cut short is refused
    return load_image(path)


def _finite(found: list[Detection]) -> list[Detection]:
    """What a predictor found, less detections with a score or box that is not a number: a
    NaN is never judged, counted or written."""
    usable = [d for d in found if math.isfinite(d.score) and all(map(math.isfinite, d.box))]
    if len(usable) < len(found):
        log.warning("%d detections with a score or box that is not a number left out",
                    len(found) - len(usable))
    return usable


def _in_words(why: Exception | str) -> str:
    """An error as one line: isegui's own message as it is, another error's with its kind
    (\"IndexError: ...\"), at most MAX_REASON characters; its line breaks as spaces, any
    other control character (ESC, NUL) escaped."""
    if isinstance(why, MemoryError):
        text = "not enough memory"
    elif isinstance(why, IseguiError | str):
        text = str(why)
    else:
        text = f"{type(why).__name__}: {why}" if str(why) else type(why).__name__
    return one_line(" ".join(text.split()), MAX_REASON)


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
    if not (math.isfinite(threshold) and 0 <= threshold <= 1):
        raise ValueError(f"--threshold must be a score from 0 to 1, not {threshold}")
    for option in ("overlays", "move_to"):  # a file there would fail every image
        given = settings.get(option)
        if given is not None and Path(given).exists() and not Path(given).is_dir():
            raise InputFileError(Path(given), f"--{option.replace('_', '-')} names a file, "
                                              "not a folder")
    predictor = OnnxPredictor.from_file(model, threshold)
    rules = load_rules(rules_file) if rules_file else (
        Rules.from_json(predictor.rules, f"{model} (its rules)") if predictor.rules else None)
    if rules is not None:  # the model reports down to the lowest score the rules look at
        predictor.threshold = min([threshold, rules.min_score, *[
            c.min_score for c in rules.classes.values() if c.min_score is not None]])
    mm_per_px = predictor.mm_per_px if mm_per_px is None else mm_per_px  # 0 is refused
    if rules is not None:
        rules.check_calibration(mm_per_px)
    return Watcher(WatchSettings(Path(folder), out, mm_per_px=mm_per_px, **settings),
                   predictor, rules)
