"""The per-user log folder and its rotating log files, for support: what ran, what failed, and
every uncaught exception. No Qt, no torch.

The app writes `app.log`; the command line, including the training process the app starts,
writes `cli.log`. Two files, so a long-lived window never renames a file another process is
writing (Windows refuses that). Neither ever holds a connection password: every line, and
every traceback, is written through `redact_passwords` (log files are sent to support)."""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
import threading
from pathlib import Path

from isegui.core.redact import redact_passwords

LOG_DIR_VARIABLE = "ISEGUI_LOG_DIR"  # overrides the folder (tests, a support session)
MAX_BYTES, BACKUPS = 2_000_000, 5
FILE_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"
CONSOLE_FORMAT = "%(levelname)s %(name)s: %(message)s"
FILE_ONLY = {"file_only": True}  # `extra` for what stderr already says in its own words

log = logging.getLogger(__name__)
_console: logging.Handler | None = None


class RedactingFormatter(logging.Formatter):
    """A formatter that writes no connection password: a team URL on the command line, in a
    message or in an exception's words."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_passwords(super().format(record))


def log_folder() -> Path:
    """Where the logs go: %LOCALAPPDATA%\\isegui\\logs on Windows, ~/Library/Logs/isegui on
    macOS, $XDG_STATE_HOME/isegui/logs (~/.local/state/isegui/logs) elsewhere."""
    override = os.environ.get(LOG_DIR_VARIABLE)
    if override:
        return Path(override)
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local"
        return Path(base) / "isegui" / "logs"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Logs" / "isegui"
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "isegui" / "logs"


def start_logging(kind: str, verbose: bool = False) -> Path | None:
    """Log to `<log folder>/<kind>.log` (rotating) and warnings to stderr; once per process,
    later calls only change how much stderr shows. Returns the file, or None when the folder
    cannot be written (the program still runs)."""
    global _console
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    if _console is None and not root.handlers:  # as logging.basicConfig: none of our own
        _console = logging.StreamHandler()
        _console.setFormatter(RedactingFormatter(CONSOLE_FORMAT))
        _console.addFilter(lambda record: not getattr(record, "file_only", False))
        root.addHandler(_console)
    if _console is not None:
        _console.setLevel(logging.INFO if verbose else logging.WARNING)
    path = log_folder() / f"{kind}.log"
    if not any(getattr(h, "baseFilename", None) == str(path.absolute()) for h in root.handlers):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handler = _LogFile(path, maxBytes=MAX_BYTES, backupCount=BACKUPS,
                               encoding="utf-8", delay=True)
        except OSError as exc:
            log.warning("cannot write the log file %s: %s", path, exc)
            return None
        handler.setFormatter(RedactingFormatter(FILE_FORMAT))
        root.addHandler(handler)
    log_uncaught_exceptions()
    return path


class _LogFile(logging.handlers.RotatingFileHandler):
    """The log file; one that cannot be written (a folder in its place, a full disk, no
    permission) is said once on stderr, in one line, and no more written to: never a
    "--- Logging error ---" traceback around a command's own output."""
    failed = False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.failed:
            super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:
        if self.failed:
            return
        self.failed = True
        error = sys.exc_info()[1]
        try:
            sys.stderr.write(f"warning: cannot write the log file {self.baseFilename}: "
                             f"{getattr(error, 'strerror', None) or error}; going on without "
                             "it\n")
        except (OSError, ValueError, AttributeError):  # no stderr (a windowed exe)
            pass


def log_uncaught_exceptions() -> None:
    """Uncaught exceptions (main thread, other threads, Qt slots) go to the log, then on to
    the hook that was there before (which prints them)."""
    if getattr(sys.excepthook, "_isegui", False):
        return
    previous, previous_thread = sys.excepthook, threading.excepthook

    def hook(kind, value, tb):
        if not issubclass(kind, KeyboardInterrupt):
            logging.getLogger("isegui").critical("uncaught exception", extra=FILE_ONLY,
                                                 exc_info=(kind, value, tb))
        previous(kind, value, tb)

    def thread_hook(args):
        if args.exc_type is not SystemExit:
            logging.getLogger("isegui").critical(
                "uncaught exception in thread %s", getattr(args.thread, "name", "?"),
                extra=FILE_ONLY, exc_info=(args.exc_type, args.exc_value, args.exc_traceback))
        previous_thread(args)

    # a mark on our own hooks, so a second start does not wrap them again
    hook._isegui = thread_hook._isegui = True  # type: ignore[attr-defined]
    sys.excepthook, threading.excepthook = hook, thread_hook
