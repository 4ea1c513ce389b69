"""Benchmark: `isegui watch` on the line (issue 17).

    python bench/line.py [--images 1000] [--model /tmp/model.onnx] [--frames-model M.onnx]
                         [--frames 20] [--skip-frames] [--low-images 200] [--burst 100]
                         [--out FILE] [--workdir DIR]

Everything runs `isegui watch` as a subprocess, as on a line PC, and feeds it files the way a
camera does: written under a temp name next to the folder, then renamed into it (the landing
time is taken right after the rename).

1. start-up: `isegui watch EMPTY --model M --once`, --startup-runs times: wall time from
   starting the process to its "ready in" line on stdout, and the "ready in" figure itself
   (target <= 1.5 s).
2. 512 px scenes (`isegui demo`, parts, seed 1: scenes the demo model did not train on):
   capacity (100 images already in the folder, --once: rows per second between the first and
   the last row); then a watcher (--settle 0.2, JSON lines) fed --images images at 80 % of
   that capacity: latency from landing to the row's time (p50/p95), sustained images/s, the
   watcher's RSS every 0.5 s (/proc: VmRSS, VmHWM) by blocks of 100 images; then a short
   run at 50 % (--low-images: the latency with no queue); then a burst (100 images renamed
   in at once into a fresh watcher: time until the last row). Each run also reports the
   watcher's CPU and the whole machine's busy share (other work on a shared machine slows
   the watcher: see loadavg).
3. 5-MP frames (`isegui demo --kind defects`, 2448 x 2048): with --frames-model (a tiled
   export), else a tiled model trained here for 5 steps (`isegui train --tile 512 --scale 1.0
   --max-steps 5`, then export-model): capacity on 4 frames, then --frames frames fed at 80 %.
4. machine (cores, load average before/after) and models (onnx metadata).

Prints one JSON object; --out also writes it there.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SETTLE_S = 0.2
FEED_SHARE = 0.8  # the steady feed runs at this share of the measured capacity
LOW_SHARE = 0.5  # and a short second one at this share (latency with no queue)
RSS_EVERY_S = 0.5
BLOCK = 100  # images per RSS block (first vs last)
FRAME_SIZE = (2448, 2048)


def isegui_cmd() -> list[str]:
    script = Path(sys.executable).parent / "isegui"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "isegui"]


WATCH_PROGRAM: Path | None = None  # --watch-program: the line folder's isegui-watch


def watch_cmd() -> list[str]:
    """How the watch is started: the line folder's program (it is `isegui watch`), or isegui."""
    return [str(WATCH_PROGRAM)] if WATCH_PROGRAM is not None else [*isegui_cmd(), "watch"]


