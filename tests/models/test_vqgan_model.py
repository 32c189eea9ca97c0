"""The Paella VQGAN: full-size layout and size, tiny encode/decode behaviour."""

from __future__ import annotations

import pytest
import torch

from lamigo.errors import ConfigError
from lamigo.models.vqgan import VQGAN, VQGANConfig, from_diffusers_state_dict


@pytest.fixture(scope="module")
def tiny() -> VQGAN:
    torch.manual_seed(0)
    return VQGAN(VQGANConfig.tiny()).eval()


def test_full_config_matches_vqgan_f4_facts() -> None:
    with torch.device("meta"):
        vqgan = VQGAN(VQGANConfig.full())
    params = dict(vqgan.named_parameters())
    encoder = sum(p.numel() for k, p in params.items() if k.startswith(("in_block", "down_blocks")))
    decoder = sum(p.numel() for k, p in params.items() if k.startswith(("up_blocks", "out_block")))
    total = sum(p.numel() for p in params.values())
    assert total == pytest.approx(18.4e6, rel=0.01)
    assert encoder == pytest.approx(2.7e6, rel=0.02)
    assert decoder == pytest.approx(15.7e6, rel=0.01)

    state = vqgan.state_dict()
    assert state["vquantizer.codebook.weight"].shape == (8192, 4)
    assert state["in_block.1.weight"].shape == (192, 12, 1, 1)
    assert "down_blocks.3.1.running_var" in state  # the BatchNorm on the 4 latent channels
    assert state["out_block.0.weight"].shape == (12, 192, 1, 1)
    assert {key.split(".")[0] for key in state} == {
        "in_block", "down_blocks", "vquantizer", "up_blocks", "out_block"
    }
    assert vqgan.downscale == 4 and vqgan.codebook_size == 8192


def test_encode_gives_indices_and_nearest_codeword_distances(tiny: VQGAN) -> None:
    images = torch.rand(2, 3, 64, 96, generator=torch.Generator().manual_seed(1))
    indices, distances = tiny.encode(images)
    assert indices.shape == distances.shape == (2, 16, 24)
    assert indices.dtype == torch.long
    assert 0 <= int(indices.min()) and int(indices.max()) < tiny.codebook_size

    latents = tiny.encode_latents(images).detach().permute(0, 2, 3, 1)
    all_distances = torch.cdist(latents.reshape(-1, 4), tiny.vquantizer.codebook.weight.detach())
    nearest, nearest_index = all_distances.min(dim=1)
    assert torch.allclose(distances.flatten(), nearest, atol=1e-4)
    assert torch.equal(indices.flatten(), nearest_index)


def test_decode_indices_gives_clamped_images(tiny: VQGAN) -> None:
    indices = torch.randint(0, tiny.codebook_size, (2, 8, 12))
    images = tiny.decode_indices(indices)
    assert images.shape == (2, 3, 32, 48)
    assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0
    assert not images.requires_grad


def test_codewords_reencode_to_themselves(tiny: VQGAN) -> None:
    indices = torch.randint(0, tiny.codebook_size, (1, 4, 4))
    with torch.no_grad():
        again, distances = tiny.vquantizer.quantize(tiny.vquantizer.embed(indices))
    assert torch.equal(again, indices)
    assert float(distances.max()) < 1e-3


def test_bad_inputs_raise_config_errors(tiny: VQGAN) -> None:
    with pytest.raises(ConfigError, match="divisible"):
        tiny.encode(torch.rand(1, 3, 30, 32))
    with pytest.raises(ConfigError, match=r"\[B,3,H,W\]"):
        tiny.encode(torch.rand(3, 32, 32))
    with pytest.raises(ConfigError, match="indices must lie"):
        tiny.decode_indices(torch.full((1, 4, 4), -1))


def test_straight_through_forward_trains_the_encoder() -> None:
    model = VQGAN(VQGANConfig.tiny())
    reconstruction, latents, codewords = model(torch.rand(1, 3, 32, 32))
    assert reconstruction.shape == (1, 3, 32, 32) and latents.shape == codewords.shape
    reconstruction.mean().backward()
    assert model.in_block[1].weight.grad is not None


def test_diffusers_layout_maps_onto_ours(tiny: VQGAN) -> None:
    ours = tiny.state_dict()
    diffusers = {
        ("vquantizer.embedding.weight" if k == "vquantizer.codebook.weight" else k): v
        for k, v in ours.items()
    }
    mapped = from_diffusers_state_dict(diffusers)
    assert mapped.keys() == ours.keys()
    fresh = VQGAN(VQGANConfig.tiny())
    fresh.load_state_dict(mapped)
    assert torch.equal(fresh.vquantizer.codebook.weight, tiny.vquantizer.codebook.weight)
