import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from isegui.core.entities import RunStatus
from isegui.core.project import Project
from isegui.ml.model.checkpoint import load_checkpoint
from isegui.ml.run_protocol import CancelToken, RecordingReporter
from isegui.ml.train.spec import AugmentConfig, TrainSpec
from isegui.ml.train.trainer import TrainingError, fit

SMALL = dict(model="fast", size=128, batch=2, device="cpu", workers=0)


@pytest.mark.slow
def test_a_few_steps_lower_the_loss(tiny_project):
    reporter = RecordingReporter()
    spec = TrainSpec(project=tiny_project, epochs=5, augment=AugmentConfig.none(), lr=2e-3,
                     **SMALL)
    result = fit(spec, reporter)
    losses = [s["losses"]["loss"] for s in reporter.of("step") if s["losses"]]
    assert result.status == RunStatus.FINISHED and result.epochs == 5
    assert sum(losses[-3:]) / 3 < 0.8 * sum(losses[:3]) / 3
    epochs = reporter.of("epoch")
    # validated at the first and the last epoch at least (short epochs validate less often)
    assert len(epochs) == 5 and "mask_map" in epochs[0] and "mask_map" in epochs[-1]
    with Project.open(tiny_project, read_only=True) as project:
        run = project.store.run(result.run_id)
        assert run.status == RunStatus.FINISHED and project.active_run_id == run.id
        assert run.config["validation"].startswith("the val split")
        assert len(run.metrics["history"]) == 5 and run.checkpoint.endswith("best.pt")


class CancelAfter(RecordingReporter):
    def __init__(self, token: CancelToken, steps: int):
        super().__init__()
        self.token, self.steps = token, steps

    def event(self, kind, **fields):
        super().event(kind, **fields)
        if kind == "step" and fields["step"] >= self.steps:
            self.token.cancel()


@pytest.mark.slow
def test_cancel_keeps_a_checkpoint_and_resume_continues_exactly(tiny_project):
    # at 128 px the tiny scenes' objects ask for tiles: this resumes a run on tiles
    spec = TrainSpec(project=tiny_project, epochs=2, **SMALL)
    straight = fit(spec.with_(name="straight"))

    token = CancelToken()
    # the first step is always reported (later ones at most 4 times a second)
    cancelled = fit(spec.with_(name="interrupted"), CancelAfter(token, 1), token)
    assert cancelled.status == RunStatus.CANCELLED and cancelled.steps == 1
    with Project.open(tiny_project, read_only=True) as project:
        assert project.store.run(cancelled.run_id).status == RunStatus.CANCELLED
        assert project.store.run(cancelled.run_id).config["working_scale"]["mode"] == "tiles"
    last = load_checkpoint(tiny_project / "runs" / f"{cancelled.run_id:04d}" / "last.pt")
    assert last["state"]["epoch"] == 0 and last["state"]["batch"] == 1  # mid-epoch

    resumed = fit(TrainSpec(project=tiny_project, resume=str(cancelled.run_id), epochs=2,
                            device="cpu", workers=0))
    assert resumed.run_id == cancelled.run_id and resumed.status == RunStatus.FINISHED
    assert (resumed.epochs, resumed.steps) == (straight.epochs, straight.steps)
    a = load_checkpoint(tiny_project / "runs" / f"{straight.run_id:04d}" / "last.pt")
    b = load_checkpoint(tiny_project / "runs" / f"{resumed.run_id:04d}" / "last.pt")
    for name, tensor in a["state_dict"].items():
        assert torch.allclose(tensor.float(), b["state_dict"][name].float(), atol=1e-6), name


def test_no_val_split_holds_out_or_says_none(tiny_project):
    from isegui.core.entities import Split
    from isegui.ml.train.data import snapshot
    with Project.open(tiny_project) as project:
        project.store.set_split([r.id for r in project.store.images()], Split.TRAIN)
    data = snapshot(tiny_project, val_fraction=0.2)
    assert data.validation.startswith("a hold-out of 1 train images") and len(data.train) == 5
    assert "none" in snapshot(tiny_project, val_fraction=0.0).validation


