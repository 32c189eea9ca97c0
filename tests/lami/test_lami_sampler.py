"""Algorithm 2 (LaMI) on stand-in denoisers whose predictions are known in advance."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from lamigo.errors import Cancelled, ConfigError, LamigoError, MessageError
from lamigo.lami import DecoderSettings, combine_masks, lami_sample
from lamigo.lami.sampler import exponential_race
from lamigo.models.paella import Denoiser, PaellaConfig

K = 64
SHAPE = (2, 16, 16)


class PeakedDenoiser(nn.Module):
    """Predicts token cond["token"][b] everywhere with near certainty and records its calls."""

    def __init__(self, codebook_size: int = K) -> None:
        super().__init__()
        self.codebook_size = codebook_size
        self.calls: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, indices: torch.Tensor, r: torch.Tensor, cond: dict) -> torch.Tensor:
        self.calls.append((indices.clone(), r.clone()))
        batch, height, width = indices.shape
        logits = torch.zeros(batch, self.codebook_size, height, width)
        logits[torch.arange(batch), cond["token"]] = 30.0
        return logits


def received_and_mask(seed: int = 0, ratio: float = 0.3) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    indices = torch.randint(1, K, SHAPE, generator=generator)
    mask = torch.rand(SHAPE, generator=generator) < ratio
    return indices.masked_fill(mask, -1), mask


def token_cond(token: int, batch: int = SHAPE[0]) -> dict[str, torch.Tensor]:
    return {"token": torch.full((batch,), token)}


def test_received_positions_never_change_at_any_step() -> None:
    indices, mask = received_and_mask()
    denoiser = PeakedDenoiser()
    out = lami_sample(
        denoiser, indices, mask, token_cond(0), token_cond(5), DecoderSettings(steps=6, renoise=4, cfg=3.0)
    )
    assert len(denoiser.calls) == 6
    for model_input, _ in denoiser.calls:
        for half in model_input.chunk(2):  # conditional and unconditional halves of CFG
            assert torch.equal(half[~mask], indices[~mask])
    assert torch.equal(out[~mask], indices[~mask])


def test_masked_positions_take_the_prediction() -> None:
    indices, mask = received_and_mask()
    out = lami_sample(
        PeakedDenoiser(), indices, mask, token_cond(0), None, DecoderSettings(steps=4, renoise=3, cfg=1.0)
    )
    # Received indices are all >= 1, so every masked position changed.
    assert mask.any() and bool((out[mask] == 0).all())


def test_empty_mask_returns_the_input() -> None:
    indices, _ = received_and_mask(ratio=0.0)
    mask = torch.zeros(SHAPE, dtype=torch.bool)
    denoiser = PeakedDenoiser()
    out = lami_sample(denoiser, indices, mask, token_cond(0), None, DecoderSettings(steps=8, renoise=4, cfg=1.0))
    assert torch.equal(out, indices) and not denoiser.calls


def test_guidance_mixes_both_halves_of_one_forward() -> None:
    indices, mask = received_and_mask()
    denoiser = PeakedDenoiser()
    towards_cond = lami_sample(
        denoiser, indices, mask, token_cond(7), token_cond(9), DecoderSettings(steps=2, renoise=0, cfg=8.0)
    )
    assert all(model_input.shape[0] == 2 * SHAPE[0] for model_input, _ in denoiser.calls)
    assert bool((towards_cond[mask] == 7).all())
    # cfg = 0 keeps only the unconditional logits.
    towards_uncond = lami_sample(
        PeakedDenoiser(), indices, mask, token_cond(7), token_cond(9), DecoderSettings(steps=2, renoise=0, cfg=0.0)
    )
    assert bool((towards_uncond[mask] == 9).all())


class TwoTokenDenoiser(nn.Module):
    """Predicts token 1 with probability 3/4 and token 2 with 1/4 at every position."""

    codebook_size = K

    def forward(self, indices: torch.Tensor, r: torch.Tensor, cond: dict) -> torch.Tensor:
        logits = torch.full((indices.shape[0], K, *indices.shape[1:]), -1e9)
        logits[:, 1], logits[:, 2] = np.log(0.75), np.log(0.25)
        return logits


@pytest.mark.parametrize(
    ("steps", "temperature", "share_of_token_1"),
    # softmax(logits / temperature) at the last step: 3/4 at 1, 0.75**2 / (0.75**2 + 0.25**2) at 1/2.
    [(1, (1.0, 1.0), 0.75), (1, (0.5, 0.5), 0.9), (2, (1.0, 0.5), 0.9)],
)
def test_tokens_are_drawn_from_the_tempered_softmax(
    steps: int, temperature: tuple[float, float], share_of_token_1: float
) -> None:
    shape = (1, 64, 64)
    out = lami_sample(TwoTokenDenoiser(), torch.zeros(shape, dtype=torch.long),
                      torch.ones(shape, dtype=torch.bool), token_cond(0, 1), None,
                      DecoderSettings(steps=steps, renoise=0, cfg=1.0, temperature=temperature))
    assert set(out.unique().tolist()) == {1, 2}  # sampled, not the most likely token everywhere
    assert float((out == 1).float().mean()) == pytest.approx(share_of_token_1, abs=0.03)


def test_schedule_and_renoising_follow_paella() -> None:
    """t_i = linspace(1, 0, T+1)[i]; after step i < tau a fraction t_{i+1} of the regenerated
    tokens goes back to the initial noise; after the last re-noised step nothing does."""
    shape = (1, 64, 64)
    indices = torch.ones(shape, dtype=torch.long)
    mask = torch.zeros(shape, dtype=torch.bool)
    mask[:, :, :32] = True
    denoiser = PeakedDenoiser()
    lami_sample(denoiser, indices, mask, token_cond(0, 1), None, DecoderSettings(steps=4, renoise=2, cfg=1.0))
    assert [float(r[0]) for _, r in denoiser.calls] == [1.0, 0.75, 0.5, 0.25]
    initial = denoiser.calls[0][0][mask]
    for step, expected_noise in ((1, 0.75), (2, 0.5), (3, 0.0)):
        regenerated = denoiser.calls[step][0][mask]
        from_noise = float(((regenerated == initial) & (regenerated != 0)).float().mean())
        assert from_noise == pytest.approx(expected_noise * float((initial != 0).float().mean()),
                                           abs=0.05)


def test_same_seed_same_output_on_cpu() -> None:
    indices, mask = received_and_mask(ratio=0.5)
    denoiser = Denoiser(PaellaConfig.tiny(codebook_size=K)).eval()
    cond = {"byt5": torch.randn(SHAPE[0], 5, denoiser.config.byt5_dim)}
    uncond = {"byt5": torch.zeros_like(cond["byt5"])}
    runs = [
        lami_sample(denoiser, indices, mask, cond, uncond, DecoderSettings(steps=3, renoise=2, cfg=4.0, seed=seed))
        for seed in (11, 11, 12)
    ]
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])
    assert torch.equal(runs[2][~mask], indices[~mask])


@pytest.mark.parametrize("seed", range(20))
def test_the_exponential_race_draws_what_multinomial_draws(seed: int) -> None:
    """The rule a GPU uses with CPU generators (portable_random): index for index and leaving
    the generator where torch.multinomial leaves it."""
    shape = torch.Generator().manual_seed(seed)
    rows, codewords = int(torch.randint(1, 40, (), generator=shape)), int(torch.randint(2, 3000, (), generator=shape))
    sharpness = float(torch.rand((), generator=shape)) * 30
    probs = torch.softmax(torch.randn(rows, codewords, generator=shape) * sharpness, dim=-1)
    ours, theirs = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
    assert torch.equal(exponential_race(probs, ours), torch.multinomial(probs, 1, generator=theirs).squeeze(1))
    assert torch.equal(ours.get_state(), theirs.get_state())


def test_portable_random_changes_nothing_on_the_cpu() -> None:
    indices, mask = received_and_mask(ratio=0.5)
    denoiser = Denoiser(PaellaConfig.tiny(codebook_size=K)).eval()
    cond = {"byt5": torch.randn(SHAPE[0], 5, denoiser.config.byt5_dim)}
    uncond = {"byt5": torch.zeros_like(cond["byt5"])}
    settings = DecoderSettings(steps=3, renoise=2, cfg=4.0, seed=3)
    assert torch.equal(lami_sample(denoiser, indices, mask, cond, uncond, settings),
                       lami_sample(denoiser, indices, mask, cond, uncond, settings, portable_random=True))


class NeighbourDenoiser(nn.Module):
    """Spreads each position's probability over the codewords near its current index: per
    message, position by position, so no message's logits depend on the rest of the batch."""

    codebook_size = K

    def forward(self, indices: torch.Tensor, r: torch.Tensor, cond: dict) -> torch.Tensor:
        codewords = torch.arange(K, dtype=torch.float32).view(1, K, 1, 1)
        return -((codewords - indices.unsqueeze(1).float()) ** 2) / 40.0 + cond["token"].view(-1, 1, 1, 1)


