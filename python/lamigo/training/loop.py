"""The training loop both models share: data-parallel batches of random crops, AdamW with a
warm-up and cosine learning rate, a tqdm bar, and periodic checkpoints it resumes from.

On a GPU: bfloat16 autocast (the weights and the optimizer stay float32, so a checkpoint resumes
with or without it, on any machine), channels-last memory, DataLoader worker processes and
torch.compile of the training forward pass."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from lamigo.errors import ConfigError
from lamigo.training.checkpoint import (
    LAST_CHECKPOINT,
    TrainingCheckpoint,
    load_checkpoint,
    save_checkpoint,
)
from lamigo.training.data import Photo, RandomCropDataset
from lamigo.training.distributed import Distributed

__all__ = ["TrainSettings", "TrainingTask", "TrainResult", "learning_rate", "train"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainSettings:
    """How long and how a run trains. `batch_size` is per process."""

    steps: int = 5000
    batch_size: int = 16
    lr: float = 1e-3
    crop: int = 64
    seed: int = 0
    warmup_steps: int = 100
    weight_decay: float = 0.01
    checkpoint_every: int = 250
    log_every: int = 50
    # DataLoader processes making crops; 0 makes them in the training process.
    workers: int = 0
    # bfloat16 autocast of the forward pass and the loss (the weights stay float32).
    bf16: bool = False
    # Images and convolution weights in channels-last memory (NHWC: faster convolutions on GPUs).
    channels_last: bool = False
    # torch.compile backend of the training forward pass ("inductor"), or None for eager.
    compile: str | None = None
    # Seconds of training after which the run stops early, checkpointed (None: no limit).
    time_limit: float | None = None

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ConfigError("steps, batch size and learning rate must be positive")
        if self.checkpoint_every < 1 or self.log_every < 1 or self.workers < 0:
            raise ConfigError("checkpoint and log intervals must be positive, workers at least 0")
        if self.time_limit is not None and self.time_limit <= 0:
            raise ConfigError("the time limit must be positive")

    def autocast(self, device: torch.device) -> contextlib.AbstractContextManager:
        """The forward pass's precision context on `device`."""
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=torch.bfloat16)


