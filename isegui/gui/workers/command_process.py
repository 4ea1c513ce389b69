"""A QProcess that runs an isegui command line (training, evaluation) for the window."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, QProcess

from isegui.runtime import isegui_command

CREATE_NO_WINDOW = 0x08000000  # Windows' process creation flag


def command_process(parent: QObject) -> tuple[QProcess, str, list[str]]:
    """(a new QProcess, the program, the arguments before the command's own). On Windows the
    frozen app's console twin would open a console window beside the app: it gets none."""
    process = QProcess(parent)
    if sys.platform == "win32" and hasattr(process, "setCreateProcessArgumentsModifier"):
        def no_console_window(arguments) -> None:  # pragma: no cover - Windows only
            arguments.flags |= CREATE_NO_WINDOW
        process.setCreateProcessArgumentsModifier(no_console_window)
    program, prefix = isegui_command()
    return process, program, prefix
