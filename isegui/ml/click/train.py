"""Training the project's click model from its own labeled instances (the train split only, so
the val split can say how many clicks it saves), with RITM's iterative click simulation: each
step first lets the model answer 0-3 times without learning, adding each time a click on its
own worst error and feeding its answer back as the candidate, then learns from the last view.
The model thus learns to correct itself as an annotator would make it."""

from __future__ import annotations

import datetime
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from isegui.core.entities import Split
from isegui.core.errors import IseguiError
from isegui.core.labeling_aids import ClickSession, next_click
from isegui.ml.click.examples import Example, InstanceBank, draw_click, make_example, typical_side
from isegui.ml.click.model_file import ClickModelInfo, click_model_path, save_click_model
from isegui.ml.click.net import ClickNet
from isegui.ml.click.segmenter import ClickSegmenter
from isegui.ml.click.simulate import click_ious, session_answers
from isegui.ml.model.device import resolve_device
from isegui.ml.train.data import Sample, read_samples

MAX_SIMULATED = 3  # model answers before the one it learns from, at most
HOLDOUT_SHARE = 0.1  # of the train images: instances the model does not learn from, for its
HOLDOUT_INSTANCES = 40  # figures (at most this many)
REPORT_EVERY = 10  # steps

Report = Callable[[str, dict[str, Any]], None]


class ClickTrainingError(IseguiError):
    pass


@dataclass(frozen=True)
class ClickTrainSpec:
    project: Path
    minutes: float = 3.0
    batch: int = 8
    lr: float = 2e-3
    weight_decay: float = 1e-4
    device: str = "auto"
    seed: int = 0
    max_steps: int | None = None  # for tests


def split_holdout(samples: list[Sample], seed: int) -> tuple[list[Sample], list[Sample]]:
    """(learn from, hold out): a share of the images, none with fewer than 5."""
    if len(samples) < 5:
        return samples, []
    order = list(range(len(samples)))
    random.Random(seed).shuffle(order)
    held = set(order[:max(1, round(HOLDOUT_SHARE * len(samples)))])
    return ([s for k, s in enumerate(samples) if k not in held],
            [s for k, s in enumerate(samples) if k in held])