class TrainingTask(Protocol):
    """One model's objective: what `train` optimises."""

    kind: str
    model: nn.Module
    # Crop sides must be multiples of this (the model's input size multiple in pixels).
    crop_multiple: int

    def config_dict(self) -> dict:
        """The model's config, stored in checkpoints."""
        ...

    def initialize(self, batches: list[torch.Tensor]) -> None:
        """Data-dependent initialisation before the first step of a fresh run."""
        ...

    def loss(self, model: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """Images [B,3,crop,crop] -> (scalar loss, metrics). `model` may be DDP-wrapped."""
        ...

    def after_step(self, step: int, optimizer: torch.optim.Optimizer) -> dict[str, float]:
        """Maintenance after optimizer step `step` (e.g. codebook restarts, the
        discriminator's step) -> extra metrics."""
        ...

    def extra_state(self) -> dict:
        """What the task keeps beside the model, for checkpoints (may be empty)."""
        ...

    def load_extra_state(self, state: dict, step: int) -> None:
        """Restore `extra_state` of a checkpoint taken at `step`."""
        ...


@dataclass
class TrainResult:
    """Where a run ended."""

    checkpoint: Path
    step: int
    seconds: float
    metrics: dict[str, float]


def learning_rate(settings: TrainSettings, step: int) -> float:
    """Linear warm-up, then a cosine decay to a tenth of `lr` at `steps`."""
    if step < settings.warmup_steps:
        return settings.lr * (step + 1) / settings.warmup_steps
    progress = min(1.0, (step - settings.warmup_steps) / max(1, settings.steps - settings.warmup_steps))
    return settings.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def _batch_indices(dataset_length: int, settings: TrainSettings, dist: Distributed, start_step: int) -> list[int]:
    sampler = DistributedSampler(
        range(dataset_length), num_replicas=dist.world_size, rank=dist.rank,
        shuffle=True, seed=settings.seed, drop_last=True,
    )
    return list(sampler)[start_step * settings.batch_size :]


def _out_of_time(started: float, limit: float, dist: Distributed) -> bool:
    """Whether the run has trained `limit` seconds, as rank 0 sees it (every process stops at
    the same step)."""
    over = torch.tensor([float(time.monotonic() - started > limit)], device=dist.device)
    return bool(dist.broadcast(over).item())


def train(
    task: TrainingTask,
    photos: list[Photo],
    settings: TrainSettings,
    out: str | Path,
    dist: Distributed,
    resume: bool = False,
) -> TrainResult:
    """Train `task.model` for `settings.steps` optimizer steps, checkpointing to `out`/last.pt.

    With `resume`, continues from `out`/last.pt when it exists (weights, optimizer, step);
    without it, refuses to overwrite one. Under torchrun (WORLD_SIZE > 1) each process trains
    on its own share of the crops and DistributedDataParallel averages the gradients.
    """
    if settings.crop % task.crop_multiple:
        raise ConfigError(f"the {task.kind} needs crops that are multiples of {task.crop_multiple} pixels, "
                          f"got {settings.crop}")
    out = Path(out)
    checkpoint_path = out / LAST_CHECKPOINT
    memory_format = torch.channels_last if settings.channels_last else torch.preserve_format
    model = task.model.to(dist.device, memory_format=memory_format)
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=settings.lr, weight_decay=settings.weight_decay, betas=(0.9, 0.99))
    dataset = RandomCropDataset(photos, settings.crop, settings.steps * settings.batch_size * dist.world_size, settings.seed)

    step = 0
    if checkpoint_path.is_file() and not resume:
        raise ConfigError(f"{checkpoint_path} exists: pass --resume to continue it, or choose another --out")
    if resume and checkpoint_path.is_file():
        checkpoint = load_checkpoint(checkpoint_path, task.kind)
        if checkpoint.config != task.config_dict():
            raise ConfigError(f"{checkpoint_path} holds a {task.kind} of another size: {checkpoint.config}")
        model.load_state_dict(checkpoint.model)
        optimizer.load_state_dict(checkpoint.optimizer)
        step = checkpoint.step
        task.load_extra_state(checkpoint.task_state, step)
        logger.info("resuming %s from step %d of %s", task.kind, step, checkpoint_path)
    else:
        if resume:
            logger.info("no checkpoint at %s yet: starting a fresh run", checkpoint_path)
        torch.manual_seed(settings.seed + dist.rank)
        first = [torch.stack([dataset[i] for i in range(k, k + settings.batch_size)]).to(dist.device)
                 for k in range(0, 8 * settings.batch_size, settings.batch_size)]
        task.initialize(first)
    torch.manual_seed(settings.seed * 1000 + step + dist.rank)

    wrapped: nn.Module = model
    if dist.enabled:
        device_ids = [dist.device.index] if dist.device.type == "cuda" else None
        wrapped = nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
    if settings.compile:
        # The module is compiled in place: checkpoints keep the plain parameter names.
        wrapped = torch.compile(wrapped, backend=settings.compile)

    def write_checkpoint(at_step: int) -> None:
        if dist.is_main:
            save_checkpoint(checkpoint_path, TrainingCheckpoint(
                kind=task.kind, config=task.config_dict(), model=model.state_dict(),
                optimizer=optimizer.state_dict(), step=at_step,
                settings=dataclasses.asdict(settings) | {"world_size": dist.world_size},
                task_state=task.extra_state(),
            ))
        dist.barrier()

    indices = _batch_indices(len(dataset), settings, dist, step)
    workers = dict(persistent_workers=True, prefetch_factor=4) if settings.workers else {}
    loader = DataLoader(dataset, batch_size=settings.batch_size, sampler=indices, drop_last=True,
                        num_workers=settings.workers, pin_memory=dist.device.type == "cuda", **workers)
    progress = tqdm(total=settings.steps, initial=step, desc=f"training {task.kind}", unit="step",
                    disable=not dist.is_main, dynamic_ncols=True)
    metrics: dict[str, float] = {}
    started = time.monotonic()
    model.train()
    for images in loader:
        if step >= settings.steps:
            break
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(settings, step)
        images = images.to(dist.device, non_blocking=True, memory_format=memory_format)
        with settings.autocast(dist.device):
            loss, metrics = task.loss(wrapped, images)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        step += 1
        metrics |= task.after_step(step, optimizer)
        progress.update(1)
        if step % settings.log_every == 0 or step == settings.steps:
            progress.set_postfix({key: f"{value:.4g}" for key, value in metrics.items()})
            if dist.is_main:
                logger.info("%s step %d: %s", task.kind, step,
                            ", ".join(f"{key} {value:.4g}" for key, value in metrics.items()))
        if step % settings.checkpoint_every == 0:
            write_checkpoint(step)
        if settings.time_limit is not None and _out_of_time(started, settings.time_limit, dist):
            logger.info("%s: time limit of %.0f s reached at step %d of %d; --resume continues",
                        task.kind, settings.time_limit, step, settings.steps)
            break
    progress.close()
    if step % settings.checkpoint_every:
        write_checkpoint(step)
    model.eval()
    return TrainResult(checkpoint_path, step, time.monotonic() - started, metrics)
