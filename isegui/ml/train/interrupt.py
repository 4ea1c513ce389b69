"""Stopping a training step part-way. On a CPU one step takes seconds (the forward pass, then
the backward pass, each through every block of the model); a cancel asked during it ends the
pass at the next block instead of after the whole step. The step is then not taken: weights,
optimizer, counters and batch-norm statistics (which a forward pass in training mode updates)
stay as they were after the last whole step, which is what the checkpoint keeps, and a
resumed run does that batch again."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch.utils.hooks import RemovableHandle

from isegui.ml.train.data import ItemKey, TrainingData, TrainingItem
from isegui.ml.run_protocol import CancelToken


class StepInterrupted(Exception):
    """A cancel arrived during a step; the step was abandoned."""


class StepInterrupter:
    """Checks the cancel token before and after each block of the model and, in the backward
    pass, at each block's output. Only while armed (the training step), and only for a single
    process: a DDP process leaving a step alone would leave the others waiting for it."""

    def __init__(self, model: torch.nn.Module, cancel: CancelToken):
        self.cancel = cancel
        self.armed = False
        self._handles: list[RemovableHandle] = []
        self._statistics = [b for m in model.modules()
                            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
                            for b in m.buffers()]
        self._saved: list[torch.Tensor] = []
        for module in model.modules():
            if module is not model and next(module.children(), None) is not None:
                self._handles.append(module.register_forward_pre_hook(self._before))
                self._handles.append(module.register_forward_hook(self._after))

    def check(self) -> None:
        if self.armed and self.cancel.cancelled:
            raise StepInterrupted()

    @contextmanager
    def arm(self) -> Iterator[None]:
        """Around one step; its StepInterrupted has undone what the step had changed."""
        self._saved = [b.detach().clone() for b in self._statistics]
        self.armed = True
        try:
            yield
        except StepInterrupted:
            with torch.no_grad():
                for buffer, saved in zip(self._statistics, self._saved):
                    buffer.copy_(saved)
            raise
        finally:
            self.armed = False
            self._saved = []

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _before(self, module: torch.nn.Module, args: object) -> None:
        self.check()

    def _after(self, module: torch.nn.Module, args: object, output: object) -> None:
        if not self.armed:
            return
        self.check()
        for tensor in _tensors(output):
            if tensor.requires_grad:
                # torch leaves Tensor.register_hook unannotated
                tensor.register_hook(self._gradient)  # type: ignore[no-untyped-call]

    def _gradient(self, grad: torch.Tensor) -> None:
        self.check()
        return None


def _tensors(value: object) -> Iterator[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _tensors(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _tensors(v)


class CancellableDataset(torch.utils.data.Dataset[TrainingItem]):
    """The training images, loaded in this process (no loader workers: the default on small
    CPUs), with the cancel token checked before each one: loading and augmenting a batch takes
    seconds there, and a cancel should not wait for it. Single process only, like the above."""

    def __init__(self, dataset: TrainingData, cancel: CancelToken):
        self.dataset, self.cancel = dataset, cancel

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: ItemKey) -> TrainingItem:
        if self.cancel.cancelled:
            raise StepInterrupted()
        return self.dataset[key]
