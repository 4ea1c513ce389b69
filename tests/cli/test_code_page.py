"""Output on a PC whose code page is not UTF-8 (windows audit, finding 7): a redirected
`isegui watch` stopped at `px²` on cp932, and class names arrived garbled in the window."""

from __future__ import annotations

import io
import subprocess
import sys

from isegui.runtime import ensure_streams


def test_output_to_a_pipe_is_utf8_whatever_the_code_page(monkeypatch):
    raw = io.BytesIO()
    stdout = io.TextIOWrapper(raw, encoding="cp932")  # as Windows pipes it in Japan
    monkeypatch.setattr(sys, "stdout", stdout)
    ensure_streams()
    print("NG: area 12 px² > 10 px²; Lunker-ä")
    sys.stdout.flush()
    assert raw.getvalue().decode("utf-8") == "NG: area 12 px² > 10 px²; Lunker-ä\n"


def test_a_utf8_stream_still_never_fails_on_a_character(monkeypatch):
    raw = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw, encoding="utf-8"))
    ensure_streams()
    print("half a pair: \ud800")  # a lone surrogate, as a non-UTF-8 file name decodes
    sys.stdout.flush()
    assert raw.getvalue() == b"half a pair: \\ud800\n"


def test_a_windowed_program_has_streams(monkeypatch):
    for name in ("stdin", "stdout", "stderr"):
        monkeypatch.setattr(sys, name, None)
    ensure_streams()
    print("nowhere")
    assert sys.stdin.read() == ""  # train --progress jsonl watches it for a cancel


def test_a_command_piped_on_cp1252_writes_utf8(tmp_path):
    """The whole program, as a scheduled task on a Western PC would pipe it."""
    import os

    import numpy as np

    from isegui.core.images import save_image
    save_image(tmp_path / "photos" / "a.png", np.zeros((8, 8, 3), np.uint8))
    done = subprocess.run([sys.executable, "-m", "isegui", "new", str(tmp_path / "p"),
                           "--images", str(tmp_path / "photos"), "--classes", "Lunker-ä,Riss²"],
                          capture_output=True, timeout=120,
                          env={**os.environ, "PYTHONIOENCODING": "cp1252"})
    assert done.returncode == 0, done.stderr
    assert "Lunker-ä" in done.stdout.decode("utf-8")  # in cp1252 bytes, a UTF-8 reader garbles
    assert "Riss²" in done.stdout.decode("utf-8")


def test_a_pc_without_the_cpp_runtime_is_told_what_to_install():
    from isegui.runtime import VC_RUNTIME, VC_RUNTIME_TORCH, vc_runtime_problem

    def load(name):  # a PC with an older redistributable: no _THREADS, no ATOMIC_WAIT
        if name in VC_RUNTIME_TORCH:
            raise OSError(126, "The specified module could not be found")
    problem = vc_runtime_problem(VC_RUNTIME + VC_RUNTIME_TORCH, load)
    assert "VCRUNTIME140_THREADS.dll, MSVCP140_ATOMIC_WAIT.dll not found" in problem
    assert "vc_redist.x64.exe" in problem
    assert vc_runtime_problem(VC_RUNTIME, load) is None  # the line folder needs no more