def isegui(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*isegui_cmd(), *args], capture_output=True, text=True, check=True)


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs since boot (/proc/stat), steal counted as busy."""
    fields = [float(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def proc_cpu_s(pid: int) -> float | None:
    """user + system CPU seconds of a process (/proc/PID/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine() -> dict:
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    import onnxruntime
    return {"cpus": os.cpu_count(), "cpus_usable": len(os.sched_getaffinity(0)),
            "cpu": cpu, "python": platform.python_version(),
            "onnxruntime": onnxruntime.__version__, "platform": platform.platform()}


def model_info(path: Path, frame: tuple[int, int] | None = None) -> dict:
    import onnxruntime as ort

    from isegui.core.tiling import tile_grid
    from isegui.core.working_scale import WorkingScale
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    meta = json.loads(session.get_modelmeta().custom_metadata_map["isegui"])
    working = WorkingScale.from_dict(meta.get("working_scale"),
                                     max(int(meta["width"]), int(meta["height"])))
    info = {"path": str(path), "bytes": path.stat().st_size, "model_name": meta["model_name"],
            "input": f"{meta['width']} x {meta['height']}", "classes": meta["classes"],
            "run_id": meta.get("run_id"), "working_scale": meta.get("working_scale"),
            "inputs": {i.name: i.shape for i in session.get_inputs()}}
    if frame is not None and working.tiled:
        info["tiles_per_frame"] = len(tile_grid(*frame, working.window))
    return info


def quantiles(values: list[float], digits: int = 3) -> dict:
    if not values:
        return {"n": 0}
    a = np.asarray(values, dtype=float)
    return {"n": len(values), "p50": round(float(np.percentile(a, 50)), digits),
            "p95": round(float(np.percentile(a, 95)), digits),
            "max": round(float(a.max()), digits), "min": round(float(a.min()), digits),
            "mean": round(float(a.mean()), digits)}


def read_rows(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            row["ts"] = datetime.fromisoformat(row["time"]).timestamp()  # local wall clock
            rows.append(row)
    return rows


def count_rows(path: Path) -> int:
    try:
        with open(path, "rb") as f:
            return f.read().count(b"\n")
    except OSError:
        return 0


class Watch:
    """`isegui watch FOLDER --model M --out OUT --settle S` in the background; its stdout and
    stderr go to files; its RSS is sampled from /proc every RSS_EVERY_S."""

    def __init__(self, folder: Path, model: Path, out: Path, settle: float = SETTLE_S,
                 once: bool = False):
        self.folder, self.out = folder, out
        self.log, self.err = out.with_suffix(".stdout"), out.with_suffix(".stderr")
        cmd = [*watch_cmd(), str(folder), "--model", str(model), "--out", str(out),
               "--settle", str(settle), *(["--once"] if once else [])]
        self.started = time.time()
        with open(self.log, "w") as log, open(self.err, "w") as err:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=err)
        self.rss: list[tuple[float, float]] = []  # (wall time, MB)
        self.hwm_mb = 0.0
        self.torch_mapped = False  # whether libtorch was ever in the watcher's memory maps
        self.cpu_s: float | None = None  # the watcher's CPU seconds, last sample
        self.machine_cpu0 = cpu_times()
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        status = Path(f"/proc/{self.proc.pid}/status")
        while not self._stop.is_set() and self.proc.poll() is None:
            try:
                fields = dict(line.split(":", 1) for line in status.read_text().splitlines()
                              if ":" in line)
                rss = int(fields["VmRSS"].split()[0]) / 1024
                if not self.torch_mapped:  # the line folder has no torch: none in its maps
                    maps = Path(f"/proc/{self.proc.pid}/maps").read_text()
                    self.torch_mapped = "libtorch" in maps
                self.hwm_mb = max(self.hwm_mb, int(fields["VmHWM"].split()[0]) / 1024)
                self.rss.append((time.time(), rss))
                self.cpu_s = proc_cpu_s(self.proc.pid)
            except (OSError, KeyError, ValueError):
                pass
            self._stop.wait(RSS_EVERY_S)

    def wait_ready(self, timeout: float = 60.0) -> float:
        """Seconds from start to the "ready in" line."""
        end = time.time() + timeout
        while time.time() < end:
            if "ready in" in self.log.read_text(errors="replace"):
                return time.time() - self.started
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise RuntimeError(f"watch not ready: rc {self.proc.poll()}; {self.stderr_tail()}")

    def wait_rows(self, n: int, idle_timeout: float = 60.0) -> int:
        """Until `n` rows are written, the process ends, or no new row for idle_timeout."""
        last, since = -1, time.time()
        while True:
            have = count_rows(self.out)
            if have >= n or self.proc.poll() is not None:
                return have
            if have != last:
                last, since = have, time.time()
            elif time.time() - since > idle_timeout:
                return have
            time.sleep(0.05)

    def cpu(self) -> dict:
        """The watcher's CPU use and the whole machine's busy share since the start (the
        machine is shared: other work there slows the watcher down)."""
        busy0, total0 = self.machine_cpu0
        busy1, total1 = cpu_times()
        wall = time.time() - self.started
        return {"watcher_cpu_s": round(self.cpu_s, 1) if self.cpu_s is not None else None,
                "watcher_cores_busy": round(self.cpu_s / wall, 2)
                if self.cpu_s is not None and wall > 0 else None,
                "machine_busy_share": round((busy1 - busy0) / (total1 - total0), 2)
                if total1 > total0 else None}

    def stop(self, timeout: float = 120.0) -> int | None:
        (self.folder / "STOP").touch()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            self.proc.wait(10)
        self._stop.set()
        self._sampler.join(2)
        return self.proc.returncode

    def stderr_tail(self, chars: int = 800) -> str:
        try:
            return self.err.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def feed(folder: Path, staging: Path, sources: list[tuple[str, bytes]], count: int,
         rate: float | None, start: int = 0) -> dict[str, float]:
    """`count` images cycled from `sources`, unique names, written under staging/ then renamed
    into folder/ at `rate` a second (None: all at once). Returns name -> landing time."""
    landed: dict[str, float] = {}
    t0 = time.time()
    for i in range(count):
        stem, data = sources[i % len(sources)]
        name = f"{start + i:05d}_{stem}"
        if rate is not None:
            delay = t0 + i / rate - time.time()
            if delay > 0:
                time.sleep(delay)
        tmp = staging / name
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, folder / name)
        landed[name] = time.time()
    return landed


