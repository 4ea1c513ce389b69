"""`isegui` command line. No sub-command opens the GUI; each sub-command lives in a module of
this package and registers its parser in `COMMANDS`.

However a command fails, the person at the terminal reads one line that names the command and
the problem, never a traceback (that goes to cli.log); what reaches the screen or the log never
holds a connection password, and no name or value quoted in it can break that line or act on
the terminal (core.one_line)."""

from __future__ import annotations

import argparse
import errno
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import NoReturn

from isegui import __version__
from isegui.cli import (click_commands, data_commands, images_commands, line_commands,
                        ml_commands, project_commands, self_test_command, team_commands,
                        weights_commands)
from isegui.core.errors import ImportFailed, IseguiError
from isegui.core.one_line import MAX_CHARS, one_line
from isegui.core.project import PROJECT_FILE
from isegui.core.store import WRITE_FAILURES, write_failure_in_words
from isegui.core.redact import redact_passwords
from isegui.core.store.team import TEAM_SUFFIX
from isegui.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from isegui.runtime import ensure_streams
from isegui.logs import FILE_ONLY, start_logging

COMMAND_MODULES = (images_commands, project_commands, data_commands, ml_commands,
                   click_commands, line_commands, weights_commands, team_commands,
                   self_test_command)
log = logging.getLogger("isegui.cli")

# what an unexpected exception without words of its own means, for a person
_IN_WORDS = {MemoryError: "out of memory", RecursionError: "data nested too deep"}
_MESSAGE_LIMIT = 300  # characters of an exception's own words on the one line


class _OneLineParser(argparse.ArgumentParser):
    """argparse, its usage errors one line (its own prints the usage first: 2 to 6 lines)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error: {self.prog}: {_safe(message)} (see {self.prog} "
                              "--help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="isegui", description="Instance segmentation for the shop floor: label, train, "
        "review. With no command, opens the app.")
    parser.add_argument("--version", action="version", version=f"isegui {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
    parser.set_defaults(commands=set(sub.choices))
    return parser


def main(argv: list[str] | None = None) -> int:
    ensure_streams()  # the `isegui` script comes here without isegui.__main__
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    commands = parser.get_default("commands")
    if not argv or (argv[0] not in commands and not argv[0].startswith("-")):
        return _open_app(argv)  # `isegui [PROJECT_DIR]`
    args = parser.parse_args(argv)
    _stop_cleanly_on_terminate()
    log_file = start_logging("cli", args.verbose)
    log.info("isegui %s: %s", __version__, redact_passwords(" ".join(argv)))
    try:
        code = int(args.handler(args) or EXIT_OK)
    except (SystemExit, GeneratorExit):
        raise
    except BaseException as exc:
        # a library may turn the SIGTERM raised inside its own code into an error of its own
        return _ended_by(args, Terminated() if _SIGTERM_SEEN.is_set() else exc, log_file)
    log.info("isegui %s exited with %d", args.command, code)
    return code


def _ended_by(args: argparse.Namespace, exc: BaseException, log_file: Path | None) -> int:
    """The exit code for a command that `exc` ended, said in one line."""
    if isinstance(exc, BrokenPipeError):  # `isegui stats P | head`: the reader has had enough
        try:  # what is left to flush at exit goes nowhere, not into an error
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):  # a stream without a descriptor (a test's)
            pass
        return 128 + 13  # as a shell says SIGPIPE
    if isinstance(exc, (IseguiError, ValueError, OSError)):  # ImportFailed is an IseguiError
        return _failed(args.command, exc)
    if isinstance(exc, WRITE_FAILURES):  # the store itself failed: say which, and what it means
        return _failed(args.command, database_failure(getattr(args, "dir", None), exc))
    if isinstance(exc, KeyboardInterrupt):
        log.warning("isegui %s interrupted", args.command, extra=FILE_ONLY)
        print(f"{'stopped' if isinstance(exc, Terminated) else 'interrupted'}; nothing half "
              "written was kept", file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130
    # the last resort: one line here, the whole traceback in the log
    log.error("isegui %s failed", args.command, exc_info=exc, extra=FILE_ONLY)
    where = f"; the details are in {log_file}" if log_file is not None else ""
    on = f" on {_safe(str(args.dir), 200)}" if getattr(args, "dir", None) else ""
    print(redact_passwords(f"error: isegui {args.command}{on} stopped: {_unexpected(exc)}"
                           f"{where}"), file=sys.stderr)
    return EXIT_FAILED


_SIGTERM_SEEN = threading.Event()


class Terminated(KeyboardInterrupt):
    """SIGTERM (a service stopping, `kill`, the session ending): the same clean-ups as Ctrl+C,
    so that nothing half-written is left (a copy cut short, an export's scratch folder)."""


def _stop_cleanly_on_terminate() -> None:
    def terminated(signum, frame) -> None:
        _SIGTERM_SEEN.set()
        raise Terminated()
    _SIGTERM_SEEN.clear()  # a command before this one in the same process (tests) saw it
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, terminated)


