"""bench/gpu_check.py: without CUDA it says so and exits 0; its throughput arithmetic."""

import json
import os
import subprocess
import sys

import pytest

from tests.bench.conftest import BENCH, bench_script

SCRIPT = BENCH / "gpu_check.py"


@pytest.mark.slow
def test_without_cuda_it_says_so_and_exits_0():
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # no GPU, even on a machine with one
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) == {"benchmark", "cuda", "message"}
    assert result["benchmark"] == "gpu_check"
    assert result["cuda"] is False
    assert result["message"].startswith("no CUDA device: ")


def test_images_per_s_in_epochs_leaves_out_the_time_between_epochs():
    with bench_script("gpu_check") as module:
        pass
    reporter = module.TimingReporter()
    # (time, epoch, step): epoch 1 runs steps 1-5 in 2 s; a 30-s epoch end (checkpoint,
    # validation); epoch 2 runs steps 6-8 in 1 s
    for t, epoch, step in ((0, 1, 1), (1, 1, 3), (2, 1, 5), (32, 2, 6), (33, 2, 8)):
        reporter.events.append((float(t), "step", {"epoch": epoch, "step": step}))
    reporter.events.append((34.0, "done", {}))
    assert reporter.images_per_s_in_epochs(batch=4) == (4 + 2) * 4 / 3
    assert module.TimingReporter().images_per_s_in_epochs(batch=4) is None
