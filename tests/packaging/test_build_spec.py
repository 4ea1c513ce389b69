"""build.spec's own logic, run with stand-ins for PyInstaller's Analysis, EXE and COLLECT (the
real build takes many minutes: `make package`): what it adds, refuses and leaves out."""

import shutil
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from package_report import is_cuda_library, report  # noqa: E402

LINUX_BUILD = [
    ("torchvision/_C_stable.so", "/venv/torchvision/_C_stable.so", "BINARY"),
    ("pycocotools/_mask.cpython-311-x86_64-linux-gnu.so", "/venv/_mask.so", "EXTENSION"),
    ("PySide6/Qt/plugins/platforms/libqoffscreen.so", "/venv/libqoffscreen.so", "BINARY"),
    ("PySide6/Qt/plugins/platforms/libqxcb.so", "/venv/libqxcb.so", "BINARY"),
    ("torch/lib/libtorch_cpu.so", "/venv/libtorch_cpu.so", "BINARY"),
    ("nvidia/cublas/lib/libcublas.so.13", "/venv/libcublas.so.13", "BINARY"),
    ("torchvision.libs/libcudart.faf08d9a.so.13", "/venv/libcudart.so", "BINARY"),
]


def run_spec(monkeypatch, binaries, platform="linux", root=ROOT, **env):
    """Runs build.spec (as if it lay in `root`); returns what it gave Analysis, EXE and
    COLLECT."""
    hooks = types.ModuleType("PyInstaller.utils.hooks")
    hooks.collect_submodules = lambda package: [package]
    for name in ("PyInstaller", "PyInstaller.utils"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "PyInstaller.utils.hooks", hooks)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(sys, "platform", platform)
    for name in ("ISEGUI_CONSOLE", "ISEGUI_NO_CUDA"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    made = {}

    class Analysis:
        def __init__(self, scripts, **options):
            made["analysis"] = options
            self.binaries, self.datas, self.pure, self.scripts = list(binaries), [], [], []

    namespace = {"SPECPATH": str(root), "Analysis": Analysis, "PYZ": lambda pure: "pyz",
                 "EXE": lambda *a, **k: made.setdefault("exe", k),
                 "COLLECT": lambda exe, binaries, datas, **k: made.setdefault("collect",
                                                                              binaries)}
    exec(compile((ROOT / "build.spec").read_text(), "build.spec", "exec"), namespace)
    return made


def test_the_spec_collects_torchvisions_ops_and_the_whole_package(monkeypatch):
    made = run_spec(monkeypatch, LINUX_BUILD)
    ops = [dest for src, dest in made["analysis"]["binaries"]]
    assert ops and set(ops) == {"torchvision"}  # the _C library torchvision loads by hand
    assert all(Path(src).name.startswith("_C") for src, _ in made["analysis"]["binaries"])
    assert {"isegui", "pycocotools"} <= set(made["analysis"]["hiddenimports"])
    assert made["analysis"]["datas"][0] == (str(ROOT / "resources"), "resources")
    assert made["exe"]["console"] is True and made["exe"]["name"] == "isegui"
    assert made["collect"] == LINUX_BUILD  # CUDA stays unless asked


def spec_root(tmp_path):
    """A folder that looks like the checkout to build.spec: its scripts, and build/ of its own."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "package_report.py", tmp_path / "scripts")
    return tmp_path


def test_fetched_weights_are_bundled_as_the_weights_folder(monkeypatch, tmp_path, capsys):
    root = spec_root(tmp_path)
    weights = root / "build" / "weights"
    weights.mkdir(parents=True)
    for name in ("mobilenet_v3_large-8738ca79.pth", "resnet50-11ad3fa6.pth", "notes.txt"):
        (weights / name).write_bytes(b"x")
    datas = run_spec(monkeypatch, LINUX_BUILD, root=root)["analysis"]["datas"]
    assert [d for d in datas if d[1] == "weights"] == [
        (str(weights / "mobilenet_v3_large-8738ca79.pth"), "weights"),
        (str(weights / "resnet50-11ad3fa6.pth"), "weights")]
    assert "bundling 2 pretrained weights file(s) as weights/" in capsys.readouterr().out


def test_a_build_without_fetched_weights_goes_on_with_a_warning(monkeypatch, tmp_path, capsys):
    datas = run_spec(monkeypatch, LINUX_BUILD, root=spec_root(tmp_path))["analysis"]["datas"]
    assert [d for d in datas if d[1] == "weights"] == []
    assert "WARNING: no pretrained weights in build/weights" in capsys.readouterr().out


@pytest.mark.parametrize("missing, message", [
    ("torchvision/_C_stable.so", "torchvision's compiled ops"),
    ("PySide6/Qt/plugins/platforms/libqoffscreen.so", "offscreen platform plugin"),
    ("PySide6/Qt/plugins/platforms/libqxcb.so", "qxcb platform plugin"),
    ("pycocotools/_mask.cpython-311-x86_64-linux-gnu.so", "pycocotools")])
def test_a_missing_binary_stops_the_build_with_its_name(monkeypatch, missing, message):
    with pytest.raises(SystemExit, match=message):
        run_spec(monkeypatch, [b for b in LINUX_BUILD if b[0] != missing])


def test_windows_builds_a_windowed_program_unless_a_console_is_asked_for(monkeypatch):
    windows = [("torchvision\\_C.pyd", "x", "BINARY"),
               ("pycocotools\\_mask.cp311-win_amd64.pyd", "x", "EXTENSION"),
               ("PySide6\\plugins\\platforms\\qoffscreen.dll", "x", "BINARY"),
               ("PySide6\\plugins\\platforms\\qwindows.dll", "x", "BINARY")]
    assert run_spec(monkeypatch, windows, "win32")["exe"]["console"] is False
    assert run_spec(monkeypatch, windows, "win32", ISEGUI_CONSOLE="1")["exe"]["console"] is True
    with pytest.raises(SystemExit, match="qwindows"):
        run_spec(monkeypatch, windows[:3], "win32")


def test_no_cuda_leaves_cuda_out_and_refuses_a_cuda_build_of_torch(monkeypatch):
    made = run_spec(monkeypatch, LINUX_BUILD, ISEGUI_NO_CUDA="1")
    assert [b[0] for b in made["collect"]] == [b[0] for b in LINUX_BUILD[:5]]
    cuda_torch = LINUX_BUILD + [("torch/lib/libtorch_cuda.so", "x", "BINARY")]
    with pytest.raises(SystemExit, match="CUDA build"):
        run_spec(monkeypatch, cuda_torch, ISEGUI_NO_CUDA="1")


def test_cuda_libraries_are_told_apart_from_the_rest():
    cuda = ["nvidia/cudnn/lib/libcudnn_ops.so.9", "torch/lib/libtorch_cuda.so",
            "torch\\lib\\cudnn64_9.dll", "torch\\lib\\cublas64_12.dll", "libnccl.so.2",
            "torch/lib/libc10_cuda.so", "torchvision.libs/libnvjpeg.36e11081.so.13"]
    other = ["torch/lib/libtorch_cpu.so", "torch/lib/libc10.so", "torchvision/_C_stable.so",
             "PySide6/Qt/lib/libQt6Core.so.6", "libgomp.so.1", "torch/lib/libshm.so"]
    assert all(is_cuda_library(name) for name in cuda)
    assert not any(is_cuda_library(name) for name in other)


def test_the_report_gives_the_size_the_cuda_share_and_the_largest_parts(tmp_path):
    inner = tmp_path / "isegui" / "_internal"
    (inner / "nvidia" / "cublas" / "lib").mkdir(parents=True)
    (inner / "nvidia" / "cublas" / "lib" / "libcublas.so.13").write_bytes(b"x" * 3 * 2**20)
    (inner / "torch").mkdir()
    (inner / "torch" / "libtorch_cpu.so").write_bytes(b"x" * 2**20)
    (tmp_path / "isegui" / "isegui").write_bytes(b"x" * 1000)
    text = report(tmp_path / "isegui")
    assert "4 MB in 3 files" in text
    assert "CUDA libraries: 3 MB; without them: 1 MB" in text
    assert text.index("_internal/nvidia") < text.index("_internal/torch")  # largest first
