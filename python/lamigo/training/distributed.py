"""Data-parallel context: one process per device under `torchrun`, a no-op otherwise."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

__all__ = ["Distributed", "init_distributed", "unwrap"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Distributed:
    """Rank, world size and device of this process. `enabled` when WORLD_SIZE > 1."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """The process that logs, shows progress and writes checkpoints."""
        return self.rank == 0

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum of `tensor` over all processes (in place; itself when not distributed)."""
        if self.enabled:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def broadcast(self, tensor: torch.Tensor) -> torch.Tensor:
        """Rank 0's `tensor` in every process (in place)."""
        if self.enabled:
            dist.broadcast(tensor, src=0)
        return tensor

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()


def init_distributed(device: str | None = None) -> Distributed:
    """Join the process group that `torchrun` describes in WORLD_SIZE/RANK/LOCAL_RANK.

    Each process takes GPU LOCAL_RANK when CUDA is used (NCCL), else the CPU (gloo). `device`
    overrides the choice of cuda or cpu; the default is cuda when available.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    kind = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu")).type
    if kind == "cuda":
        chosen = torch.device("cuda", local_rank if world_size > 1 else torch.device(device or "cuda").index or 0)
        torch.cuda.set_device(chosen)
    else:
        chosen = torch.device(device or kind)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if kind == "cuda" else "gloo")
        logger.info("process %d of %d on %s", rank, world_size, chosen)
    return Distributed(rank, world_size, chosen)


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a torch.compile and a DistributedDataParallel wrapper."""
    model = getattr(model, "_orig_mod", model)
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
