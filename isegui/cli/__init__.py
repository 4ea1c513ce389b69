"""`isegui` command line. No sub-command opens the GUI; each sub-command lives in a module of
this package and registers its parser in `COMMANDS`."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from isegui import __version__
from isegui.cli import (data_commands, images_commands, line_commands, ml_commands,
                        project_commands, self_test_command, team_commands, weights_commands)
from isegui.core.errors import IseguiError
from isegui.core.project import PROJECT_FILE
from isegui.core.store import WRITE_FAILURES, write_failure_in_words
from isegui.core.store.team import TEAM_SUFFIX
from isegui.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from isegui.logs import FILE_ONLY, start_logging

COMMAND_MODULES = (images_commands, project_commands, data_commands, ml_commands,
                   line_commands, weights_commands, team_commands, self_test_command)
log = logging.getLogger("isegui.cli")



def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    commands = parser.get_default("commands")
    if not argv or (argv[0] not in commands and not argv[0].startswith("-")):
        return _open_app(argv)  # `isegui [PROJECT_DIR]`
    args = parser.parse_args(argv)
    start_logging("cli", args.verbose)
    log.info("isegui %s: %s", __version__, " ".join(argv))
    try:
        code = int(args.handler(args) or EXIT_OK)
    except (IseguiError, ValueError, OSError) as exc:  # ImportFailed is an IseguiError
        log.error("isegui %s failed: %s", args.command, exc, extra=FILE_ONLY)
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except WRITE_FAILURES as exc:  # the store itself failed: say which, and what it means
        message = database_failure(getattr(args, "dir", None), exc)
        log.error("isegui %s failed: %s", args.command, message, extra=FILE_ONLY)
        print(f"error: {message}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        log.warning("isegui %s interrupted", args.command, extra=FILE_ONLY)
        print("interrupted; nothing half written was kept", file=sys.stderr)
        return 130
    log.info("isegui %s exited with %d", args.command, code)
    return code


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
