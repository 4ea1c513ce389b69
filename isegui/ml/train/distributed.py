"""Running on one process or many (torchrun / DDP), and the batches each process takes."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class Distributed:
    world: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, device: torch.device) -> Distributed:
        """Joins the process group torchrun describes in the environment (gloo on the CPU,
        NCCL on GPUs); a plain run is a world of one."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        if not dist.is_initialized():
            dist.init_process_group(backend=process_group_backend(device))
        return cls(world, dist.get_rank(), int(os.environ.get("LOCAL_RANK", "0")))

    def any(self, flag: bool) -> bool:
        """True on every process when it is true on one: decisions that must agree (stop,
        skip a step) go through here so no process waits for the others forever."""
        if not self.enabled:
            return flag
        value = torch.tensor([1.0 if flag else 0.0])
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item() > 0)

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()


def process_group_backend(device: torch.device) -> str:
    """gloo on the CPU; on GPUs NCCL, with gloo beside it for the small CPU flags of `any`."""
    return "cpu:gloo,cuda:nccl" if device.type == "cuda" else "gloo"


class EpochBatches:
    """The batches of one epoch for this process: a shuffle fixed by (seed, epoch), split
    across processes, optionally starting at a later batch (resuming). Items are (epoch,
    index) so the dataset, even in a worker process, knows which epoch's augmentation to
    replay."""

    def __init__(self, n: int, batch: int, seed: int, world: int = 1, rank: int = 0):
        self.n, self.batch, self.seed, self.world, self.rank = n, batch, seed, world, rank
        self.epoch = 0
        self.start = 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch, self.start = epoch, start

    def _indices(self) -> list[int]:
        g = torch.Generator()
        g.manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.n, generator=g).tolist()
        per_rank = math.ceil(self.n / self.world)
        order += order[:per_rank * self.world - self.n]  # equal shares: pad by repeating
        return order[self.rank::self.world]

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        mine = self._indices()
        batches = [mine[i:i + self.batch] for i in range(0, len(mine), self.batch)]
        for batch in batches[self.start:]:
            yield [(self.epoch, i) for i in batch]

    def __len__(self) -> int:
        return math.ceil(math.ceil(self.n / self.world) / self.batch)