def _tensors(examples: list[Example], device: torch.device
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    rgb = torch.from_numpy(np.stack([e.pixels for e in examples])).permute(0, 3, 1, 2)
    truth = torch.from_numpy(np.stack([e.truth for e in examples]))[:, None]
    clicks = torch.from_numpy(np.stack([e.clicks for e in examples]))
    previous = torch.from_numpy(np.stack([e.previous for e in examples]))[:, None]
    return (rgb.to(device).float().div_(255.0), truth.to(device).float(), clicks.to(device),
            previous.to(device))


def _jitter(rgb: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Brightness and contrast per example, a little colour per channel."""
    n = rgb.shape[0]
    contrast = 1 + (torch.rand(n, 1, 1, 1, generator=generator) - 0.5) * 0.5
    shift = (torch.rand(n, 1, 1, 1, generator=generator) - 0.5) * 0.3
    tint = 1 + (torch.rand(n, 3, 1, 1, generator=generator) - 0.5) * 0.1
    mean = rgb.mean(dim=(1, 2, 3), keepdim=True)
    jittered = (rgb - mean) * contrast.to(rgb) + mean + shift.to(rgb)
    return (jittered * tint.to(rgb)).clamp_(0, 1)


def _loss(logits: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Per-pixel cross-entropy and the Dice loss of each view (small objects count as much as
    large ones)."""
    bce = F.binary_cross_entropy_with_logits(logits, truth)
    prob = torch.sigmoid(logits).flatten(1)
    target = truth.flatten(1)
    dice = 1 - (2 * (prob * target).sum(1) + 1) / (prob.sum(1) + target.sum(1) + 1)
    return bce + dice.mean()


def _simulate(net: ClickNet, rgb: torch.Tensor, clicks: torch.Tensor, previous: torch.Tensor,
              truth: np.ndarray, rounds: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`rounds` answers without learning, each adding a click on the worst error."""
    maps = clicks.cpu().numpy().copy()
    for _ in range(rounds):
        with torch.no_grad():
            answer = torch.sigmoid(net(rgb, torch.from_numpy(maps).to(rgb.device), previous))
        predicted = (answer[:, 0] > 0.5).cpu().numpy()
        for b in range(len(maps)):
            click = next_click(predicted[b], truth[b])
            if click is not None:
                draw_click(maps[b], *click)
        previous = answer.round()
    return torch.from_numpy(maps).to(rgb.device), previous


def train_click_model(spec: ClickTrainSpec, report: Report | None = None,
                      cancel: Callable[[], bool] | None = None) -> ClickModelInfo | None:
    """Train and save the project's click model (click_model.pt, replaced whole); its info.
    `cancel()` true stops it, saving nothing (None): the model it had stays."""
    say = report or (lambda kind, fields: None)
    started = time.monotonic()
    _, by_split, _ = read_samples(spec.project)
    learn, held = split_holdout([s for s in by_split[Split.TRAIN] if s.shapes], spec.seed)
    bank = InstanceBank(learn)
    if not bank.instances:
        raise ClickTrainingError(f"{spec.project}: no labeled instances in the train split to "
                                 "learn clicks from; label some objects first")
    device = resolve_device(spec.device)
    torch.manual_seed(spec.seed)
    rng = np.random.default_rng(spec.seed)
    generator = torch.Generator().manual_seed(spec.seed)
    first_side = typical_side(bank)
    net = ClickNet().to(device).train()
    optimizer = torch.optim.AdamW(net.parameters(), lr=spec.lr, weight_decay=spec.weight_decay)
    budget = spec.minutes * 60.0
    say("start", {"instances": len(bank.instances), "images": len(learn),
                  "holdout_images": len(held), "first_side": round(first_side, 1),
                  "device": str(device)})
    step, losses = 0, []
    while True:
        elapsed = time.monotonic() - started
        if (spec.max_steps is not None and step >= spec.max_steps) or \
                (spec.max_steps is None and elapsed >= budget) or (cancel and cancel()):
            break
        progress = step / spec.max_steps if spec.max_steps else elapsed / budget
        for group in optimizer.param_groups:  # warm-up, then cosine to zero over the budget
            group["lr"] = spec.lr * min(1.0, (step + 1) / 30) * 0.5 * (1 + math.cos(
                math.pi * min(1.0, progress)))
        examples = [e for e in (make_example(bank, int(rng.integers(len(bank.instances))),
                                             first_side, rng) for _ in range(spec.batch))
                    if e is not None]
        if not examples:
            if bank.unreadable and len(bank.unreadable) == len(learn):
                raise ClickTrainingError("no train image can be read: " + "; ".join(
                    f"{p}: {why}" for p, why in list(bank.unreadable.items())[:3]))
            continue
        rgb, truth, clicks, previous = _tensors(examples, device)
        rgb = _jitter(rgb, generator)
        clicks, previous = _simulate(net, rgb, clicks, previous,
                                     np.stack([e.truth for e in examples]),
                                     int(rng.integers(MAX_SIMULATED + 1)))
        loss = _loss(net(rgb, clicks, previous), truth)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        step += 1
        losses.append(float(loss.detach()))
        if step % REPORT_EVERY == 0:
            say("step", {"step": step, "loss": round(float(np.mean(losses[-REPORT_EVERY:])), 4),
                         "elapsed_s": round(time.monotonic() - started, 1),
                         "progress": round(min(1.0, progress), 3)})
    if cancel and cancel():
        say("cancelled", {"steps": step})
        return None
    net.eval()
    info = ClickModelInfo(
        first_side=first_side, instances=len(bank.instances), images=len(learn), steps=step,
        seconds=round(time.monotonic() - started, 1), device=str(device),
        created=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"))
    info = replace(info, holdout=holdout_figures(ClickSegmenter(net, info, device),
                                                 InstanceBank(held), spec.seed))
    save_click_model(click_model_path(spec.project), net, info)
    say("done", {"steps": step, "seconds": info.seconds, "holdout": info.holdout})
    return info


def holdout_figures(segmenter: ClickSegmenter, bank: InstanceBank, seed: int) -> dict[str, Any]:
    """The click tool with this model against the click tool without one (GrabCut), on
    instances the model did not learn from: mean IoU after 1, 3 and 5 simulated clicks and the
    share that reach IoU 0.9 within 5 (bench/labeling_effort.py counts to 20), each; and
    whether the model does better (`better_than_grabcut`: the click tool uses it only then)."""
    if not bank.instances:
        return {}
    picks = random.Random(seed).sample(range(len(bank.instances)),
                                       min(HOLDOUT_INSTANCES, len(bank.instances)))
    tools: dict[str, Callable[[np.ndarray], ClickSession]] = {
        "": lambda image: ClickSession(image, click_model=segmenter.segment),
        "grabcut_": lambda image: ClickSession(image)}
    after: dict[str, list[float]] = {}
    for index in picks:
        s, k = bank.instances[index]
        image, truth = bank.image(s), bank.truth(s, k)
        if image is None or truth is None:
            continue
        for prefix, make in tools.items():
            ious = click_ious(session_answers(make(image)), image, truth, clicks=5) or [1.0]
            for n in (1, 3, 5):
                after.setdefault(f"{prefix}iou_after_{n}", []).append(ious[min(n, len(ious)) - 1])
            after.setdefault(f"{prefix}reach_90_within_5", []).append(float(max(ious) >= 0.9))
    if not after:
        return {}
    figures: dict[str, Any] = {"instances": len(after["iou_after_1"]),
                               **{k: round(float(np.mean(v)), 3) for k, v in after.items()}}
    own = np.mean([figures[f"iou_after_{n}"] for n in (1, 3, 5)])
    grabcut = np.mean([figures[f"grabcut_iou_after_{n}"] for n in (1, 3, 5)])
    figures["better_than_grabcut"] = bool(own >= grabcut)
    return figures