def sources_of(folder: Path, pattern: str) -> list[tuple[str, bytes]]:
    return [(p.name, p.read_bytes()) for p in sorted(folder.glob(pattern))]


def latencies(rows: list[dict], landed: dict[str, float]) -> dict:
    lat = [r["ts"] - landed[r["file"]] for r in rows if r["file"] in landed]
    missing = sorted(set(landed) - {r["file"] for r in rows})
    rows = sorted((r for r in rows if r["file"] in landed), key=lambda r: r["ts"])
    span = rows[-1]["ts"] - rows[0]["ts"] if len(rows) > 1 else 0.0
    feed_span = max(landed.values()) - min(landed.values()) if len(landed) > 1 else 0.0
    by_landing = sorted(rows, key=lambda r: landed[r["file"]])
    blocks = [round(float(np.percentile([r["ts"] - landed[r["file"]]
                                         for r in by_landing[b:b + BLOCK]], 50)), 3)
              for b in range(0, len(by_landing), BLOCK)]
    return {"images": len(landed), "rows": len(rows), "missing": len(missing),
            "missing_first": missing[:5],
            "images_per_s": round((len(rows) - 1) / span, 2) if span > 0 else None,
            "fed_per_s": round((len(landed) - 1) / feed_span, 2) if feed_span > 0 else None,
            "latency_s": quantiles(lat),
            "latency_p50_s_by_block_of_100": blocks,
            "queue_grows": len(blocks) > 1 and blocks[-1] > blocks[0] + 1.0,
            "inspect_ms": quantiles([float(r["ms"]) for r in rows], 1),
            "wait_s": quantiles([r["ts"] - landed[r["file"]] - r["ms"] / 1000 for r in rows])}


def rss_blocks(watch: Watch, rows: list[dict]) -> dict:
    """RSS while each block of BLOCK rows was written (max of the samples in its span)."""
    rows = sorted(rows, key=lambda r: r["ts"])
    blocks = []
    for b in range(0, len(rows), BLOCK):
        lo, hi = rows[b]["ts"], rows[min(b + BLOCK, len(rows)) - 1]["ts"]
        inside = [mb for t, mb in watch.rss if lo - RSS_EVERY_S <= t <= hi + RSS_EVERY_S]
        blocks.append({"rows": f"{b + 1}-{min(b + BLOCK, len(rows))}",
                       "rss_mb_max": round(max(inside), 1) if inside else None,
                       "rss_mb_median": round(statistics.median(inside), 1)
                       if inside else None})
    first, last = blocks[0] if blocks else {}, blocks[-1] if blocks else {}
    growth = None
    if first.get("rss_mb_median") is not None and last.get("rss_mb_median") is not None:
        growth = round(last["rss_mb_median"] - first["rss_mb_median"], 1)
    ready = [mb for t, mb in watch.rss if rows and t < rows[0]["ts"]]
    return {"peak_rss_mb_vmhwm": round(watch.hwm_mb, 1), "torch_mapped": watch.torch_mapped,
            "peak_rss_mb_sampled": round(max(mb for _, mb in watch.rss), 1)
            if watch.rss else None,
            "rss_mb_before_first_row": round(ready[-1], 1) if ready else None,
            "first_block_median_mb": first.get("rss_mb_median"),
            "last_block_median_mb": last.get("rss_mb_median"),
            "growth_mb_first_to_last_block": growth, "samples": len(watch.rss),
            "blocks": blocks}


