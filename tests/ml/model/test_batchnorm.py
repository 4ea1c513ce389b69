"""Batch-norm statistics recomputed to match the weights ("precise BN") before a model is
validated or kept, while training goes on from its own running averages."""

import torch

from isegui.ml.model.batchnorm import (backbone_batchnorms, restore_statistics, running_statistics,
                                 settle_batchnorm)
from isegui.ml.model.checkpoint import load_checkpoint
from isegui.ml.model.registry import build_model
from isegui.ml.train.spec import TrainSpec
from isegui.ml.train.trainer import fit


class Images:
    """dataset[(epoch, index)] -> (image, target), as the training dataset answers."""

    def __init__(self, images):
        self.images = images

    def __len__(self):
        return len(self.images)

    def __getitem__(self, key):
        return self.images[key[1]], {}


def test_settled_statistics_are_the_average_over_the_images_and_can_be_put_back():
    torch.manual_seed(0)
    model = build_model("fast", num_classes=2, size=128)
    first = backbone_batchnorms(model)[0]
    with torch.no_grad():
        first.running_mean.fill_(5.0)  # statistics of weights long gone
        first.running_var.fill_(9.0)
    before = running_statistics(model)
    images = [torch.rand(3, 96, 128) for _ in range(3)]
    replaced = settle_batchnorm(model, Images(images), epoch=0, batch_size=2,
                                device=torch.device("cpu"))
    assert set(replaced) == set(before)
    assert all(torch.equal(replaced[k], before[k]) for k in before)
    # the first layer normalises the stem convolution's output: its settled mean is the
    # average of that output's mean over each batch (a cumulative average of the batches)
    prepared, _ = model.transform(images)
    with torch.no_grad():
        stem = model.backbone.body["0"][0](prepared.tensors)
    expected = (stem[:2].mean(dim=(0, 2, 3)) + stem[2:].mean(dim=(0, 2, 3))) / 2
    assert torch.allclose(first.running_mean, expected, atol=1e-4)
    assert first.momentum == 0.03 and model.training  # left as they were
    restore_statistics(model, replaced)
    assert torch.equal(first.running_mean, before[next(k for k in before
                                                       if k.endswith("running_mean"))])


def test_best_keeps_settled_statistics_and_last_the_running_ones(tiny_project):
    result = fit(TrainSpec(project=tiny_project, model="fast", size=128, epochs=1,
                           device="cpu", pretrained_search=False))
    folder = result.checkpoint.parent
    assert load_checkpoint(folder / "last.pt")["config"]["batch"] == 2  # a CPU's default
    best = load_checkpoint(folder / "best.pt")["state_dict"]
    last = load_checkpoint(folder / "last.pt")["state_dict"]
    means = [k for k in best if k.startswith("backbone.") and k.endswith("running_mean")]
    assert means and all(torch.equal(best[k], last[k]) for k in best if k.endswith("weight"))
    assert any(not torch.allclose(best[k], last[k]) for k in means)
