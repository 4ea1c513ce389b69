"""What packaged folders (dist/isegui, dist/isegui-line) are made of: each one's size, how much
of it is CUDA libraries, its largest parts and its ten largest libraries; exits 1 when a folder
holds one library twice (the same file name at two places: twice the disk, and two copies of
one library loaded into one process). Run by `make package` after the build; build.spec uses
`is_cuda_library` to leave CUDA out of a CPU-only folder.

    python scripts/package_report.py dist/isegui-line dist/isegui
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from pathlib import Path

PYTHON_MODULE = re.compile(r"(\.cpython-|\.abi3\.|\.pyd$)", re.IGNORECASE)
LIBRARY = re.compile(r"\.(so(\.[0-9.]+)?|dll|pyd|dylib)$", re.IGNORECASE)

# file names (without a leading "lib") of the CUDA runtime, its maths libraries and torch's
# CUDA parts, as the nvidia-* wheels, torch, torchvision.libs and Windows' DLLs name them
CUDA_STEMS = ("cudart", "cublas", "cudnn", "cufft", "curand", "cusolver", "cusparse", "nccl",
              "nvrtc", "nvjitlink", "cupti", "nvshmem", "cufile", "nvtoolsext", "nvjpeg",
              "torch_cuda", "c10_cuda", "caffe2_nvrtc", "torch_nvshmem")


def is_cuda_library(path: str) -> bool:
    parts = [p.lower() for p in re.split(r"[/\\]", path)]
    return "nvidia" in parts[:-1] or parts[-1].removeprefix("lib").startswith(CUDA_STEMS)


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _mb(n: int) -> str:
    return f"{n / 2**20:,.0f} MB"


def report(folder: Path, top: int = 12) -> str:
    files = [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]
    total = sum(p.stat().st_size for p in files)
    cuda = sum(p.stat().st_size for p in files if is_cuda_library(str(p.relative_to(folder))))
    inner = folder / "_internal" if (folder / "_internal").is_dir() else folder
    parts = sorted(((_size(p), p) for p in inner.iterdir()), reverse=True)[:top]
    lines = [f"{folder}: {_mb(total)} in {len(files):,} files",
             f"  CUDA libraries: {_mb(cuda)}; without them: {_mb(total - cuda)}",
             "  largest parts:"]
    lines += [f"    {_mb(size):>10}  {path.relative_to(folder)}" for size, path in parts]
    return "\n".join(lines)


def libraries(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()
            and LIBRARY.search(p.name)]


def largest_libraries(folder: Path, top: int = 10) -> str:
    found = sorted(((p.stat().st_size, p) for p in libraries(folder)), reverse=True)[:top]
    return "\n".join([f"  {len(found)} largest libraries:"] + [
        f"    {_mb(size):>10}  {path.relative_to(folder)}" for size, path in found])


def twice(folder: Path) -> list[list[Path]]:
    """Libraries whose file name (case aside, as on Windows) is at more than one place.
    Python's extension modules are named by their package, not their file: left aside."""
    by_name: dict[str, list[Path]] = defaultdict(list)
    for path in libraries(folder):
        if not PYTHON_MODULE.search(path.name):
            by_name[path.name.lower()].append(path.relative_to(folder))
    return [sorted(paths) for paths in by_name.values() if len(paths) > 1]


def main(folders: list[Path]) -> int:
    failed = False
    for folder in folders:
        print(report(folder))
        print(largest_libraries(folder))
        for paths in twice(folder):
            failed = True
            print(f"  TWICE: {', '.join(str(p) for p in paths)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main([Path(a) for a in sys.argv[1:]] or [Path("dist/isegui")]))
