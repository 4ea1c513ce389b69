"""What a packaged folder (dist/isegui) is made of: its size, how much of it is CUDA libraries,
and the largest parts. Run by `make package` after the build; build.spec uses
`is_cuda_library` to leave CUDA out of a CPU-only folder.

    python scripts/package_report.py dist/isegui
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

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


if __name__ == "__main__":
    print(report(Path(sys.argv[1] if len(sys.argv) > 1 else "dist/isegui")))
