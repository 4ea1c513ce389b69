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


LINE_BUILD = [
    ("onnxruntime/capi/onnxruntime_pybind11_state.so", "/venv/ort.so", "EXTENSION"),
    ("PySide6/Qt/plugins/platforms/libqoffscreen.so", "/venv/libqoffscreen.so", "BINARY"),
    ("PySide6/Qt/plugins/platforms/libqxcb.so", "/venv/libqxcb.so", "BINARY"),
    ("cv2/opencv_videoio_ffmpeg510_64.dll", "/venv/ffmpeg.dll", "BINARY"),
]


def run_spec(monkeypatch, binaries, platform="linux", root=ROOT, build="app", **env):
    """Runs build.spec (as if it lay in `root`) for the folders `build` names (app, line or
    all), each Analysis finding `binaries` (or binaries[entry script]); returns what it gave
    Analysis ("analysis": the last one, "analyses" by entry script), EXE ("exes" by program
    name, "exe": the app's window) and COLLECT ("collects": each folder's binaries,
    "collect": the app folder's)."""
    hooks = types.ModuleType("PyInstaller.utils.hooks")
    hooks.collect_submodules = lambda package: [package]
    for name in ("PyInstaller", "PyInstaller.utils"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "PyInstaller.utils.hooks", hooks)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.delenv("ISEGUI_NO_CUDA", raising=False)
    monkeypatch.setenv("ISEGUI_BUILD", build)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    made: dict = {"analyses": {}, "exes": {}, "collects": {}}

    class Analysis:
        def __init__(self, scripts, **options):
            entry = Path(scripts[0]).stem  # __main__ (the app) or line_main
            made["analysis"] = made["analyses"][entry] = options
            found = binaries[entry] if isinstance(binaries, dict) else binaries
            self.binaries, self.datas, self.pure, self.scripts = list(found), [], [], []

    def exe(*args, **options):
        made["exes"][options["name"]] = options
        return options

    def collect(*args, **options):
        made["collects"][options["name"]] = args[-2]  # (programs..., binaries, datas)

    namespace = {"SPECPATH": str(root), "Analysis": Analysis, "PYZ": lambda pure: "pyz",
                 "EXE": exe, "COLLECT": collect}
    exec(compile((ROOT / "build.spec").read_text(), "build.spec", "exec"), namespace)
    made["exe"] = made["exes"].get("isegui")
    made["collect"] = made["collects"].get("isegui")
    return made


def test_the_spec_collects_torchvisions_ops_and_the_whole_package(monkeypatch):
    made = run_spec(monkeypatch, LINUX_BUILD)
    ops = [dest for src, dest in made["analysis"]["binaries"]]
    assert ops and set(ops) == {"torchvision"}  # the _C library torchvision loads by hand
    assert all(Path(src).name.startswith("_C") for src, _ in made["analysis"]["binaries"])
    assert {"isegui", "pycocotools"} <= set(made["analysis"]["hiddenimports"])
    assert made["analysis"]["datas"][0] == (str(ROOT / "resources"), "resources")
    assert made["exe"]["console"] is True and made["exe"]["name"] == "isegui"
    assert made["exes"]["isegui-cli"]["console"] is True
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


def test_windows_builds_a_windowed_program_and_its_console_twin(monkeypatch):
    windows = [("torchvision\\_C.pyd", "x", "BINARY"),
               ("pycocotools\\_mask.cp311-win_amd64.pyd", "x", "EXTENSION"),
               ("PySide6\\plugins\\platforms\\qoffscreen.dll", "x", "BINARY"),
               ("PySide6\\plugins\\platforms\\qwindows.dll", "x", "BINARY"),
               ("PySide6\\opengl32sw.dll", "x", "BINARY")]
    made = run_spec(monkeypatch, windows, "win32")
    assert made["exe"]["console"] is False and made["exes"]["isegui-cli"]["console"] is True
    assert "PySide6\\opengl32sw.dll" not in [b[0] for b in made["collect"]]  # never used
    with pytest.raises(SystemExit, match="qwindows"):
        run_spec(monkeypatch, windows[:3], "win32")


def line_root(tmp_path):
    tmp_path.mkdir(parents=True, exist_ok=True)
    root = spec_root(tmp_path)
    (root / "build" / "line-self-test").mkdir(parents=True)
    (root / "build" / "line-self-test" / "model.onnx").write_bytes(b"onnx")
    return root


LINE_WINDOWS = [("onnxruntime\\capi\\onnxruntime_pybind11_state.pyd", "x", "EXTENSION"),
                ("PySide6\\plugins\\platforms\\qoffscreen.dll", "x", "BINARY"),
                ("PySide6\\plugins\\platforms\\qwindows.dll", "x", "BINARY"),
                ("cv2\\opencv_videoio_ffmpeg510_64.dll", "x", "BINARY")]


def test_the_line_folder_has_the_watch_and_the_station_and_no_torch(monkeypatch, tmp_path):
    made = run_spec(monkeypatch, LINE_WINDOWS, "win32", root=line_root(tmp_path), build="line")
    line = made["analyses"]["line_main"]
    assert {"torch", "torchvision"} <= set(line["excludes"])
    assert (str(tmp_path / "build" / "line-self-test" / "model.onnx"), "self-test") in \
        line["datas"]
    assert made["exes"]["isegui-watch"]["console"] is True
    assert made["exes"]["isegui-station"]["console"] is False  # a window on Windows
    # OpenCV's video plugin is left out: isegui reads no video
    assert [b[0] for b in made["collects"]["isegui-line"]] == [b[0] for b in LINE_WINDOWS[:3]]
    with pytest.raises(SystemExit, match="torch got into the line folder"):
        run_spec(monkeypatch, LINE_BUILD + [("torch/lib/libtorch_cpu.so", "x", "BINARY")],
                 root=line_root(tmp_path / "again"), build="line")
    with pytest.raises(SystemExit, match="self-test model"):
        (tmp_path / "bare").mkdir()
        run_spec(monkeypatch, LINE_BUILD, root=spec_root(tmp_path / "bare"), build="line")


def test_both_folders_from_one_spec(monkeypatch, tmp_path):
    made = run_spec(monkeypatch, {"__main__": LINUX_BUILD, "line_main": LINE_BUILD},
                    root=line_root(tmp_path), build="all")
    assert set(made["collects"]) == {"isegui", "isegui-line"}
    assert set(made["exes"]) == {"isegui", "isegui-cli", "isegui-watch", "isegui-station"}


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
