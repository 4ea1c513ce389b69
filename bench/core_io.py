"""Benchmark: import, export and validate a large COCO dataset; open the project.

    python bench/core_io.py [--images 10000] [--per-image 20] [--workdir DIR]

Each phase runs in its own process, so its peak memory (max RSS) is its own. Prints one JSON
object. Targets (issue 2): import + export under 30 s, peak memory under 2 GB, opening the
project with its first image ready under 1 s.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WIDTH, HEIGHT = 640, 480


def make_dataset(folder: Path, n_images: int, per_image: int, seed: int = 0) -> Path:
    """Star-shaped polygons of 12-40 vertices, `per_image` per image, and one tiny real PNG
    per image (the import reads every header)."""
    from isegui.core.images import save_image
    rng = np.random.default_rng(seed)
    images_dir = folder / "images"
    images_dir.mkdir(parents=True)
    save_image(folder / "template.png", np.zeros((HEIGHT, WIDTH), np.uint8))
    png = (folder / "template.png").read_bytes()
    images, annotations = [], []
    ann_id = 1
    for i in range(1, n_images + 1):
        name = f"img_{i:06d}.png"
        (images_dir / name).write_bytes(png)
        images.append({"id": i, "file_name": f"images/{name}", "width": WIDTH, "height": HEIGHT})
        for _ in range(per_image):
            n = int(rng.integers(12, 41))
            angles = np.sort(rng.uniform(0, 2 * np.pi, n))
            radii = rng.uniform(8, 30) * rng.uniform(0.6, 1.0, n)
            cx, cy = rng.uniform(35, WIDTH - 35), rng.uniform(35, HEIGHT - 35)
            xy = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], 1)
            annotations.append({"id": ann_id, "image_id": i, "category_id": int(rng.integers(1, 4)),
                                "iscrowd": 0, "segmentation": [np.round(xy, 2).ravel().tolist()]})
            ann_id += 1
    doc = {"images": images, "annotations": annotations,
           "categories": [{"id": 1, "name": "pill"}, {"id": 2, "name": "washer"},
                          {"id": 3, "name": "chip"}]}
    path = folder / "annotations.json"
    path.write_text(json.dumps(doc))
    return path


def phase(name: str, workdir: Path) -> dict:
    """Run one phase in this process and report its figures."""
    from isegui.core.formats.exporter import export_dataset
    from isegui.core.formats.importer import ImportOptions, import_dataset
    from isegui.core.project import Project
    from isegui.core.validate import validate_project
    project_dir = workdir / "project"
    start = time.perf_counter()
    extra: dict = {}
    if name == "import":
        with Project.create(project_dir) as project:
            report = import_dataset(project, ImportOptions("coco", workdir / "data" /
                                                           "annotations.json"))
        extra = {"images": report.images_added, "instances": report.instances_added,
                 "warnings": len(report.warnings)}
    elif name == "export":
        with Project.open(project_dir, read_only=True) as project:
            export_dataset(project, "coco", workdir / "export", copy_images=False)
        extra = {"bytes": sum(f.stat().st_size
                              for f in (workdir / "export" / "annotations").glob("*.json"))}
    elif name == "validate":
        with Project.open(project_dir, read_only=True) as project:
            report = validate_project(project)
        extra = {"findings": len(report.findings)}
    elif name == "open":
        from isegui.core.images import load_image
        with Project.open(project_dir) as project:
            images = project.store.images()
            first = images[0]
            instances = project.store.instances(first.id)
            pixels = load_image(project.image_path(first.path))
        extra = {"images_listed": len(images), "first_image_instances": len(instances),
                 "first_image_shape": list(pixels.shape)}
    seconds = time.perf_counter() - start
    return {"seconds": round(seconds, 3), "peak_rss_mb": round(peak_rss_mb(), 1), **extra}


def peak_rss_mb() -> float:
    """This process's peak resident memory. ru_maxrss is not enough on Linux: a child keeps
    its parent's high-water mark across fork, so prefer VmHWM, which exec resets."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--per-image", type=int, default=20)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(phase(args.phase, args.workdir)))
        return
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="isegui-bench-"))
    try:
        start = time.perf_counter()
        make_dataset(workdir / "data", args.images, args.per_image)
        result: dict = {"benchmark": "core_io", "images": args.images,
                        "instances": args.images * args.per_image,
                        "generate_seconds": round(time.perf_counter() - start, 1)}
        for name in ("import", "export", "validate", "open"):
            out = subprocess.run([sys.executable, __file__, "--phase", name,
                                  "--workdir", str(workdir)], check=True, capture_output=True,
                                 text=True).stdout
            result[name] = json.loads(out.strip().splitlines()[-1])
        io_seconds = result["import"]["seconds"] + result["export"]["seconds"]
        peak = max(result[p]["peak_rss_mb"] for p in ("import", "export", "validate", "open"))
        result["targets"] = {
            "import_plus_export_seconds": round(io_seconds, 2),
            "import_plus_export_under_30s": io_seconds < 30,
            "peak_rss_mb": peak, "peak_under_2GB": peak < 2048,
            "open_seconds": result["open"]["seconds"],
            "open_under_1s": result["open"]["seconds"] < 1.0,
        }
        print(json.dumps(result, indent=2))
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