def test_a_message_decodes_the_same_alone_and_inside_a_batch() -> None:
    indices, mask = received_and_mask(ratio=0.4)
    mask[1] = False  # a message with nothing to regenerate rides along
    indices[1] = indices[1].clamp(min=0)
    indices = torch.cat([indices, indices[:1]])  # message 0 twice, in different places
    mask = torch.cat([mask, mask[:1]])
    settings = DecoderSettings(steps=4, renoise=2, cfg=3.0, seed=5)
    cond, uncond = token_cond(0, 3), token_cond(1, 3)
    batched = lami_sample(NeighbourDenoiser(), indices, mask, cond, uncond, settings)
    for b in range(3):
        alone = lami_sample(NeighbourDenoiser(), indices[b:b + 1], mask[b:b + 1], token_cond(0, 1),
                            token_cond(1, 1), settings)
        assert torch.equal(batched[b:b + 1], alone)
    assert not torch.equal(batched[0][mask[0]], indices[0][mask[0]])  # it did sample


class CaptionDenoiser(nn.Module):
    """Like NeighbourDenoiser, but the caption condition [B, L, 1] must be one length per call
    (as a real denoiser's batch) and every one of its L tokens shifts the logits."""

    codebook_size = K

    def forward(self, indices: torch.Tensor, r: torch.Tensor, cond: dict) -> torch.Tensor:
        codewords = torch.arange(K, dtype=torch.float32).view(1, K, 1, 1)
        caption = cond["byt5"].sum(dim=(1, 2)).view(-1, 1, 1, 1)
        return -((codewords - indices.unsqueeze(1).float() - caption) ** 2) / 40.0


