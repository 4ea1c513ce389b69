"""How training and prediction report progress and learn they should stop."""

from __future__ import annotations

import json
import sys
import threading
from typing import IO, Protocol


class Reporter(Protocol):
    def event(self, kind: str, **fields) -> None:
        """kind: start, step, epoch, checkpoint, note, done, error (see JsonLinesReporter)."""


class NullReporter:
    def event(self, kind: str, **fields) -> None:
        pass


class RecordingReporter:
    """Keeps every event; for tests and for callers that want the history."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict]] = []

    def event(self, kind: str, **fields) -> None:
        self.events.append((kind, fields))

    def of(self, kind: str) -> list[dict]:
        return [f for k, f in self.events if k == kind]


class JsonLinesReporter:
    """One JSON object per line: {"event": kind, ...fields}. The GUI reads these from the
    training process's stdout; the schema is the contract between the two."""

    def __init__(self, stream: IO[str] | None = None):
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()

    def event(self, kind: str, **fields) -> None:
        line = json.dumps({"event": kind, **fields}, default=_plain)
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()


def _plain(value):
    if hasattr(value, "item"):
        return value.item()
    return str(value)


class CancelToken:
    """Set from anywhere (a signal handler, a thread reading stdin, the GUI); training checks it
    every batch and stops at the next one, keeping a checkpoint."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""

    def cancel(self, reason: str = "cancelled") -> None:
        self.reason = reason
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def watch_stdin(self, stream: IO[str] | None = None) -> None:
        """Cancel when a line reading `cancel` arrives (or stdin closes): how the GUI stops a
        training process on every platform, the frozen .exe included."""
        stream = stream or sys.stdin

        def watch() -> None:
            for line in stream:
                if line.strip() == "cancel":
                    break
            else:
                return  # stdin closed without a cancel: the caller may just have no stdin
            self.cancel("cancel requested")

        threading.Thread(target=watch, name="cancel-watch", daemon=True).start()
