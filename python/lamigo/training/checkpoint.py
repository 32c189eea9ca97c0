"""Training checkpoints: model, optimizer and step in one file that loads with
`torch.load(weights_only=True)` (tensors, numbers, strings and containers; never code)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from lamigo.errors import WeightsError

__all__ = [
    "LAST_CHECKPOINT",
    "TrainingCheckpoint",
    "save_checkpoint",
    "load_checkpoint",
    "find_checkpoint",
]

logger = logging.getLogger(__name__)

LAST_CHECKPOINT = "last.pt"


@dataclass
class TrainingCheckpoint:
    """What a run needs to continue: the model kind ("vqgan" or "denoiser") and its config,
    the weights, the optimizer state, the step reached and the run's settings."""

    kind: str
    config: dict
    model: dict[str, torch.Tensor]
    optimizer: dict
    step: int
    settings: dict
    # What the task keeps beside the model (e.g. the VQGAN's discriminator and its optimizer).
    task_state: dict = field(default_factory=dict)


def save_checkpoint(path: str | Path, checkpoint: TrainingCheckpoint) -> Path:
    """Write atomically (a temporary file renamed over the old one), so a kill mid-write
    leaves the previous checkpoint intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    torch.save(
        {
            "kind": checkpoint.kind,
            "config": checkpoint.config,
            "model": {key: value.detach().cpu() for key, value in checkpoint.model.items()},
            "optimizer": checkpoint.optimizer,
            "step": checkpoint.step,
            "settings": checkpoint.settings,
            "task_state": checkpoint.task_state,
        },
        temporary,
    )
    os.replace(temporary, path)
    logger.debug("saved step %d to %s", checkpoint.step, path)
    return path


def find_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or the last checkpoint in a checkpoint folder."""
    path = Path(path).expanduser()
    candidate = path / LAST_CHECKPOINT if path.is_dir() else path
    if not candidate.is_file():
        raise WeightsError(f"training checkpoint not found: expected {candidate}")
    return candidate


def load_checkpoint(path: str | Path, kind: str | None = None) -> TrainingCheckpoint:
    """Read a checkpoint written by `save_checkpoint` (a file or its folder). Raises
    WeightsError when it is missing, unreadable, or of another kind than `kind`."""
    path = find_checkpoint(path)
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
        checkpoint = TrainingCheckpoint(
            kind=raw["kind"],
            config=dict(raw["config"]),
            model=dict(raw["model"]),
            optimizer=raw["optimizer"],
            step=int(raw["step"]),
            settings=dict(raw["settings"]),
            task_state=dict(raw.get("task_state", {})),
        )
    except Exception as err:  # noqa: BLE001 - any parse failure means an unusable file
        raise WeightsError(f"cannot read training checkpoint {path}: {err}") from err
    if kind is not None and checkpoint.kind != kind:
        raise WeightsError(f"{path} is a {checkpoint.kind} checkpoint, expected a {kind} checkpoint")
    return checkpoint