def caption(length: int, value: float) -> dict[str, torch.Tensor]:
    return {"byt5": torch.full((1, length, 1), value)}


def test_captions_of_other_lengths_run_apart_and_decode_as_alone() -> None:
    indices, mask = received_and_mask(ratio=0.4)
    indices, mask = torch.cat([indices, indices[:1]]), torch.cat([mask, mask[:1]])
    cond = [caption(3, 0.5), caption(7, 0.25), caption(3, 2.0)]
    uncond = [caption(1, 0.0)] * 3
    settings = DecoderSettings(steps=3, renoise=2, cfg=3.0, seed=2)
    calls = []
    denoiser = CaptionDenoiser()
    denoiser.register_forward_hook(lambda module, args, out: calls.append(args[2]["byt5"].shape[:2]))
    batched = lami_sample(denoiser, indices, mask, cond, uncond, settings)
    # Per step: the two length-3 captions, the length-7 one, and the three empty captions.
    assert calls[:3] == [(2, 3), (1, 7), (3, 1)] and len(calls) == 9
    for b in range(3):
        alone = lami_sample(CaptionDenoiser(), indices[b:b + 1], mask[b:b + 1], [cond[b]], [uncond[b]], settings)
        assert torch.equal(batched[b:b + 1], alone)


def test_guidance_only_in_the_first_cfg_steps() -> None:
    indices, mask = received_and_mask()
    denoiser = PeakedDenoiser()
    settings = DecoderSettings(steps=4, renoise=0, cfg=8.0, cfg_steps=1)
    out = lami_sample(denoiser, indices, mask, token_cond(7), token_cond(9), settings)
    assert [len(model_input) for model_input, _ in denoiser.calls] == [2 * SHAPE[0]] + [SHAPE[0]] * 3
    assert bool((out[mask] == 7).all())
    # No guided step at all: the uncond conditions are not needed.
    unguided = PeakedDenoiser()
    lami_sample(unguided, indices, mask, token_cond(7), None, settings.replace(cfg_steps=0))
    assert all(len(model_input) == SHAPE[0] for model_input, _ in unguided.calls)


@pytest.mark.parametrize("scope", ["masked", "all"])
def test_renoising_scope(scope: str) -> None:
    """masked: the denoiser always sees the received tokens; all (eq. 13 as written): Gamma
    re-noises them too, a fraction t_{i+1} after step i < tau, and eq. 12 restores them."""
    shape = (1, 64, 64)
    indices = torch.ones(shape, dtype=torch.long)
    mask = torch.zeros(shape, dtype=torch.bool)
    mask[:, :, :16] = True
    denoiser = PeakedDenoiser()
    out = lami_sample(denoiser, indices, mask, token_cond(0, 1), None,
                      DecoderSettings(steps=4, renoise=2, cfg=1.0, renoise_scope=scope))
    assert torch.equal(out[~mask], indices[~mask])
    received_noised = [float((model_input[~mask] != 1).float().mean()) for model_input, _ in denoiser.calls]
    if scope == "masked":
        assert received_noised == [0.0] * 4
    else:  # noise levels 0.75 and 0.5 after steps 0 and 1; a random codeword is 1 one time in K
        expected = [0.0, 0.75 * (1 - 1 / K), 0.5 * (1 - 1 / K), 0.0]
        assert received_noised == pytest.approx(expected, abs=0.03)