def startup(model: Path, runs: int, work: Path) -> dict:
    walls, ready_figures, exits = [], [], []
    for i in range(runs):
        empty = work / f"empty{i}"
        empty.mkdir()
        cmd = [*watch_cmd(), str(empty), "--model", str(model), "--once",
               "--out", str(work / f"startup{i}.jsonl")]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True, bufsize=1)
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("ready in"):
                walls.append(time.perf_counter() - t0)
                ready_figures.append(float(line.split()[2]))
                break
        proc.stdout.read()
        proc.wait(60)
        exits.append(time.perf_counter() - t0)
    return {"runs": runs, "to_ready_line_s": [round(w, 3) for w in walls],
            "to_ready_line_median_s": round(statistics.median(walls), 3) if walls else None,
            "to_ready_line_max_s": round(max(walls), 3) if walls else None,
            "ready_in_figure_s": ready_figures,
            "ready_in_figure_median_s": statistics.median(ready_figures)
            if ready_figures else None,
            "process_exit_median_s": round(statistics.median(exits), 3),
            "target_s": 1.5,
            "meets_target": bool(walls) and max(walls) <= 1.5}


def capacity(model: Path, sources: list[tuple[str, bytes]], n: int, work: Path,
             name: str) -> dict:
    """n images already in the folder, --once: rows a second between the first and last row."""
    folder, staging = work / f"{name}-cap", work / f"{name}-cap-staging"
    folder.mkdir()
    staging.mkdir()
    feed(folder, staging, sources, n, None)
    out = work / f"{name}-cap.jsonl"
    t0, children0 = time.time(), resource.getrusage(resource.RUSAGE_CHILDREN)
    watch = Watch(folder, model, out, once=True)
    watch.proc.wait(600)
    wall = time.time() - t0
    children1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    watch.cpu_s = (children1.ru_utime - children0.ru_utime
                   + children1.ru_stime - children0.ru_stime)
    watch._stop.set()
    rows = sorted(read_rows(out), key=lambda r: r["ts"])
    span = rows[-1]["ts"] - rows[0]["ts"] if len(rows) > 1 else 0.0
    return {"images": n, "rows": len(rows), "rc": watch.proc.returncode,
            "images_per_s": round((len(rows) - 1) / span, 2) if span > 0 else None,
            "wall_s_with_startup": round(wall, 2),
            "inspect_ms": quantiles([float(r["ms"]) for r in rows], 1),
            "peak_rss_mb_vmhwm": round(watch.hwm_mb, 1), "torch_mapped": watch.torch_mapped,
            "cpu": watch.cpu(), "stderr": watch.stderr_tail() or None}


def steady(model: Path, sources: list[tuple[str, bytes]], n: int, rate: float, work: Path,
           name: str, idle_timeout: float = 60.0) -> dict:
    folder, staging = work / name, work / f"{name}-staging"
    folder.mkdir()
    staging.mkdir()
    out = work / f"{name}.jsonl"
    watch = Watch(folder, model, out)
    ready_s = watch.wait_ready()
    landed = feed(folder, staging, sources, n, rate)
    fed_done = time.time()
    watch.wait_rows(n, idle_timeout)
    drained = time.time()
    watch.cpu_s = proc_cpu_s(watch.proc.pid) or watch.cpu_s
    cpu = watch.cpu()
    rc = watch.stop()
    rows = read_rows(out)
    result = {"rate_asked_per_s": round(rate, 2) if rate else None, "ready_s": round(ready_s, 2),
              **latencies(rows, landed),
              "drain_after_last_landing_s": round(drained - fed_done, 2),
              "cpu": cpu, "rc": rc, "stderr": watch.stderr_tail() or None}
    if rows:
        result["last_row_after_first_landing_s"] = round(
            max(r["ts"] for r in rows) - min(landed.values()), 2)
    result["rss"] = rss_blocks(watch, [r for r in rows if r["file"] in landed])
    return result


