"""How training reports progress and learns it should stop: the events of the training
protocol, defined once here (no torch, no Qt), and the exit codes it ends with
(isegui.exit_codes). The training process writes each event as one JSON line
({"event": kind, ...fields}); the window parses them with `parse_line`.
"""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import asdict, dataclass, field, fields
from typing import IO, Any, Protocol

# how the training process ends: the codes every command ends with
from isegui.exit_codes import EXIT_CANCELLED as EXIT_CANCELLED
from isegui.exit_codes import EXIT_FAILED as EXIT_FAILED
from isegui.exit_codes import EXIT_OK as EXIT_OK
from isegui.exit_codes import EXIT_USAGE as EXIT_USAGE


@dataclass(frozen=True)
class Note:
    """Something worth saying; `phase`: what the run is doing now (starting, validating)."""
    message: str
    phase: bool = False


@dataclass(frozen=True)
class Start:
    run_id: int
    model: str
    size: int
    device: str
    train_images: int
    validation: str
    init: dict[str, Any]
    working_scale: dict[str, Any] | None = None
    processes: int = 1
    classes: list[str] = field(default_factory=list)
    val_images: int = 0
    steps_per_epoch: int = 0
    epochs: int | None = None
    minutes: float | None = None
    resumed_at_epoch: int | None = None
    resumed_at_step: int | None = None
    notes: list[str] = field(default_factory=list)
    advice: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Step:
    epoch: int
    batch: int
    batches: int
    step: int
    progress: float  # 0-1 of the run's budget
    eta_s: float
    elapsed_s: float
    losses: dict[str, float] | None  # None: the step was skipped (a non-finite loss)
    lr: float | None
    images_per_s: float


@dataclass(frozen=True)
class Epoch:
    """An epoch's end; `metrics` (losses, validation mAPs, ...) go on the line as fields."""
    epoch: int
    step: int
    metrics: dict[str, Any] = field(default_factory=dict)
    improved: bool = False
    cancelled: bool = False  # a cancel cut it short: it is done again on resume


@dataclass(frozen=True)
class Checkpoint:
    last: str
    best: str | None = None


@dataclass(frozen=True)
class Done:
    run_id: int
    status: str  # a RunStatus value
    epochs: int
    steps: int
    best: dict[str, Any]
    checkpoint: str | None
    seconds: float
    active: bool | None = None  # whether the run became the project's active model
    active_run_id: int | None = None
    active_reason: str | None = None


@dataclass(frozen=True)
class Error:
    message: str
    remedy: str | None = None


Event = Note | Start | Step | Epoch | Checkpoint | Done | Error
EVENTS: dict[str, type[Event]] = {"note": Note, "start": Start, "step": Step, "epoch": Epoch,
                           "checkpoint": Checkpoint, "done": Done, "error": Error}
KINDS = {cls: kind for kind, cls in EVENTS.items()}


class ProtocolError(ValueError):
    """An event that does not follow the protocol (a producer's bug)."""


def make_event(kind: str, values: dict[str, Any]) -> Event:
    """The event of `kind` from its fields; ProtocolError names what does not fit."""
    cls = EVENTS.get(kind)
    if cls is None:
        raise ProtocolError(f"unknown event {kind!r}")
    names = {f.name for f in fields(cls)}
    if cls is Epoch:  # the metrics travel flat, beside the named fields
        values = {**{k: v for k, v in values.items() if k in names},
                  "metrics": {k: v for k, v in values.items() if k not in names}}
    try:
        return cls(**values)
    except TypeError as exc:
        raise ProtocolError(f"{kind} event: {exc}") from None


def event_fields(event: Event) -> dict[str, Any]:
    """The event's fields as its line carries them (an epoch's metrics flat)."""
    values = asdict(event)
    if isinstance(event, Epoch):
        values.update(values.pop("metrics"))
    return values


def to_line(event: Event) -> str:
    return json.dumps({"event": KINDS[type(event)], **event_fields(event)}, default=_plain)


def parse_line(line: str | bytes) -> Event | None:
    """The event on a line of the training process's output; None for anything else (a
    library printing, a line cut short). Fields a newer isegui added are left aside."""
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    cls = EVENTS.get(data.pop("event", None))
    if cls is None:
        return None
    if cls is not Epoch:
        names = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k in names}
    try:
        return make_event(KINDS[cls], data)
    except ProtocolError:
        return None


class Reporter(Protocol):
    def event(self, kind: str, **fields: Any) -> None:
        """kind: start, step, epoch, checkpoint, note, done, error (the dataclasses above)."""


class NullReporter:
    def event(self, kind: str, **fields: Any) -> None:
        pass


class RecordingReporter:
    """Keeps every event; for tests and for callers that want the history."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def event(self, kind: str, **fields: Any) -> None:
        make_event(kind, fields)  # as the line would be checked: tests see protocol slips
        self.events.append((kind, fields))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [f for k, f in self.events if k == kind]


class JsonLinesReporter:
    """One JSON object per line: {"event": kind, ...fields}. The GUI reads these from the
    training process's stdout; the schema is the contract between the two."""

    def __init__(self, stream: IO[str] | None = None):
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()

    def event(self, kind: str, **fields: Any) -> None:
        line = to_line(make_event(kind, fields))
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()


def _plain(value: object) -> object:
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
