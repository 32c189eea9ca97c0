"""Latent mixture integration (LaMI): Algorithm 2 and eq. 12-13 of the LaMI-GO paper.

The sampler is Paella's token sampler with one change: after every step the received indices
are written back at every unmasked position (eq. 12), so they never change and the denoiser
always sees them. With an all-True mask it is plain Paella sampling from pure noise.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Protocol, TypeVar

import numpy as np
import torch
from tqdm.auto import tqdm

from lamigo.errors import ConfigError, MessageError

logger = logging.getLogger(__name__)

__all__ = ["PAPER_STEP_SETTINGS", "TokenDenoiser", "check_settings", "combine_masks", "lami_sample"]

# (tau, T) pairs the paper evaluates (Fig. 8, 9, 16 and Table X): re-noising / denoising steps.
PAPER_STEP_SETTINGS: tuple[tuple[int, int], ...] = (
    (4, 8),
    (28, 32),
    (50, 62),
    (94, 100),
    (194, 200),
)


class TokenDenoiser(Protocol):
    """What the sampler needs from a Paella-style denoiser."""

    codebook_size: int

    def __call__(
        self, indices: torch.Tensor, r: torch.Tensor, cond: Mapping[str, torch.Tensor]
    ) -> torch.Tensor:
        """Logits [B, K, H, W] for token map `indices` [B, H, W] at noise level `r` [B]."""
        ...


MaskT = TypeVar("MaskT", np.ndarray, torch.Tensor)


def combine_masks(policy_mask: MaskT, lost_mask: MaskT | None = None) -> MaskT:
    """Positions the receiver must regenerate: masked by the policy or lost on the link.

    Both masks are boolean with True = missing and the same shape ([h', w'] or [B, h', w']).
    Returns a new mask of the same kind (numpy or torch) as `policy_mask`.
    """
    if lost_mask is None:
        return policy_mask.copy() if isinstance(policy_mask, np.ndarray) else policy_mask.clone()
    if tuple(policy_mask.shape) != tuple(lost_mask.shape):
        raise ConfigError(
            f"policy mask {tuple(policy_mask.shape)} and lost-token mask "
            f"{tuple(lost_mask.shape)} differ in shape"
        )
    if isinstance(policy_mask, torch.Tensor):
        lost = torch.as_tensor(lost_mask, device=policy_mask.device)
        return policy_mask.bool() | lost.bool()
    return np.logical_or(policy_mask, np.asarray(lost_mask))


def check_settings(steps: int, renoise: int, temperature: tuple[float, float]) -> None:
    """Raise ConfigError unless 1 <= T, 0 <= tau <= T and both temperatures are positive."""
    if steps < 1:
        raise ConfigError(f"denoising steps T must be at least 1, got {steps}")
    if not 0 <= renoise <= steps:
        raise ConfigError(f"re-noising steps tau must lie in [0, T={steps}], got {renoise}")
    if min(temperature) <= 0:
        raise ConfigError(f"sampling temperatures must be positive, got {temperature}")


def _check_inputs(
    indices: torch.Tensor, mask: torch.Tensor, codebook_size: int, plain: bool
) -> None:
    if indices.dim() != 3 or tuple(mask.shape) != tuple(indices.shape):
        raise ConfigError(
            f"indices and mask must both be [B, H, W], got {tuple(indices.shape)} and "
            f"{tuple(mask.shape)}"
        )
    if mask.dtype != torch.bool:
        raise ConfigError(f"mask must be a BoolTensor, got {mask.dtype}")
    if plain:
        return
    received = indices[~mask]
    if received.numel() and (received.min() < 0 or received.max() >= codebook_size):
        raise MessageError(
            f"received (unmasked) indices must lie in [0, {codebook_size}), got "
            f"[{int(received.min())}, {int(received.max())}]; lost tokens belong in the mask"
        )


@torch.inference_mode()
def lami_sample(
    denoiser: TokenDenoiser,
    indices: torch.Tensor,
    mask: torch.Tensor,
    cond: Mapping[str, torch.Tensor],
    uncond: Mapping[str, torch.Tensor] | None,
    *,
    steps: int,
    renoise: int,
    cfg: float,
    temperature: tuple[float, float] = (1.0, 0.2),
    seed: int = 0,
    plain: bool = False,
    progress: bool = False,
) -> torch.Tensor:
    """Regenerate the masked tokens of a batch of index maps with latent mixture integration.

    Args:
        denoiser: Paella-style denoiser, ``denoiser(indices, r, cond) -> logits [B, K, H, W]``,
            with a ``codebook_size`` attribute (K).
        indices: received index maps, LongTensor [B, H, W]; values at masked positions are
            ignored (-1 is fine there).
        mask: BoolTensor [B, H, W], True = regenerate (policy mask united with lost tokens,
            see :func:`combine_masks`).
        cond: condition tensors, batch-first with batch B; passed to the denoiser unchanged.
        uncond: the same keys and shapes for the empty caption, used for classifier-free
            guidance; may be None only when ``cfg == 1``.
        steps: T, the number of denoising steps.
        renoise: tau; after each of the first tau steps a fraction t_{i+1} of the regenerated
            tokens is reset to the initial noise (Paella's re-noising Gamma).
        cfg: guidance scale, logits = cfg * cond + (1 - cfg) * uncond; 1 disables guidance and
            halves the denoiser's work.
        temperature: sampling temperature at the first and last step, linear in between.
        seed: seeds one torch.Generator per message on the tensors' device, so a message
            draws the same random numbers alone or inside any batch (deterministic on CPU; its
            result still moves a little where the batch pads its caption's conditions).
        plain: the paper's "without LaMI" ablation (Fig. 13): Paella sampling from pure noise
            with the same conditions, received indices ignored.
        progress: show a tqdm bar over the steps.

    Returns:
        LongTensor [B, H, W]: equal to ``indices`` wherever ``mask`` is False (unless ``plain``).
    """
    check_settings(steps, renoise, temperature)
    codebook_size = denoiser.codebook_size
    _check_inputs(indices, mask, codebook_size, plain)
    guided = cfg != 1.0
    if guided and uncond is None:
        raise ConfigError(f"classifier-free guidance (cfg={cfg}) needs the uncond conditions")
    if plain:
        mask = torch.ones_like(mask)
    if not bool(mask.any()):
        return indices.clone()

    device = indices.device
    batch = indices.shape[0]
    generators = [torch.Generator(device=device).manual_seed(seed) for _ in range(batch)]
    # Step 1 (eq. 12-13, i = 1): masked positions start from random codewords. The same noise
    # map is the source Gamma re-noises from, as in Paella.
    initial_noise = torch.stack([
        torch.randint(0, codebook_size, indices.shape[1:], generator=g, device=device) for g in generators
    ])
    current = torch.where(mask, initial_noise, indices)

    t_schedule = torch.linspace(1.0, 0.0, steps + 1).tolist()
    temperatures = torch.linspace(temperature[0], temperature[1], steps).tolist()
    if guided:
        # One forward pass for both halves of classifier-free guidance.
        model_cond = {key: torch.cat([cond[key], uncond[key]]) for key in cond}
    else:
        model_cond = dict(cond)
    model_batch = 2 * batch if guided else batch
    logger.debug(
        "LaMI: B=%d, %s tokens to regenerate of %d, tau/T=%d/%d, cfg=%s",
        batch, int(mask.sum()), mask.numel(), renoise, steps, cfg,
    )

    # Coordinates of the masked tokens, found once: gathering and scattering by index keeps
    # every step free of host-device synchronisation (boolean indexing would sync each time)
    # and copies only the masked positions' logits.
    batch_index, row_index, column_index = mask.nonzero(as_tuple=True)
    # nonzero lists message 0's tokens first, then message 1's, ...: each message samples its own
    # rows with its own generator (one host sync here, none in the loop).
    tokens_per_message = mask.sum(dim=(1, 2)).tolist()
    for i in tqdm(range(steps), desc="LaMI", unit="step", disable=not progress):
        r = torch.full((model_batch,), t_schedule[i], device=device)
        model_input = torch.cat([current, current]) if guided else current
        logits = denoiser(model_input, r, model_cond)
        # Only masked positions are sampled: eq. 12 overwrites every other one anyway.
        masked_logits = logits[batch_index, :, row_index, column_index].float()
        if guided:
            uncond_logits = logits[batch_index + batch, :, row_index, column_index].float()
            # cfg * cond + (1 - cfg) * uncond, in place: these [tokens, K] tensors are large.
            masked_logits = uncond_logits.lerp_(masked_logits, cfg)
        # The full logits are the largest tensor of a step; free them before the next forward.
        del logits
        probs = torch.softmax(masked_logits.div_(temperatures[i]), dim=-1)
        sampled = torch.cat([
            torch.multinomial(rows, 1, generator=g).squeeze(1) if len(rows) else rows.new_empty(0, dtype=torch.long)
            for rows, g in zip(probs.split(tokens_per_message), generators)
        ])
        # Eq. 12: received positions keep their indices, masked ones take the prediction.
        current = current.index_put((batch_index, row_index, column_index), sampled)
        if i < renoise:
            # Gamma: each token goes back to its initial noise with probability t_{i+1}; at
            # received positions eq. 12 would put the received index straight back.
            renoised = torch.stack([torch.rand(indices.shape[1:], generator=g, device=device) for g in generators])
            renoised = (renoised < t_schedule[i + 1]) & mask
            current = torch.where(renoised, initial_noise, current)
    return current
