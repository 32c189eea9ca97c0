"""The denoiser's objective (Paella): replace a random fraction r of a crop's VQGAN tokens by
random codewords and predict the original tokens (cross-entropy, label smoothing 0.1).

With `masking="receiver"` (the default) two thirds of the samples look like what the LaMI
decoder faces instead: a masking policy's mask (PRM, a PDM pattern or EBM's lowest distances,
at a random ratio) joined with the tokens of lost packets (the link's own token-to-packet
assignment, a random interleaver, a random packet error rate); only masked tokens are noised,
each with probability r, as the sampler's re-noising does, and the loss counts the masked
tokens. The rest keep Paella's uniform noising over the whole map.

There are no captions to train on. Half the samples get the empty caption and half a random
string of bytes, so the denoiser learns to ignore captions: it is effectively unconditional,
and classifier-free guidance leaves its predictions nearly unchanged.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lamigo.errors import ConfigError
from lamigo.link.interleave import INTERLEAVERS, token_groups
from lamigo.masking.policies import PDM_PATTERNS, EntropyBasedMasking, pseudo_random_mask, tile_pattern
from lamigo.models.conditions import ByteConditionBuilder
from lamigo.models.paella import Denoiser, PaellaConfig
from lamigo.models.vqgan import VQGAN
from lamigo.training.distributed import Distributed

__all__ = ["DenoiserTask", "noise_tokens", "receiver_mask", "CONDITIONS_SEED", "MASKINGS"]

logger = logging.getLogger(__name__)

# The ByteConditionBuilder seed written into the exported model set.
CONDITIONS_SEED = 0
MAX_RANDOM_CAPTION = 48
# "paella": uniform noising only; "receiver": also the masks a receiver faces (module docstring).
MASKINGS = ("paella", "receiver")
# Ranges the receiver-like masks are drawn from.
POLICY_RATIOS = (0.1, 0.75)
PACKET_ERROR_RATES = (0.0, 0.3)
TOKENS_PER_PACKET = (48, 256)


def noise_tokens(
    indices: torch.Tensor, r: torch.Tensor, codebook_size: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace each token of [B,h,w] `indices` with probability r[b] by a uniformly random
    codeword -> (noised indices, boolean map of the replaced positions)."""
    replaced = torch.rand(indices.shape, device=indices.device, generator=generator) < r[:, None, None]
    random_tokens = torch.randint(codebook_size, indices.shape, device=indices.device, generator=generator)
    return torch.where(replaced, random_tokens, indices), replaced


def receiver_mask(distances: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A mask like a LaMI receiver's: PRM, a PDM pattern or EBM on `distances` [h, w] (the
    encoder's distances to the codewords), then, half the time, the tokens of lost packets."""
    shape = distances.shape
    policy = rng.choice(("prm", "pdm", "ebm"))
    ratio = rng.uniform(*POLICY_RATIOS)
    if policy == "prm":
        mask = pseudo_random_mask(shape, round(ratio * distances.size), int(rng.integers(2**31)))
    elif policy == "pdm":
        pattern = PDM_PATTERNS[rng.choice(list(PDM_PATTERNS))]
        shift = rng.integers(0, pattern.shape, size=2)
        mask = tile_pattern(np.roll(pattern, shift, axis=(0, 1)), shape)
    else:
        mask = EntropyBasedMasking(ratio=ratio).select(shape, distances)
    if rng.random() < 0.5:
        sent = np.flatnonzero(~mask)
        if sent.size:
            packets = -(-sent.size // int(rng.integers(*TOKENS_PER_PACKET)))  # at least 1, at most sent.size
            groups = token_groups(sent.size, packets, rng.choice(INTERLEAVERS), int(rng.integers(2**31)))
            packet_error_rate = rng.uniform(*PACKET_ERROR_RATES)
            lost = [group for group in groups if rng.random() < packet_error_rate]
            if lost:
                mask = mask.copy()
                mask.reshape(-1)[sent[np.concatenate(lost)]] = True
    return mask


class DenoiserTask:
    """Trains a Paella denoiser on the tokens a frozen VQGAN gives the crops."""

    kind = "denoiser"

    def __init__(
        self,
        config: PaellaConfig,
        vqgan: VQGAN,
        dist: Distributed,
        masking: str = "receiver",
        initial_weights: dict[str, torch.Tensor] | None = None,
        label_smoothing: float = 0.1,
        seed: int = 0,
    ) -> None:
        if masking not in MASKINGS:
            raise ConfigError(f"unknown masking {masking!r}; choose one of {', '.join(MASKINGS)}")
        if vqgan.codebook_size != config.codebook_size:
            raise ConfigError(f"the VQGAN has {vqgan.codebook_size} codewords, the denoiser {config.codebook_size}")
        torch.manual_seed(seed)
        self.model = Denoiser(config)
        if initial_weights is not None:
            self.model.load_state_dict(initial_weights)
        self.masking = masking
        self.seed = seed
        self.rng = np.random.default_rng(seed)
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
        """Nothing data-dependent: Paella's own initialisation (or the given weights) stands."""

    def extra_state(self) -> dict:
        return {}

    def load_extra_state(self, state: dict, step: int) -> None:
        # A resumed run draws other masks than an unbroken one would: reseed by step.
        self.rng = np.random.default_rng((self.seed, step))

    def random_captions(self, count: int) -> list[str]:
        """Half empty, half random printable ASCII of random length."""
        captions = []
        for _ in range(count):
            length = int(torch.randint(1, MAX_RANDOM_CAPTION + 1, ()))
            empty = bool(torch.rand(()) < 0.5)
            captions.append("" if empty else bytes(torch.randint(32, 127, (length,)).tolist()).decode("ascii"))
        return captions

    def loss(self, model: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        # The tokens a transmitter sends: float32 encoding, whatever the training precision.
        with torch.no_grad(), torch.autocast(images.device.type, enabled=False):
            indices, distances = self.vqgan.encode(images.float())
        batch = indices.shape[0]
        # Paella's noise levels: r = 1 - U[0,1), at least 0.001.
        r = (1 - torch.rand(batch, device=indices.device)).clamp(0.001, 1.0)
        noised, replaced = noise_tokens(indices, r, self.model.codebook_size)
        scope = torch.ones_like(replaced)
        if self.masking == "receiver":
            # Two in three samples: noise only inside a receiver's mask (the sampler's scope).
            for b, row in enumerate(distances.cpu().numpy()):
                if self.rng.random() < 2 / 3:
                    scope[b] = torch.from_numpy(receiver_mask(row, self.rng)).to(scope.device)
            replaced &= scope
            noised = torch.where(replaced, noised, indices)
        cond = self.conditions.encode(self.random_captions(batch))
        logits = model(noised, r, cond)
        per_token = F.cross_entropy(logits, indices, label_smoothing=self.label_smoothing, reduction="none")
        loss = (per_token * scope).sum() / scope.sum().clamp_min(1)
        with torch.no_grad():
            correct = logits.argmax(dim=1) == indices
            accuracy = correct[replaced].float().mean() if replaced.any() else correct.float().mean()
        return loss, {"loss": float(loss.detach()), "acc_replaced": float(accuracy)}

    def after_step(self, step: int, optimizer: torch.optim.Optimizer) -> dict[str, float]:
        return {}