def test_plain_sampling_ignores_the_received_indices() -> None:
    indices, mask = received_and_mask()
    other_indices, _ = received_and_mask(seed=1)
    denoiser = Denoiser(PaellaConfig.tiny(codebook_size=K)).eval()
    cond = {"byt5": torch.randn(SHAPE[0], 5, denoiser.config.byt5_dim)}
    uncond = {"byt5": torch.zeros_like(cond["byt5"])}
    plain = [
        lami_sample(denoiser, received, mask, cond, uncond, DecoderSettings(steps=3, renoise=2, cfg=4.0),
                    plain=True)
        for received in (indices, other_indices)
    ]
    assert torch.equal(plain[0], plain[1])
    assert not torch.equal(plain[0][~mask], indices[~mask])


@pytest.mark.parametrize(
    ("steps", "renoise", "temperature"),
    [(0, 0, (1.0, 0.2)), (8, 9, (1.0, 0.2)), (8, -1, (1.0, 0.2)), (8, 4, (1.0, 0.0))],
)
def test_bad_settings_are_config_errors(steps: int, renoise: int, temperature: tuple) -> None:
    indices, mask = received_and_mask()
    with pytest.raises(ConfigError):
        lami_sample(PeakedDenoiser(), indices, mask, token_cond(0), None,
                    DecoderSettings(steps=steps, renoise=renoise, cfg=1.0, temperature=temperature))


def _bad_inputs():
    indices, mask = received_and_mask()
    too_high = indices.clone()
    too_high[~mask] = K  # one past the codebook
    return [
        ("2-D maps", indices[0], mask[0], ConfigError, r"\[B, H, W\]"),
        ("mask of another shape", indices, mask[:, :8], ConfigError, r"\[B, H, W\]"),
        ("mask not boolean", indices, mask.long(), ConfigError, "BoolTensor"),
        ("index past the codebook", too_high, mask, MessageError, rf"\[0, {K}\)"),
    ]


@pytest.mark.parametrize("case", range(4), ids=[case[0] for case in _bad_inputs()])
def test_the_sampler_refuses_bad_inputs_before_any_step(case) -> None:
    """Valid settings, bad maps: the sampler's own checks, before the denoiser runs once."""
    _, indices, mask, error, match = _bad_inputs()[case]
    denoiser = PeakedDenoiser()
    with pytest.raises(error, match=match):
        lami_sample(denoiser, indices, mask, token_cond(0), None, DecoderSettings(steps=2, renoise=1, cfg=1.0))
    assert denoiser.calls == []


def test_lost_tokens_must_be_in_the_mask() -> None:
    indices, mask = received_and_mask()
    with pytest.raises(MessageError, match="lost tokens belong in the mask"):
        lami_sample(PeakedDenoiser(), indices, torch.zeros_like(mask), token_cond(0), None,
                    DecoderSettings(steps=2, renoise=1, cfg=1.0))


def test_guidance_needs_uncond() -> None:
    indices, mask = received_and_mask()
    with pytest.raises(ConfigError, match="uncond"):
        lami_sample(PeakedDenoiser(), indices, mask, token_cond(0), None,
                    DecoderSettings(steps=2, renoise=1, cfg=8.0))


def test_policy_and_lost_masks_combine() -> None:
    policy = np.zeros((4, 4), dtype=bool)
    policy[::2, ::2] = True
    lost = np.zeros((4, 4), dtype=bool)
    lost[3] = True
    combined = combine_masks(policy, lost)
    assert combined.sum() == policy.sum() + lost.sum()
    assert np.array_equal(combined, policy | lost)
    assert np.array_equal(combine_masks(policy), policy) and combine_masks(policy) is not policy
    assert torch.equal(
        combine_masks(torch.from_numpy(policy), torch.from_numpy(lost)), torch.from_numpy(policy | lost)
    )
    with pytest.raises(ConfigError, match="differ in shape"):
        combine_masks(policy, lost[:2])


def test_a_stop_ends_sampling_between_steps() -> None:
    indices, mask = received_and_mask()
    denoiser = PeakedDenoiser()
    with pytest.raises(Cancelled, match="before step 3 of 6"):
        lami_sample(denoiser, indices, mask, token_cond(0), token_cond(5), DecoderSettings(steps=6, renoise=4),
                    stop=lambda: len(denoiser.calls) == 2)
    assert len(denoiser.calls) == 2
    assert not issubclass(Cancelled, LamigoError)  # a stop is no user error: the CLI does not print it as one
