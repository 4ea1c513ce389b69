"""The line PC's programs, the isegui-line folder (onnxruntime, no torch, no torchvision):
`isegui-watch` is `isegui watch`, `isegui-station` is `isegui station`, each with the
arguments given; `isegui-watch self-test` checks the folder (isegui self-test --line)."""

from __future__ import annotations

import multiprocessing
import sys
from pathlib import PurePath, PureWindowsPath

PROGRAMS = {"isegui-watch": "watch", "isegui-station": "station"}


def line_command(program: str, argv: list[str]) -> list[str]:
    """The isegui command line a line program stands for, from its own name."""
    path = PureWindowsPath(program) if "\\" in program else PurePath(program)
    command = PROGRAMS.get(path.stem.lower(), "watch")
    if argv[:1] == ["self-test"]:
        return ["self-test", "--line", *argv[1:]]
    if argv[:1] in (["-h"], ["--help"], ["--version"]):
        return [command, *argv] if argv[0] != "--version" else argv
    return [command, *argv]


def main() -> int:
    from isegui.runtime import VC_RUNTIME, ensure_streams, refuse_without_vc_runtime
    ensure_streams()
    refuse_without_vc_runtime(VC_RUNTIME)  # onnxruntime's; the line folder has no torch
    from isegui.cli import main as cli_main
    return cli_main(line_command(sys.argv[0], sys.argv[1:]))


if __name__ == "__main__":
    multiprocessing.freeze_support()
    sys.exit(main())
