"""Latent mixture integration (LaMI): Algorithm 2 and eq. 12-13 of the LaMI-GO paper.

The sampler is Paella's token sampler with one change: after every step the received indices
are written back at every unmasked position (eq. 12), so they never change in the result.
Whether Paella's re-noising also touches them in the denoiser's input is
`DecoderSettings.renoise_scope`. With an all-True mask it is plain Paella sampling from pure
noise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np
import torch
from tqdm.auto import tqdm

from lamigo.errors import Cancelled, ConfigError, MessageError
from lamigo.lami.settings import DecoderSettings

logger = logging.getLogger(__name__)

__all__ = ["PAPER_STEP_SETTINGS", "TokenDenoiser", "classifier_free_guidance", "combine_masks", "exponential_race",
           "lami_sample"]

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


Conditions = Mapping[str, torch.Tensor]


def classifier_free_guidance(cond_logits: torch.Tensor, uncond_logits: torch.Tensor, scale: float) -> torch.Tensor:
    """cfg * cond + (1 - cfg) * uncond, computed in place in `uncond_logits` (large tensors)."""
    return uncond_logits.lerp_(cond_logits, scale)


@dataclass(frozen=True)
class _Pass:
    """One forward pass of a step: the messages it runs, whose conditions share one shape (so
    no message is padded for another), and where the logits of their masked tokens go among
    the step's rows (row half * N + n is token n of the cond half, 0, or the uncond half, 1)."""

    messages: torch.Tensor
    cond: dict[str, torch.Tensor]
    token_batch_rows: torch.Tensor
    token_rows: torch.Tensor
    token_columns: torch.Tensor
    destination: torch.Tensor


def _per_message(conditions: Conditions | Sequence[Conditions], batch: int, what: str) -> list[Conditions]:
    if isinstance(conditions, Mapping):
        if any(value.shape[0] != batch for value in conditions.values()):
            raise ConfigError(f"{what} conditions must have batch {batch}")
        return [{key: value[b:b + 1] for key, value in conditions.items()} for b in range(batch)]
    if len(conditions) != batch:
        raise ConfigError(f"{len(conditions)} {what} conditions for {batch} messages")
    return list(conditions)


def _plan_passes(halves: list[list[Conditions]], tokens: tuple[torch.Tensor, ...]) -> list[_Pass]:
    """Group the halves of the messages whose conditions have equal shapes into passes.

    `tokens` are the masked tokens' (message, row, column), message by message. With one pass
    the destinations are all rows in order."""
    batch_index, row_index, column_index = tokens
    count = len(batch_index)
    groups: dict[tuple, list[tuple[int, int, Conditions]]] = {}
    for half, conditions in enumerate(halves):
        for message, cond in enumerate(conditions):
            signature = tuple(sorted((key, tuple(value.shape[1:]), value.dtype) for key, value in cond.items()))
            groups.setdefault(signature, []).append((half, message, cond))
    passes = []
    for members in groups.values():
        batch_rows, destination = [], []
        for position, (half, message, _) in enumerate(members):
            ids = (batch_index == message).nonzero(as_tuple=True)[0]
            batch_rows.append(torch.full_like(ids, position))
            destination.append(ids + half * count)
        destination = torch.cat(destination)
        passes.append(_Pass(
            messages=torch.tensor([message for _, message, _ in members], device=batch_index.device),
            cond={key: torch.cat([cond[key] for _, _, cond in members]) for key in members[0][2]},
            token_batch_rows=torch.cat(batch_rows),
            token_rows=row_index[destination % count],
            token_columns=column_index[destination % count],
            destination=destination,
        ))
    return passes


def _masked_logits(
    denoiser: TokenDenoiser, passes: list[_Pass], current: torch.Tensor, t: float, rows: int
) -> torch.Tensor:
    """Float32 logits [rows, K] of the masked tokens, each pass's gathered as soon as it ends
    (only masked positions are sampled: eq. 12 overwrites every other one anyway)."""
    masked = None
    for forward in passes:
        r = torch.full((len(forward.messages),), t, device=current.device)
        logits = denoiser(current.index_select(0, forward.messages), r, forward.cond)
        gathered = logits[forward.token_batch_rows, :, forward.token_rows, forward.token_columns].float()
        if len(passes) == 1:  # every row, in order
            return gathered
        if masked is None:
            masked = gathered.new_empty((rows, gathered.shape[1]))
        masked[forward.destination] = gathered
    return masked


