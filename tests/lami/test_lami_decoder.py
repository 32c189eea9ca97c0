"""The receiver end to end on the tiny model set (CPU): captions -> LaMI -> VQGAN image."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lamigo.errors import Cancelled, ConfigError, MessageError
from lamigo.lami import DecoderSettings, LaMIDecoder
from lamigo.masking import make_policy
from lamigo.message import Geometry, GOMessage, ReceivedMessage
from lamigo.zoo.sets import ModelSet, load_model_set

IMAGE = (64, 128)


@pytest.fixture(scope="module")
def models() -> ModelSet:
    return load_model_set("tiny")


@pytest.fixture(scope="module")
def geometry(models: ModelSet) -> Geometry:
    down = models.vqgan.downscale
    return Geometry(*IMAGE, IMAGE[0] // down, IMAGE[1] // down, models.vqgan.codebook_size)


def encoded_message(models: ModelSet, geometry: Geometry, seed: int, caption: str) -> GOMessage:
    images = torch.rand(1, 3, *IMAGE, generator=torch.Generator().manual_seed(seed))
    indices = models.vqgan.encode(images)[0][0].numpy()
    policy = make_policy("prm", ratio=0.25, seed=seed)
    mask = policy.select(geometry.latent_shape)
    return GOMessage(geometry, policy, mask, indices, caption)


def test_tiny_model_end_to_end(models: ModelSet, geometry: Geometry) -> None:
    messages = [encoded_message(models, geometry, seed, f"photo {seed}") for seed in (1, 2)]
    decoder = LaMIDecoder(models, DecoderSettings(steps=4, renoise=2, cfg=3.0))
    result = decoder.decode_messages(messages, seed=5)

    assert result.images.shape == (2, 3, *IMAGE)
    assert 0.0 <= float(result.images.min()) and float(result.images.max()) <= 1.0
    for row, message in enumerate(messages):
        out = result.indices[row].numpy()
        assert np.array_equal(out[~message.mask], message.indices[~message.mask])
        assert (out[message.mask] >= 0).all()
    timings = result.timings
    assert min(timings.text_encoding, timings.denoising, timings.vqgan_decode) > 0
    assert timings.total == pytest.approx(
        timings.text_encoding + timings.denoising + timings.vqgan_decode
    )
    again = decoder.decode_messages(messages, seed=5)
    assert torch.equal(again.indices, result.indices) and torch.equal(again.images, result.images)


def test_lost_tokens_are_regenerated_with_the_masked_ones(
    models: ModelSet, geometry: Geometry
) -> None:
    message = encoded_message(models, geometry, 3, "a street")
    lost = np.zeros(geometry.latent_shape, dtype=bool)
    lost[:4] = True  # one lost packet: the first four rows of tokens
    lost_and_sent = lost & ~message.mask
    decoder = LaMIDecoder(models, DecoderSettings(steps=3, renoise=2, cfg=3.0))
    out = decoder.decode_messages([ReceivedMessage(0, message, lost)]).indices[0].numpy()

    kept = ~(message.mask | lost)
    assert np.array_equal(out[kept], message.indices[kept])
    # The tiny untrained denoiser rarely lands on the sent index by chance (K = 512).
    assert (out[lost_and_sent] != message.indices[lost_and_sent]).mean() > 0.5


def test_plain_ablation_ignores_received_tokens(models: ModelSet, geometry: Geometry) -> None:
    message = encoded_message(models, geometry, 4, "a street")
    decoder = LaMIDecoder(models, DecoderSettings(steps=2, renoise=1, cfg=3.0))
    lami = decoder.decode_messages([message], seed=1).indices[0].numpy()
    plain = decoder.decode_messages([message], seed=1, plain=True).indices[0].numpy()
    sent = ~message.mask
    assert np.array_equal(lami[sent], message.indices[sent])
    assert (plain[sent] != message.indices[sent]).mean() > 0.5


def test_a_batch_needs_one_geometry(models: ModelSet, geometry: Geometry) -> None:
    other = Geometry(64, 64, 16, 16, geometry.codebook_size)
    messages = [
        encoded_message(models, geometry, 1, ""),
        GOMessage(other, make_policy("none"), np.zeros((16, 16), bool), np.zeros((16, 16)), ""),
    ]
    with pytest.raises(MessageError, match="one geometry"):
        LaMIDecoder(models, DecoderSettings(steps=1, renoise=0)).decode_messages(messages)


def test_a_message_decodes_the_same_alone_and_beside_a_longer_caption(
    models: ModelSet, geometry: Geometry
) -> None:
    # The denoiser has no attention mask: padding one caption to another's length would change it.
    short = encoded_message(models, geometry, 1, "a cat")
    long = encoded_message(models, geometry, 2, "a much longer caption about a harbour at dusk")
    decoder = LaMIDecoder(models, DecoderSettings(steps=3, renoise=2, cfg=3.0))
    batched = decoder.decode_messages([short, long, short]).indices
    alone = decoder.decode_messages([short]).indices[0]
    assert torch.equal(batched[0], alone) and torch.equal(batched[2], alone)
    assert torch.equal(batched[1], decoder.decode_messages([long]).indices[0])


def test_cuda_options_are_refused_on_cpu(models: ModelSet) -> None:
    with pytest.raises(ConfigError, match="CUDA"):
        LaMIDecoder(models, bf16=True)
    with pytest.raises(ConfigError, match="CUDA"):
        LaMIDecoder(models, compile=True)


def test_a_stop_ends_a_decode_within_one_layer(models: ModelSet, geometry: Geometry) -> None:
    """A service asked to stop must not wait for a whole forward pass (seconds for a large
    message on a CPU): the decode ends before the next layer, and leaves the models as they were."""
    decoder = LaMIDecoder(models, DecoderSettings(steps=4, renoise=2))
    message = encoded_message(models, geometry, 0, "a cat")
    asked = []
    forwards = []
    counting = models.denoiser.register_forward_pre_hook(lambda module, args: forwards.append(1))
    try:
        with pytest.raises(Cancelled, match="before"):
            decoder.decode_messages([message], stop=lambda: asked.append(1) or len(asked) > 5)
    finally:
        counting.remove()
    assert len(forwards) == 1  # inside the first forward pass of the first step
    assert not models.denoiser._forward_pre_hooks and not any(
        module._forward_pre_hooks for module in models.vqgan.modules())
    assert decoder.decode_messages([message], stop=lambda: False).images.shape == (1, 3, *IMAGE)