def test_non_finite_loss_is_skipped_lowered_then_a_clear_error(tiny_project, monkeypatch):
    import isegui.ml.train.trainer as train_module

    class Exploding(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(1))

        def forward(self, images, targets=None):
            return {"loss": self.w * float("nan")}

    monkeypatch.setattr(train_module, "build_model", lambda *a, **k: Exploding())
    reporter = RecordingReporter()
    spec = TrainSpec(project=tiny_project, epochs=20, val_fraction=0, pretrained_search=False,
                     **SMALL)
    with Project.open(tiny_project) as project:  # no validation: nothing to predict with
        from isegui.core.entities import Split
        project.store.set_split([r.id for r in project.store.images()], Split.TRAIN)
    with pytest.raises(TrainingError, match="non-finite .* Lower --lr"):
        fit(spec, reporter)
    notes = [n["message"] for n in reporter.of("note") if not n.get("phase")]
    assert len(notes) == 3 and "lowered to 0.125" in notes[-1]
    with Project.open(tiny_project, read_only=True) as project:
        run = project.store.runs()[-1]
        assert run.status == RunStatus.FAILED and "non-finite" in run.metrics["error"]
        assert not (tiny_project / "runs" / f"{run.id:04d}" / "best.pt").exists()


@pytest.mark.slow
def test_fine_tuning_after_adding_a_class_carries_the_old_ones(tiny_project):
    first = fit(TrainSpec(project=tiny_project, epochs=1, max_steps=1, **SMALL))
    with Project.open(tiny_project) as project:
        project.store.add_class("screw")
    reporter = RecordingReporter()
    second = fit(TrainSpec(project=tiny_project, epochs=1, max_steps=1, init=str(first.run_id),
                           **SMALL), reporter)
    init = reporter.of("start")[0]["init"]
    assert init["classes_carried"] == ["pill", "washer", "chip"]
    old = load_checkpoint(first.checkpoint)["state_dict"]
    new = load_checkpoint(second.checkpoint)["classes"]
    assert new == ["pill", "washer", "chip", "screw"]
    assert old["roi_heads.box_predictor.cls_score.weight"].shape[0] == 4


def test_class_rows_follow_the_class_names_into_a_new_model():
    """The weights themselves, not the report: each class the new model shares with the old
    one starts from the old rows of that name, whatever its place; a new class starts fresh."""
    from isegui.ml.model.registry import build_model
    from isegui.ml.model.weights import initialise_from
    torch.manual_seed(0)
    before = ["pill", "washer", "chip"]
    old = build_model("fast", num_classes=3, size=128).state_dict()
    after = ["screw", "chip", "pill", "washer"]  # a new class first, the others reordered
    model = build_model("fast", num_classes=4, size=128)
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    initialise_from(model, {"state_dict": old, "classes": before}, Path("old.pt"), after)
    new = model.state_dict()
    for prefix, rows in (("roi_heads.box_predictor.cls_score", 1),
                         ("roi_heads.box_predictor.bbox_pred", 4),
                         ("roi_heads.mask_predictor.mask_fcn_logits", 1)):
        for part in ("weight", "bias"):
            o, n, f = old[f"{prefix}.{part}"], new[f"{prefix}.{part}"], fresh[f"{prefix}.{part}"]
            assert torch.equal(n[:rows], o[:rows])  # background
            for k, name in enumerate(after, start=1):
                rows_now = n[k * rows:(k + 1) * rows]
                if name in before:
                    j = before.index(name) + 1
                    assert torch.equal(rows_now, o[j * rows:(j + 1) * rows]), (prefix, name)
                else:  # the new class: as the new model made it
                    assert torch.equal(rows_now, f[k * rows:(k + 1) * rows])
    assert torch.equal(new["backbone.body.0.0.weight"], old["backbone.body.0.0.weight"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_ddp_with_two_cpu_processes(tiny_project):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
           f"--master_port={_free_port()}", "-m", "isegui", "train", str(tiny_project),
           "--size", "128", "--batch", "1", "--epochs", "1", "--max-steps", "2", "--device",
           "cpu", "--workers", "0", "--progress", "jsonl", "--name", "ddp"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-3000:]
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    start = next(e for e in events if e["event"] == "start")
    assert start["processes"] == 2
    assert sum(1 for e in events if e["event"] == "done") == 1  # only rank 0 reports
    with Project.open(tiny_project, read_only=True) as project:
        runs = project.store.runs()
        assert [r.name for r in runs] == ["ddp"] and runs[0].status == RunStatus.FINISHED