def exponential_race(probs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One draw per row of `probs` [N, K] by torch.multinomial's own rule for a single draw,
    argmax(p / E) with E ~ Exp(1) drawn as ``empty_like(p).exponential_()``, but with E drawn
    where `generator` lives: a CPU generator makes any device draw exactly the indices the
    CPU's torch.multinomial draws, leaving the generator in the same state."""
    noise = torch.empty(probs.shape, dtype=probs.dtype, device=generator.device).exponential_(generator=generator)
    return (probs / noise.to(probs.device)).argmax(dim=1)


def _draw(probs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One multinomial draw per row of `probs` [N, K] -> LongTensor [N]."""
    if not len(probs):
        return probs.new_empty(0, dtype=torch.long)
    if generator.device.type == probs.device.type:
        return torch.multinomial(probs, 1, generator=generator).squeeze(1)
    return exponential_race(probs, generator)


@torch.inference_mode()
def lami_sample(
    denoiser: TokenDenoiser,
    indices: torch.Tensor,
    mask: torch.Tensor,
    cond: Conditions | Sequence[Conditions],
    uncond: Conditions | Sequence[Conditions] | None,
    settings: DecoderSettings,
    *,
    plain: bool = False,
    progress: bool = False,
    stop: Callable[[], bool] | None = None,
    portable_random: bool = False,
) -> torch.Tensor:
    """Regenerate the masked tokens of a batch of index maps with latent mixture integration.

    Step i (0-based) of T: the denoiser predicts every token of the current map at noise level
    t_i = 1 - i/T; the masked tokens take a multinomial draw from its tempered softmax, the
    received ones keep their indices (eq. 12). Before the first step the masked tokens are the
    initial noise (eq. 13, i = 1); after each of the first tau steps Paella's Gamma sends a
    fraction t_{i+1} of the tokens in `settings.renoise_scope` back to that noise. With an
    all-True mask (or ``plain``) this is Paella's own sampler, draw for draw.

    Args:
        denoiser: Paella-style denoiser, ``denoiser(indices, r, cond) -> logits [B, K, H, W]``,
            with a ``codebook_size`` attribute (K).
        indices: received index maps, LongTensor [B, H, W]; values at masked positions are
            ignored (-1 is fine there).
        mask: BoolTensor [B, H, W], True = regenerate (policy mask united with lost tokens,
            see :func:`combine_masks`).
        cond: the conditions, batch-first with batch B, or one dict per message (batch 1 each,
            of any sequence length): messages whose conditions differ in shape run in separate
            forward passes, so none is padded for another (the denoiser has no attention mask).
        uncond: the same for the empty caption of classifier-free guidance (Paella's is one
            ByT5 token long); may be None only when no step is guided.
        settings: steps, re-noising, guidance, temperatures and seed (`DecoderSettings`).
        plain: the paper's "without LaMI" ablation (Fig. 13): Paella sampling from pure noise
            with the same conditions, received indices ignored.
        progress: show a tqdm bar over the steps.
        stop: asked before every step; when it returns True the sampling ends with
            `lamigo.errors.Cancelled` (a service shutting down).
        portable_random: draw every random number from CPU generators, so that a GPU samples
            the very tokens the CPU samples with the same seed (up to the rounding of the
            logits); slower on a GPU, whose every step then draws its sampling noise on the
            CPU. Without it each message's generator lives on the tokens' device.

    Returns:
        LongTensor [B, H, W]: equal to ``indices`` wherever ``mask`` is False (unless ``plain``).
    """
    codebook_size = denoiser.codebook_size
    _check_inputs(indices, mask, codebook_size, plain)
    guided_steps = settings.guided_steps
    if guided_steps and uncond is None:
        raise ConfigError(f"classifier-free guidance (cfg={settings.cfg}) needs the uncond conditions")
    if plain:
        mask = torch.ones_like(mask)
    if not bool(mask.any()):
        return indices.clone()

    device = indices.device
    batch = indices.shape[0]
    random_device = torch.device("cpu") if portable_random else device
    generators = [torch.Generator(device=random_device).manual_seed(settings.seed) for _ in range(batch)]
    # The initial noise map of Paella, over every position: the masked tokens start from it
    # and Gamma re-noises from it.
    initial_noise = torch.stack([
        torch.randint(0, codebook_size, indices.shape[1:], generator=g, device=random_device) for g in generators
    ]).to(device)
    received = torch.where(mask, initial_noise, indices)
    renoise_scope = mask if settings.renoise_scope == "masked" else torch.ones_like(mask)
    current = received

    t_schedule = torch.linspace(1.0, 0.0, settings.steps + 1).tolist()
    temperatures = torch.linspace(*settings.temperature, settings.steps).tolist()
    logger.debug(
        "LaMI: B=%d, %s tokens to regenerate of %d, tau/T=%d/%d, %s re-noising, cfg=%s for %d steps",
        batch, int(mask.sum()), mask.numel(), settings.renoise, settings.steps, settings.renoise_scope,
        settings.cfg, guided_steps,
    )

    # Coordinates of the masked tokens, found once: gathering and scattering by index keeps
    # every step free of host-device synchronisation (boolean indexing would sync each time)
    # and copies only the masked positions' logits.
    tokens = batch_index, row_index, column_index = mask.nonzero(as_tuple=True)
    # nonzero lists message 0's tokens first, then message 1's, ...: each message samples its own
    # rows with its own generator (one host sync here, none in the loop).
    tokens_per_message = mask.sum(dim=(1, 2)).tolist()
    count = len(batch_index)
    cond_rows = _per_message(cond, batch, "cond")
    guided_passes = _plan_passes([cond_rows, _per_message(uncond, batch, "uncond")], tokens) if guided_steps else []
    cond_passes = _plan_passes([cond_rows], tokens) if guided_steps < settings.steps else []
    for i in tqdm(range(settings.steps), desc="LaMI", unit="step", disable=not progress):
        if stop is not None and stop():
            raise Cancelled(f"LaMI sampling stopped before step {i + 1} of {settings.steps}")
        if i < guided_steps:
            both = _masked_logits(denoiser, guided_passes, current, t_schedule[i], 2 * count)
            masked_logits = classifier_free_guidance(both[:count], both[count:], settings.cfg)
        else:
            masked_logits = _masked_logits(denoiser, cond_passes, current, t_schedule[i], count)
        probs = torch.softmax(masked_logits.div_(temperatures[i]), dim=-1)
        sampled = torch.cat([_draw(rows, g) for rows, g in zip(probs.split(tokens_per_message), generators)])
        # Eq. 12: received positions keep their indices, masked ones take the prediction.
        current = received.index_put((batch_index, row_index, column_index), sampled)
        if i < settings.renoise:
            # Gamma: each token in scope goes back to its initial noise with probability t_{i+1}.
            draws = torch.stack([
                torch.rand(indices.shape[1:], generator=g, device=random_device) for g in generators
            ]).to(device)
            current = torch.where((draws < t_schedule[i + 1]) & renoise_scope, initial_noise, current)
    return current
