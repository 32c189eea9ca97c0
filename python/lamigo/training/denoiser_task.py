"""The denoiser's objective (Paella): replace a random fraction r of a crop's VQGAN tokens by
random codewords and predict the original tokens (cross-entropy, label smoothing 0.1).

There are no captions to train on. Half the samples get the empty caption and half a random
string of bytes, so the denoiser learns to ignore captions: it is effectively unconditional,
and classifier-free guidance leaves its predictions nearly unchanged.
"""

from __future__ import annotations

import dataclasses
import logging

import torch
import torch.nn.functional as F
from torch import nn

from lamigo.models.conditions import ByteConditionBuilder
from lamigo.models.paella import Denoiser, PaellaConfig
from lamigo.models.vqgan import VQGAN
from lamigo.training.distributed import Distributed

__all__ = ["DenoiserTask", "noise_tokens", "CONDITIONS_SEED"]

logger = logging.getLogger(__name__)

# The ByteConditionBuilder seed written into the exported model set.
CONDITIONS_SEED = 0
MAX_RANDOM_CAPTION = 48


def noise_tokens(
    indices: torch.Tensor, r: torch.Tensor, codebook_size: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace each token of [B,h,w] `indices` with probability r[b] by a uniformly random
    codeword -> (noised indices, boolean map of the replaced positions)."""
    replaced = torch.rand(indices.shape, device=indices.device, generator=generator) < r[:, None, None]
    random_tokens = torch.randint(codebook_size, indices.shape, device=indices.device, generator=generator)
    return torch.where(replaced, random_tokens, indices), replaced


class DenoiserTask:
    """Trains a Paella denoiser on the tokens a frozen VQGAN gives the crops."""

    kind = "denoiser"

    def __init__(
        self, config: PaellaConfig, vqgan: VQGAN, dist: Distributed, label_smoothing: float = 0.1, seed: int = 0
    ) -> None:
        torch.manual_seed(seed)
        self.model = Denoiser(config)
        self.crop_multiple = vqgan.downscale * config.size_multiple
        # No CLIP conditions without captions: those mappers stay at their initial values.
        for mapper in (self.model.clip_mapper, self.model.clip_image_mapper):
            mapper.requires_grad_(False)
        self.vqgan = vqgan.to(dist.device).eval().requires_grad_(False)
        self.conditions = ByteConditionBuilder(config.byt5_dim, seed=CONDITIONS_SEED, device=dist.device)
        self.label_smoothing = label_smoothing
        self.dist = dist

    def config_dict(self) -> dict:
        return dataclasses.asdict(self.model.config)

    def initialize(self, batches: list[torch.Tensor]) -> None:
        """Nothing data-dependent: Paella's own initialisation stands."""

    def random_captions(self, count: int) -> list[str]:
        """Half empty, half random printable ASCII of random length."""
        captions = []
        for _ in range(count):
            length = int(torch.randint(1, MAX_RANDOM_CAPTION + 1, ()))
            empty = bool(torch.rand(()) < 0.5)
            captions.append("" if empty else bytes(torch.randint(32, 127, (length,)).tolist()).decode("ascii"))
        return captions

    def loss(self, model: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        with torch.no_grad():
            indices, _ = self.vqgan.encode(images)
        batch = indices.shape[0]
        # Paella's noise levels: r = 1 - U[0,1), at least 0.001.
        r = (1 - torch.rand(batch, device=indices.device)).clamp(0.001, 1.0)
        noised, replaced = noise_tokens(indices, r, self.model.codebook_size)
        cond = self.conditions.encode(self.random_captions(batch))
        logits = model(noised, r, cond)
        loss = F.cross_entropy(logits, indices, label_smoothing=self.label_smoothing)
        with torch.no_grad():
            correct = logits.argmax(dim=1) == indices
            accuracy = correct[replaced].float().mean() if replaced.any() else correct.float().mean()
        return loss, {"loss": float(loss.detach()), "acc_replaced": float(accuracy)}

    def after_step(self, step: int, optimizer: torch.optim.Optimizer) -> dict[str, float]:
        return {}
