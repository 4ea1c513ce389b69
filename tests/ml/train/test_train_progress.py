"""What a training run tells while it runs and leaves behind: phase notes before the first
step, its events file (the curves), a cancel that ends the step in progress without taking
it, and the one rule for the active run."""

import pytest
import torch

from isegui.core.entities import Run, RunStatus
from isegui.core.project import Project
from isegui.ml.train import interrupt as interrupt_module
from isegui.ml.model.checkpoint import load_checkpoint
from isegui.ml.run_protocol import CancelToken, RecordingReporter
from isegui.ml.run_log import read_run_log
from isegui.ml.runs import active_choice
from isegui.ml.train.spec import TrainSpec
from isegui.ml.train.trainer import fit

SMALL = dict(model="fast", size=128, batch=2, device="cpu", workers=0)


def test_notes_before_the_first_step_and_an_events_file(tiny_project):
    reporter = RecordingReporter()
    result = fit(TrainSpec(project=tiny_project, epochs=1, **SMALL), reporter)
    kinds = [k for k, _ in reporter.events]
    first_step = kinds.index("step")
    phases = [f["message"] for k, f in reporter.events[:first_step] if k == "note"]
    assert any("building the fast model" in p for p in phases)
    assert any("first batch" in p for p in phases) and any("first training step" in p
                                                           for p in phases)
    done = reporter.of("done")[0]
    assert done["active"] and done["active_run_id"] == result.run_id
    events = read_run_log(tiny_project / "runs" / f"{result.run_id:04d}")
    steps = [f for k, f in events if k == "step"]
    assert steps and steps == [f for k, f in reporter.events if k == "step" and f["losses"]]
    assert [f["epoch"] for k, f in events if k == "epoch"] == [1]


class CancelDuringStep(interrupt_module.StepInterrupter):
    """Asks for the cancel inside the second step: in its forward or its backward pass."""

    def __init__(self, model, cancel, phase):
        super().__init__(model, cancel)
        self.phase, self.steps = phase, 0

    def arm(self):
        self.steps += 1
        return super().arm()

    def _after(self, module, args, output):
        if self.armed and self.steps == 2 and self.phase == "forward":
            self.cancel.cancel()
        super()._after(module, args, output)

    def _gradient(self, grad):
        if self.armed and self.steps == 2 and self.phase == "backward":
            self.cancel.cancel()
        return super()._gradient(grad)


class CancelWhileLoading(interrupt_module.CancellableDataset):
    """Asks for the cancel as the second batch's images load."""

    def __getitem__(self, key):
        self.loaded = getattr(self, "loaded", 0) + 1
        if self.loaded == SMALL["batch"] + 1:
            self.cancel.cancel()
        return super().__getitem__(key)


@pytest.mark.slow
def test_a_cancel_mid_step_drops_that_step_and_resume_is_exact(tiny_project, monkeypatch):
    spec = TrainSpec(project=tiny_project, epochs=1, **SMALL)
    straight = fit(spec.with_(name="straight"))
    cancelled = {}
    for phase in ("loading", "backward", "forward"):
        if phase == "loading":
            monkeypatch.setattr("isegui.ml.train.trainer.CancellableDataset", CancelWhileLoading)
        else:
            monkeypatch.setattr("isegui.ml.train.trainer.StepInterrupter",
                                lambda model, cancel, phase=phase: CancelDuringStep(
                                    model, cancel, phase))
        cancelled[phase] = fit(spec.with_(name=phase), RecordingReporter(), CancelToken())
        monkeypatch.undo()
        assert cancelled[phase].status == RunStatus.CANCELLED
        assert cancelled[phase].steps == 1  # the second step was left, not taken
    run_id = cancelled["forward"].run_id
    folder = tiny_project / "runs" / f"{run_id:04d}"
    assert load_checkpoint(folder / "last.pt")["state"]["batch"] == 1
    reporter = RecordingReporter()
    resumed = fit(TrainSpec(project=tiny_project, resume=str(run_id), epochs=1, device="cpu",
                            workers=0), reporter)
    assert (resumed.epochs, resumed.steps) == (straight.epochs, straight.steps)
    start = reporter.of("start")[0]
    assert (start["resumed_at_epoch"], start["resumed_at_step"]) == (0, 1)
    assert start["init"]["source"].startswith(f"run {run_id}'s last checkpoint")
    a = load_checkpoint(tiny_project / "runs" / f"{straight.run_id:04d}" / "last.pt")
    b = load_checkpoint(folder / "last.pt")
    for name, tensor in a["state_dict"].items():
        assert torch.allclose(tensor.float(), b["state_dict"][name].float(), atol=1e-6), name
    steps = [f["step"] for k, f in read_run_log(folder) if k == "step"]
    assert steps == sorted(set(steps)) and steps[0] == 1 and steps[-1] == straight.steps
    with Project.open(tiny_project, read_only=True) as project:  # an equal mAP: it stays
        assert project.active_run_id == straight.run_id


def _run(run_id, mask_map=None, checkpoint="runs/x/best.pt"):
    best = {} if mask_map is None else {"mask_map": mask_map}
    return Run(run_id, f"r{run_id}", "2024-01-01T00:00:00", RunStatus.FINISHED, {},
               {"best": best}, checkpoint)


def test_the_active_run_rule():
    assert active_choice(_run(2, 0.1), None)[0]
    assert active_choice(_run(2, 0.1), _run(1, 0.5, checkpoint=None))[0]
    chosen, why = active_choice(_run(2, 0.4), _run(1, 0.3))
    assert chosen and "0.400 beats run 1's (0.300)" in why
    chosen, why = active_choice(_run(2, 0.3), _run(1, 0.3))
    assert not chosen and "run 1 stays the active model" in why
    assert active_choice(_run(2, 0.2), _run(1))[0]  # the active one was never validated
    assert not active_choice(_run(2), _run(1, 0.2))[0]
    assert active_choice(_run(1, 0.1), _run(1, 0.1))[0]  # itself, resumed
    chosen, why = active_choice(_run(2, checkpoint=None), None)  # --minutes 1e-9
    assert not chosen and "no model to predict with" in why