def _failed(command: str, problem: str | BaseException) -> int:
    shown = _shown(problem)
    log.error("isegui %s failed: %s", command, shown, extra=FILE_ONLY)
    print(f"error: {shown}", file=sys.stderr)
    return EXIT_FAILED


def _shown(problem: str | BaseException) -> str:
    """A problem isegui put into words, as one line: passwords hidden, then control
    characters escaped and cut at MAX_CHARS (hidden first: a cut must not keep half of one).
    An import's list of problems keeps a line per problem, each made one line: a name
    holding a line break cannot add a line of its own."""
    if isinstance(problem, ImportFailed) and len(problem.problems) > 1:
        return str(ImportFailed([_safe(line) for line in problem.problems]))
    if isinstance(problem, OSError) and problem.strerror:
        return _safe(_os_error_in_words(problem))
    return _safe(str(problem))


def _os_error_in_words(exc: OSError) -> str:
    """"FILE: what went wrong": the file the user named (a rename's target, not the temporary
    file written first), and a full disk said as such."""
    where = exc.filename2 if exc.filename2 is not None else exc.filename
    what = "no space left on the disk" if exc.errno == errno.ENOSPC else \
        "a folder is in the way" if exc.errno == errno.EISDIR else str(exc.strerror).lower()
    return f"{os.fsdecode(where)}: {what}" if where is not None else what[:1].upper() + what[1:]


def _safe(text: str, limit: int = MAX_CHARS) -> str:
    return one_line(redact_passwords(text), limit)


def _unexpected(exc: BaseException) -> str:
    """An exception no part of isegui put into words, in one line: its kind and the first
    line of what it says."""
    words = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    words = _safe(words, _MESSAGE_LIMIT)
    words = words or next((w for kind, w in _IN_WORDS.items() if isinstance(exc, kind)), "")
    kind = _kind(exc)
    return f"an unexpected {kind}: {words}" if words else f"an unexpected {kind}"


def _kind(exc: BaseException) -> str:
    """The exception's name, with its library's for one not built in (cv2.error,
    onnxruntime.Fail, shapely.GEOSException)."""
    package = type(exc).__module__.split(".")[0].lstrip("_")
    return type(exc).__name__ if package == "builtins" else f"{package}.{type(exc).__name__}"


def database_failure(folder, exc: BaseException) -> str:
    if folder is None:
        where = ""
    elif Path(folder).suffix == TEAM_SUFFIX:
        where = f"{folder}: "
    else:
        where = f"{Path(folder) / PROJECT_FILE}: "
    return f"{where}{write_failure_in_words(exc)}; the failed step was not kept"


def _open_app(argv: list[str]) -> int:
    if len(argv) > 1:
        print("usage: isegui [PROJECT_DIR] (or isegui COMMAND ...; see isegui --help)",
              file=sys.stderr)
        return EXIT_USAGE
    start_logging("app")
    from isegui.gui.app import run_app
    return run_app(argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
