"""The assisted tools' model work, off the window's thread: reading the active run's model
(torch and a checkpoint: seconds on a first use) and its detections on the open image (a large
frame on tiles: seconds). One job at a time on one thread; the window hears when each ends."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)


@dataclass
class Job:
    key: tuple  # what it makes: ("model", checkpoint) or ("detections", image, checkpoint)
    work: Callable[[], Any]
    result: Any = None
    error: str | None = None  # why it failed, in words
    done: threading.Event = field(default_factory=threading.Event)


class ModelWork(QObject):
    """Runs jobs in a daemon thread of its own (a window closed mid-read does not wait for
    it); `finished` is delivered on the window's thread."""
    finished = Signal(object)  # the Job, done or failed

    def __init__(self) -> None:
        super().__init__()
        self._jobs: queue.Queue[Job | None] = queue.Queue()  # None: the end
        self._thread: threading.Thread | None = None
        self.under_way: dict[tuple, Job] = {}  # submitted and not yet finished, by key

    def submit(self, key: tuple, work: Callable[[], Any]) -> Job:
        """The job making `key`: the one already under way, else a new one queued."""
        if key in self.under_way:
            return self.under_way[key]
        job = Job(key, work)
        self.under_way[key] = job
        self._jobs.put(job)
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="model-work", daemon=True)
            self._thread.start()
        return job

    def close(self) -> None:
        """No more jobs: those queued are dropped, the one under way finishes and the thread
        ends (waited for: a process that exits while a thread is inside torch aborts)."""
        try:
            while True:
                self._jobs.get_nowait()
        except queue.Empty:
            pass
        self._jobs.put(None)
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                job.result = job.work()
            except Exception as exc:  # noqa: BLE001 - said in the window; the thread goes on
                job.error = str(exc) or type(exc).__name__
                log.warning("model work %s failed: %s", job.key[0], job.error, exc_info=True)
            job.done.set()
            self.finished.emit(job)

    def forget(self, job: Job) -> None:
        """The window has taken the job's result (called on its thread)."""
        if self.under_way.get(job.key) is job:
            del self.under_way[job.key]
