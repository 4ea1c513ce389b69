"""`isegui train` in a process of its own, as the GUI runs it: the same code path as the
command line (the frozen .exe runs itself), so a crash or an out-of-memory error never takes
the window down, and cancel always works."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QTimer, Signal

from isegui.ml.run_protocol import EXIT_CANCELLED, EXIT_OK, Done, Error, Start, parse_line
from isegui.gui.workers.command_process import command_process

CANCEL_GRACE_MS = 20_000  # time to finish the batch and write the checkpoint
KILL_AFTER_MS = 5_000


class TrainProcess(QObject):
    # the run's events (ml.run_protocol: Start, Step, Epoch, Done, ...); the name hides
    # QObject.event(), which Qt's stubs type as a method
    event = Signal(object)  # type: ignore[assignment]
    finished = Signal(int, str)  # exit code, and what went wrong ("" when nothing did)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.process: QProcess | None = None
        self._buffer = b""
        self._stderr = b""
        self._error = ""
        self._cancelling = False
        self.started = False  # the run began (its start event came)
        self.saw_done = False  # the run ended and said how (its done event came)

    @property
    def running(self) -> bool:
        return self.process is not None and \
            self.process.state() != QProcess.ProcessState.NotRunning

    @property
    def cancelling(self) -> bool:
        return self.running and self._cancelling

    def start(self, project: Path, arguments: list[str]) -> None:
        if self.running:
            raise RuntimeError("a training process is already running")
        self.process, program, prefix = command_process(self)
        self.process.setProgram(program)
        self.process.setArguments(prefix + ["train", str(project), "--progress", "jsonl"]
                                  + arguments)
        self._buffer, self._stderr, self._error, self._cancelling = b"", b"", "", False
        self.started = self.saw_done = False
        self.process.readyReadStandardOutput.connect(self._read)
        self.process.readyReadStandardError.connect(self._read_errors)
        self.process.finished.connect(self._finished)
        self.process.errorOccurred.connect(self._failed_to_start)
        self.process.start()

    def cancel(self) -> None:
        """Ask for a stop at the next batch (the run keeps its checkpoint); terminate, then
        kill, if it does not stop in time. Before the run began (imports, reading the
        project) there is nothing to keep, and the process is ended at once."""
        if not self.running or self._cancelling:
            return
        self._cancelling = True
        process = self.process
        assert process is not None  # self.running
        if not self.started:
            process.kill()
            return
        process.write(b"cancel\n")
        process.closeWriteChannel()
        QTimer.singleShot(CANCEL_GRACE_MS, lambda: self._terminate(process))

    def _terminate(self, process: QProcess) -> None:
        """Only the process that was cancelled: a new run may have started since."""
        if process is self.process and self.running:
            process.terminate()

            def kill() -> None:
                if process is self.process and self.running:
                    process.kill()
            QTimer.singleShot(KILL_AFTER_MS, kill)

    def _read(self) -> None:
        assert self.process is not None  # connected to it, and called when it finished
        self._buffer += bytes(self.process.readAllStandardOutput().data())
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            event = parse_line(line)
            if event is None:
                continue  # not an event (a library printing something)
            if isinstance(event, Error):
                self._error = event.message
            self.started = self.started or isinstance(event, Start)
            self.saw_done = self.saw_done or isinstance(event, Done)
            self.event.emit(event)

    def _read_errors(self) -> None:
        assert self.process is not None  # connected to it
        self._stderr = (self._stderr
                        + bytes(self.process.readAllStandardError().data()))[-20_000:]

    def _finished(self, code: int, status) -> None:
        self._read()
        self.finished.emit(code, self._diagnosis(code, status))

    def _failed_to_start(self, error) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            assert self.process is not None  # connected to it
            self.finished.emit(-1, f"The training process could not start "
                                   f"({self.process.errorString()}).")

    def _diagnosis(self, code: int, status) -> str:
        if code in (EXIT_OK, EXIT_CANCELLED):  # cancelled: its checkpoint kept
            return ""
        if self._cancelling and not self.started:
            return ""  # ended on purpose before the run began
        if self._error:
            return self._error
        tail = self._stderr.decode("utf-8", "replace").strip().splitlines()[-6:]
        text = "\n".join(tail)
        crashed = status == QProcess.ExitStatus.CrashExit or code in (-9, 137, 9)
        if crashed or "out of memory" in text.lower() or "MemoryError" in text:
            return ("The training process stopped abruptly, most likely out of memory. Try a "
                    "smaller batch size or input size (or the fast model)."
                    + (f"\n\n{text}" if text else ""))
        return f"Training failed (exit code {code}).\n\n{text}"
