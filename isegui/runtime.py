"""How isegui runs: from source or as the packaged (PyInstaller) program. No Qt, no torch."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path


def is_frozen() -> bool:
    return bool(getattr(sys, "frozen", False))


CONSOLE_TWIN = "isegui-cli"  # the app folder's console program, beside the window's


def isegui_command() -> tuple[str, list[str]]:
    """How to run the `isegui` command line from here (the training process, the self-test's):
    in the frozen app its console twin, whose output a pipe receives (a windowed program's
    standard streams are none), else the program itself."""
    if is_frozen():
        program = Path(sys.executable)
        twin = program.with_name(CONSOLE_TWIN + program.suffix)
        return (str(twin) if twin.is_file() else sys.executable), []
    return sys.executable, ["-m", "isegui"]


def ensure_streams() -> None:
    """Standard streams every command can use. A windowed program (the .exe without a
    console) starts with sys.stdin, sys.stdout and sys.stderr set to None, and the first use
    would raise: they are the null device instead (what matters is logged to the log file as
    well). Output written to a pipe or a file is UTF-8, whatever the PC's code page (Windows
    writes cp1252, cp1250 or cp932 there: a class name garbled in the window that reads it,
    and a `px²` that cp932 lacks would end a redirected `isegui watch`); a character the
    stream still cannot take is written as an escape, never an error."""
    if sys.stdin is None:
        sys.stdin = open(os.devnull, encoding="utf-8")
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))
        elif hasattr(stream, "reconfigure"):
            utf8 = (stream.encoding or "").lower().replace("-", "") == "utf8"
            stream.reconfigure(**({} if utf8 else {"encoding": "utf-8"}),
                               errors="backslashreplace")


# The Microsoft C++ runtime DLLs the wheels' libraries import and no wheel carries (read from
# their import tables: docs/windows audit): torch_cpu.dll, torch_python.dll, onnxruntime's
# and torchvision's. Windows loads them from System32, where the VC++ 2015-2022
# Redistributable puts them; a PC without it would fail with a bare "WinError 126".
VC_RUNTIME = ("VCRUNTIME140.dll", "VCRUNTIME140_1.dll", "MSVCP140.dll", "MSVCP140_1.dll")
VC_RUNTIME_TORCH = ("VCRUNTIME140_THREADS.dll", "MSVCP140_ATOMIC_WAIT.dll")
VC_REDIST_URL = "https://aka.ms/vs/17/release/vc_redist.x64.exe"


def missing_vc_runtime(names: tuple[str, ...],
                       load: Callable[[str], object] | None = None) -> list[str]:
    """The DLLs of `names` Windows cannot load here (none elsewhere). `load`: how a DLL is
    loaded (ctypes.WinDLL; a test passes its own)."""
    if load is None:
        if sys.platform != "win32":
            return []
        import ctypes
        load = ctypes.WinDLL
    missing = []
    for name in names:
        try:
            load(name)
        except OSError:
            missing.append(name)
    return missing


def vc_runtime_problem(names: tuple[str, ...],
                       load: Callable[[str], object] | None = None) -> str | None:
    """One line saying what to install, when the C++ runtime is missing; else None."""
    missing = missing_vc_runtime(names, load)
    if not missing:
        return None
    return (f"isegui needs the Microsoft Visual C++ 2015-2022 Redistributable (x64), which "
            f"this PC lacks ({', '.join(missing)} not found): install vc_redist.x64.exe "
            f"({VC_REDIST_URL}; the IT department may have it), then start isegui again")


def refuse_without_vc_runtime(names: tuple[str, ...]) -> None:
    """Exit with one line (and, for a windowed program, a message box) when the runtime the
    program's libraries need is missing, before any of them is loaded."""
    problem = vc_runtime_problem(names)
    if problem is None:
        return
    if sys.stderr is not None:
        print(f"error: {problem}", file=sys.stderr)
    if is_frozen() and sys.platform == "win32":  # pragma: no cover - Windows only
        import ctypes
        ctypes.windll.user32.MessageBoxW(None, problem, "isegui", 0x10)
    raise SystemExit(3)