def tiled_model(frames_project: Path, work: Path) -> tuple[Path, dict]:
    """A tiled model trained here for 5 steps on the frames project (timing only: it has
    hardly learnt anything, so it finds fewer defects than a real one would)."""
    t0 = time.perf_counter()
    isegui("train", str(frames_project), "--model", "fast", "--tile", "512", "--scale", "1.0",
           "--max-steps", "5", "--device", "cpu", "--workers", "0", "--progress", "jsonl")
    trained = time.perf_counter() - t0
    out = work / "tiles.onnx"
    isegui("export-model", str(frames_project), str(out))
    return out, {"source": "trained here: fast, --tile 512 --scale 1.0 --max-steps 5 "
                           "(hardly trained: few detections)",
                 "train_s": round(trained, 1),
                 "export_s": round(time.perf_counter() - t0 - trained, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=1000, help="images for the soak (1000)")
    ap.add_argument("--model", type=Path, default=Path("/tmp/model.onnx"),
                    help="whole-image export for the 512 px scenes (/tmp/model.onnx)")
    ap.add_argument("--frames-model", type=Path,
                    help="tiled export for the 5-MP frames (default: train one for 5 steps)")
    ap.add_argument("--frames", type=int, default=20, help="5-MP frames fed (20)")
    ap.add_argument("--skip-frames", action="store_true")
    ap.add_argument("--startup-runs", type=int, default=5)
    ap.add_argument("--burst", type=int, default=100)
    ap.add_argument("--low-images", type=int, default=200,
                    help=f"images for a second steady run at {LOW_SHARE * 100:.0f}%% of capacity "
                    "(200; 0: none)")
    ap.add_argument("--capacity-images", type=int, default=100)
    ap.add_argument("--workdir", type=Path, help="keep the files here (default: a temp dir)")
    ap.add_argument("--out", type=Path, help="also write the JSON here")
    ap.add_argument("--watch-program", type=Path,
                    help="the line folder's isegui-watch instead of `isegui watch`")
    args = ap.parse_args()
    global WATCH_PROGRAM
    WATCH_PROGRAM = args.watch_program
    if not args.model.is_file():
        ap.error(f"{args.model}: no such model; export one with `isegui export-model PROJECT "
                 "MODEL.onnx`")

    begin = time.perf_counter()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="isegui-line-"))
    work.mkdir(parents=True, exist_ok=True)
    result: dict = {"bench": "line", "date": datetime.now().isoformat(timespec="seconds"),
                    "watch_program": " ".join(watch_cmd()),
                    "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
                    "machine": {**machine(), "loadavg_before": loadavg()},
                    "settle_s": SETTLE_S, "feed_share_of_capacity": FEED_SHARE,
                    "low_share_of_capacity": LOW_SHARE}
    try:
        result["model"] = model_info(args.model)
        result["startup"] = startup(args.model, args.startup_runs, work)

        isegui("demo", str(work / "parts"), "--images", "20", "--seed", "1")
        scenes = sources_of(work / "parts" / "images", "*.jpg")
        small = {"images": "isegui demo parts, seed 1: 20 scenes of 512 x 384 JPEG, cycled "
                           "under unique names"}
        cap = capacity(args.model, scenes, args.capacity_images, work, "s512")
        small["capacity_once"] = cap
        rate = FEED_SHARE * (cap["images_per_s"] or 1.0)
        small["steady"] = steady(args.model, scenes, args.images, rate, work, "s512-steady")
        if args.low_images:
            small["steady_low"] = steady(args.model, scenes, args.low_images,
                                         LOW_SHARE * (cap["images_per_s"] or 1.0), work,
                                         "s512-low")
        small["burst"] = steady(args.model, scenes, args.burst, None, work, "s512-burst")
        result["scenes_512"] = small

        if not args.skip_frames:
            t0 = time.perf_counter()
            isegui("demo", str(work / "frames"), "--kind", "defects", "--images", "4")
            frames = sources_of(work / "frames" / "images", "*.png")
            big: dict = {"images": f"isegui demo --kind defects: {len(frames)} frames of "
                                   f"{FRAME_SIZE[0]} x {FRAME_SIZE[1]} PNG, cycled",
                         "make_frames_s": round(time.perf_counter() - t0, 1)}
            if args.frames_model:
                fmodel, big["model_source"] = args.frames_model, {"source": "--frames-model"}
            else:
                fmodel, big["model_source"] = tiled_model(work / "frames", work)
            big["model"] = model_info(fmodel, FRAME_SIZE)
            fcap = capacity(fmodel, frames, len(frames), work, "f5mp")
            big["capacity_once"] = fcap
            frate = FEED_SHARE * (fcap["images_per_s"] or 0.2)
            big["steady"] = steady(fmodel, frames, args.frames, frate, work, "f5mp-steady",
                                   idle_timeout=120.0)
            result["frames_5mp"] = big
    finally:
        result["machine"]["loadavg_after"] = loadavg()
        result["total_s"] = round(time.perf_counter() - begin, 1)
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
        text = json.dumps(result, indent=2)
        print(text)
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
