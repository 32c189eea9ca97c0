"""The Paella v3 denoiser: full-size layout and size (meta device), tiny forward behaviour."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from lamigo.errors import ConfigError
from lamigo.models.conditions import ByteConditionBuilder
from lamigo.models.paella import Denoiser, PaellaConfig

K = 512


@pytest.fixture(scope="module")
def tiny() -> Denoiser:
    torch.manual_seed(0)
    denoiser = Denoiser(PaellaConfig.tiny(codebook_size=K)).eval()
    # Paella zero-initialises this projection, which makes a fresh model's logits all zero;
    # random values stand in for training so the outputs depend on the inputs.
    torch.nn.init.normal_(denoiser.clf[1].weight, std=0.1)
    return denoiser


@pytest.fixture(scope="module")
def conditions() -> ByteConditionBuilder:
    return ByteConditionBuilder(PaellaConfig.tiny().byt5_dim)


def test_full_config_matches_paella_v3_facts() -> None:
    with torch.device("meta"):
        denoiser = Denoiser(PaellaConfig.full())
    total = sum(p.numel() for p in denoiser.parameters())
    assert total == pytest.approx(1.0e9, rel=0.02)
    # paella_v3.pt is 4.03 GB of float32.
    assert total * 4 == pytest.approx(4.03e9, rel=0.005)

    state = denoiser.state_dict()
    assert {key.split(".")[0] for key in state} == {
        "byt5_mapper", "clip_mapper", "clip_image_mapper", "in_mapper", "embedding",
        "down_blocks", "up_blocks", "clf", "out_mapper",
    }
    assert state["byt5_mapper.weight"].shape == (1024, 2560)
    assert state["clip_mapper.weight"].shape == (4 * 1024, 1024)
    assert state["in_mapper.0.weight"].shape == (8192, 256)
    assert state["embedding.1.weight"].shape == (640, 256 * 4, 1, 1)
    assert state["clf.1.weight"].shape == (256 * 4, 640, 1, 1)
    assert state["out_mapper.1.weight"].shape == (8192, 256, 1, 1)
    assert "out_mapper.1.bias" not in state
    attention = [key for key in state if key.endswith("attention.attn.in_proj_weight")]
    assert len(attention) == 2 * (16 + 6)  # CTA levels, down and up
    assert state[attention[0]].shape == (3 * 1280, 1280)
    assert state[attention[0].replace("in_proj_weight", "out_proj.weight")].shape == (1280, 1280)


def test_fresh_model_starts_with_uniform_logits() -> None:
    denoiser = Denoiser(PaellaConfig.tiny(codebook_size=K)).eval()
    cond = {"byt5": torch.randn(1, 5, denoiser.config.byt5_dim)}
    with torch.inference_mode():
        logits = denoiser(torch.randint(0, K, (1, 8, 8)), torch.ones(1), cond)
    assert torch.count_nonzero(logits) == 0


def test_forward_gives_logits_per_position(tiny: Denoiser, conditions: ByteConditionBuilder) -> None:
    cond = conditions.encode(["a red car", "two dogs"])
    indices = torch.randint(0, K, (2, 64, 64))
    with torch.inference_mode():
        logits = tiny(indices, torch.tensor([1.0, 0.3]), cond)
    assert logits.shape == (2, K, 64, 64)
    assert torch.isfinite(logits).all() and not torch.allclose(logits[0], logits[1])


def test_the_caption_changes_the_logits(tiny: Denoiser, conditions: ByteConditionBuilder) -> None:
    cond = conditions.encode(["a long caption about a harbour at dusk"])
    uncond = conditions.encode([""])
    assert uncond["byt5"].shape[1] == 1  # Paella's empty caption: the end token alone
    indices = torch.randint(0, K, (1, 16, 16))
    with torch.inference_mode():
        captioned = tiny(indices, torch.ones(1), cond)
        empty = tiny(indices, torch.ones(1), uncond)
    assert not torch.allclose(captioned, empty)


def test_clip_conditions_are_optional_extra_tokens(tiny: Denoiser) -> None:
    byt5 = {"byt5": torch.randn(1, 5, tiny.config.byt5_dim)}
    with_clip = byt5 | {"clip_text": torch.randn(1, tiny.config.clip_dim)}
    indices = torch.randint(0, K, (1, 8, 8))
    with torch.inference_mode():
        assert not torch.allclose(tiny(indices, torch.ones(1), byt5), tiny(indices, torch.ones(1), with_clip))


def test_forward_in_bfloat16() -> None:
    model = Denoiser(PaellaConfig.tiny(codebook_size=K)).to(torch.bfloat16).eval()
    cond = {"byt5": torch.randn(1, 5, model.config.byt5_dim)}
    with torch.inference_mode():
        logits = model(torch.randint(0, K, (1, 8, 8)), torch.ones(1), cond)
    assert logits.dtype == torch.bfloat16 and logits.shape == (1, K, 8, 8)


def test_bad_inputs_raise_config_errors(tiny: Denoiser) -> None:
    cond = {"byt5": torch.randn(1, 3, tiny.config.byt5_dim)}
    with pytest.raises(ConfigError, match="multiples of 8"):
        tiny(torch.randint(0, K, (1, 12, 16)), torch.ones(1), cond)
    with pytest.raises(ConfigError, match="'byt5'"):
        tiny(torch.randint(0, K, (1, 8, 8)), torch.ones(1), {"clip_text": torch.randn(1, 32)})
    with pytest.raises(ConfigError, match="'byt5'"):
        tiny(torch.randint(0, K, (1, 8, 8)), torch.ones(1), cond | {"t5": cond["byt5"]})


def test_config_rejects_inconsistent_levels() -> None:
    with pytest.raises(ConfigError, match="differ in length"):
        dataclasses.replace(PaellaConfig.tiny(), level_blocks=(1, 2))
    with pytest.raises(ConfigError, match="start with C"):
        dataclasses.replace(PaellaConfig.tiny(), level_pattern=("CT", "ACT", "CTA"))
