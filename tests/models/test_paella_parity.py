"""Parity with the reference Paella code, on fixtures made by running it (random weights).

VQGAN, denoiser and plain sampler against the reference's outputs; classifier-free guidance's
combination; and the ByT5 ids Paella feeds for captions and for the empty caption.

The fixtures live in `shared/reference/paella-parity/` beside the repository (or where
$LAMIGO_PARITY_DIR points); their README gives the tolerances used here: logits within 3e-5,
latents and pixels within 1e-5, indices and tokens exact. Each tensor is cloned after loading
(safetensors' unaligned buffers make MKL round differently) and torch runs on one thread.

LAMIGO_TEST_DEVICE=cuda runs the models on a GPU with TF32 off (bench/device_check.py does), to the
same tolerances; the sampler then draws from CPU generators (portable_random), as the fixtures did.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import safetensors.torch
import torch
from torch import nn

from lamigo.lami.sampler import classifier_free_guidance, lami_sample
from lamigo.lami.settings import DecoderSettings
from lamigo.models.conditions import TransformersConditionBuilder, message_conditions
from lamigo.models.paella import Denoiser, PaellaConfig
from lamigo.zoo.sets import load_denoiser_checkpoint, load_vqgan_checkpoint
from lamigo.models.vqgan import VQGAN, VQGANConfig

REPO = Path(__file__).resolve().parents[2]
PARITY_DIR = Path(os.environ.get("LAMIGO_PARITY_DIR") or REPO.parent / "shared" / "reference" / "paella-parity")

pytestmark = pytest.mark.skipif(
    not (PARITY_DIR / "README.md").is_file(),
    reason=f"Paella parity fixtures not found at {PARITY_DIR} (set LAMIGO_PARITY_DIR)",
)

DEVICE = torch.device(os.environ.get("LAMIGO_TEST_DEVICE") or "cpu")
LOGITS_ATOL = 3e-5
PIXELS_ATOL = 1e-5
DENOISER_CASES = {
    "byt5_clip": ("byt5", "clip_text"),
    "byt5_only": ("byt5",),
    "byt5_clip_clipimage": ("byt5", "clip_text", "clip_image"),
    "byt5len1_clip": ("byt5_len1", "clip_text"),
}


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """The fixtures were made on one thread; more threads round differently. On a GPU, float32
    must stay float32 (no TF32 matrix units)."""
    threads = torch.get_num_threads()
    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.set_num_threads(1)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.set_num_threads(threads)
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32


def on_device(value):
    """A tensor, or a dict of them, on DEVICE."""
    if isinstance(value, dict):
        return {key: tensor.to(DEVICE) for key, tensor in value.items()}
    return value.to(DEVICE)


def tensors(name: str) -> dict[str, torch.Tensor]:
    return {key: value.clone() for key, value in safetensors.torch.load_file(PARITY_DIR / name).items()}


def spec(name: str) -> dict:
    return json.loads((PARITY_DIR / name).read_text())


def vqgan_config() -> VQGANConfig:
    return VQGANConfig(**spec("vqgan_small.json")["project_config"]["fields"])


def denoiser_config(**changes: object) -> PaellaConfig:
    fields = {key: tuple(value) if isinstance(value, list) else value
              for key, value in spec("denoiser_small.json")["project_config"]["fields"].items()}
    return PaellaConfig(**(fields | changes))


def cloned(module: nn.Module) -> nn.Module:
    """`module` with its own aligned copy of every tensor the loader took from a file, on DEVICE."""
    module.load_state_dict({key: value.clone() for key, value in module.state_dict().items()}, assign=True)
    return module.to(DEVICE).eval()


def load_denoiser(**changes: object) -> Denoiser:
    return cloned(load_denoiser_checkpoint(PARITY_DIR / "denoiser_small.safetensors", denoiser_config(**changes)))


# --- VQGAN -----------------------------------------------------------------------------------

def vqgan_files(tmp_path: Path) -> dict[str, Path]:
    """The small VQGAN saved as each layout a user may have."""
    state = safetensors.torch.load_file(PARITY_DIR / "vqgan_small.safetensors")
    diffusers = dict(state)
    diffusers["vquantizer.embedding.weight"] = diffusers.pop("vquantizer.codebook.weight")
    paths = {
        "safetensors": PARITY_DIR / "vqgan_small.safetensors",
        "plain .pt": tmp_path / "plain.pt",
        "{'state_dict'} .pt": tmp_path / "wrapped.pt",
        "diffusers names .pt": tmp_path / "diffusers.pt",
        "diffusers names .safetensors": tmp_path / "diffusion_pytorch_model.safetensors",
    }
    torch.save(state, paths["plain .pt"])
    torch.save({"state_dict": state}, paths["{'state_dict'} .pt"])
    torch.save(diffusers, paths["diffusers names .pt"])
    safetensors.torch.save_file(diffusers, paths["diffusers names .safetensors"])
    return paths


def test_the_full_vqgan_has_the_reference_keys_and_shapes() -> None:
    expected = spec("vqgan_small.json")["public_checkpoint_layout"]["full_size_state_dict_shapes"]
    with torch.device("meta"):
        state = VQGAN(VQGANConfig.full()).state_dict()
    assert {key: list(value.shape) for key, value in state.items()} == expected


def test_the_vqgan_loads_strictly_under_paella_names() -> None:
    state = tensors("vqgan_small.safetensors")
    vqgan = VQGAN(vqgan_config())
    vqgan.load_state_dict(state, strict=True)
    assert int(vqgan.state_dict()["down_blocks.3.1.num_batches_tracked"]) == 123


def test_every_vqgan_layout_encodes_and_decodes_as_paella(tmp_path: Path) -> None:
    io = tensors("vqgan_io.safetensors")
    for kind, path in vqgan_files(tmp_path).items():
        vqgan = cloned(load_vqgan_checkpoint(path, vqgan_config()))
        with torch.no_grad():
            latents = vqgan.encode_latents(on_device(io["images"]))
            indices, distances = vqgan.vquantizer.quantize(latents)
            quantized = vqgan.vquantizer.embed(on_device(io["indices"]))
            decoded_raw = vqgan.decode_latents(quantized)
            decoded = vqgan.decode_indices(on_device(io["indices"]))
        latents, indices, distances, quantized, decoded_raw, decoded = (
            tensor.cpu() for tensor in (latents, indices, distances, quantized, decoded_raw, decoded))
        torch.testing.assert_close(latents, io["latents"], atol=PIXELS_ATOL, rtol=0, msg=kind)
        assert torch.equal(indices, io["indices"]), kind
        assert torch.equal(quantized, io["quantized"]), kind
        torch.testing.assert_close(distances, io["nearest_distance"], atol=1e-5, rtol=0, msg=kind)
        torch.testing.assert_close(decoded_raw, io["decoded_raw"], atol=PIXELS_ATOL, rtol=0, msg=kind)
        torch.testing.assert_close(decoded, io["decoded"], atol=PIXELS_ATOL, rtol=0, msg=kind)


# --- Denoiser --------------------------------------------------------------------------------

def denoiser_inputs(case: str) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    io = tensors("denoiser_io.safetensors")
    names = {"byt5": "byt5", "byt5_len1": "byt5", "clip_text": "clip_text", "clip_image": "clip_image"}
    cond = {names[key]: io[key] for key in DENOISER_CASES[case]}
    return on_device(io["tokens"]), on_device(io["r"]), on_device(cond)


def test_the_full_denoiser_has_the_reference_keys_and_shapes() -> None:
    expected = spec("denoiser_small.json")["full_size"]["full_size_state_dict_shapes"]
    with torch.device("meta"):
        state = Denoiser(PaellaConfig.full()).state_dict()
    assert {key: list(value.shape) for key, value in state.items()} == expected


@pytest.mark.parametrize("case", DENOISER_CASES)
def test_denoiser_logits_and_condition_sequence_match_paella(case: str) -> None:
    io = tensors("denoiser_io.safetensors")
    denoiser = load_denoiser()
    tokens, r, cond = denoiser_inputs(case)
    with torch.no_grad():
        logits = denoiser(tokens, r, cond).cpu()
        sequence = denoiser.embed_conditions(cond).cpu()
    torch.testing.assert_close(logits, io[f"logits_{case}"], atol=LOGITS_ATOL, rtol=0)
    torch.testing.assert_close(sequence, io[f"cond_sequence_{case}"], atol=PIXELS_ATOL, rtol=0)


def test_the_noise_level_embedding_matches_paella() -> None:
    io = tensors("denoiser_io.safetensors")
    embedding = load_denoiser().embed_r(on_device(io["r"])).cpu()
    torch.testing.assert_close(embedding, io["r_embedding"], atol=PIXELS_ATOL, rtol=0)


def max_logit_error(denoiser: Denoiser, case: str = "byt5_clip") -> float:
    tokens, r, cond = denoiser_inputs(case)
    with torch.no_grad():
        logits = denoiser(tokens, r, cond).cpu()
    return float((logits - tensors("denoiser_io.safetensors")[f"logits_{case}"]).abs().max())


def test_the_tolerance_catches_a_layernorm_epsilon_of_1e5() -> None:
    denoiser = load_denoiser()
    for module in denoiser.modules():
        if isinstance(module, nn.LayerNorm):
            module.eps = 1e-5
    assert max_logit_error(denoiser) > LOGITS_ATOL


def test_the_tolerance_catches_another_attention_layout() -> None:
    # The same weights split into other heads, and attention to the conditions alone.
    assert max_logit_error(load_denoiser(heads=2)) > 1.0

    denoiser = load_denoiser()
    for block in denoiser.modules():
        if type(block).__name__ == "Attention2D":
            attn = block.attn
            block.forward = lambda x, cond, attn=attn: attn(
                x.flatten(2).transpose(1, 2), cond, cond, need_weights=False
            )[0].transpose(1, 2).reshape(x.shape)
    assert max_logit_error(denoiser) > 1.0


# --- Sampler ---------------------------------------------------------------------------------

class RecordingDenoiser(nn.Module):
    """The denoiser, keeping the token map it was given at each noise level."""

    def __init__(self, denoiser: Denoiser) -> None:
        super().__init__()
        self.denoiser = denoiser
        self.codebook_size = denoiser.codebook_size
        self.inputs: dict[float, torch.Tensor] = {}

    def forward(self, indices: torch.Tensor, r: torch.Tensor, cond: dict) -> torch.Tensor:
        self.inputs.setdefault(float(r[0]), indices[:1].cpu())
        return self.denoiser(indices, r, cond)


@pytest.mark.parametrize("setting", ["s1", "s2", "s3", "greedy"])
def test_plain_sampling_reproduces_paella_tokens_and_trajectory(setting: str) -> None:
    settings = spec("sampler.json")["settings"][setting]
    io = tensors("sampler_io.safetensors")
    denoiser = RecordingDenoiser(load_denoiser())
    shape = tuple(settings["latent_shape"])
    cond = on_device({"byt5": io["byt5"], "clip_text": io["clip_text"]})
    uncond = on_device({"byt5": io["uncond_byt5"], "clip_text": io["uncond_clip_text"]})
    tokens = lami_sample(
        denoiser, torch.zeros(shape, dtype=torch.long, device=DEVICE), torch.ones(shape, dtype=torch.bool, device=DEVICE),
        cond, uncond,
        DecoderSettings(steps=settings["steps"], renoise=settings["renoise_steps"], cfg=settings["cfg"],
                        temperature=tuple(settings["temperature"]), seed=settings["seed"]),
        portable_random=DEVICE.type != "cpu",
    ).cpu()
    assert list(denoiser.inputs) == pytest.approx(settings["r_per_step"])
    for step, given in enumerate(denoiser.inputs.values()):
        assert torch.equal(given, io[f"trajectory_{setting}"][step]), f"diverges at step {step}"
    assert torch.equal(tokens, io[f"tokens_{setting}"])


def test_guidance_combines_cond_and_uncond_as_paella() -> None:
    io = tensors("sampler_io.safetensors")
    combined = classifier_free_guidance(io["cfg_cond_logits"], io["cfg_uncond_logits"].clone(), 8.0)
    torch.testing.assert_close(combined, io["cfg_combined"], atol=PIXELS_ATOL, rtol=0)
    torch.testing.assert_close(torch.softmax(combined, dim=1), io["cfg_probs_t1"], atol=1e-6, rtol=0)


# --- Conditions ------------------------------------------------------------------------------

def test_byt5_ids_of_captions_and_of_the_empty_caption_are_paellas(hf_folders: dict[str, Path]) -> None:
    ids = spec("byt5_empty_caption.json")
    builder = TransformersConditionBuilder(hf_folders["byt5"])
    captions = ids["captions"]
    assert builder.tokenize(captions).tolist() == ids["caption_ids_batched_together"]
    assert [builder.tokenize([caption]).tolist()[0] for caption in captions] == ids["caption_ids_each_alone"]
    assert builder.tokenize([""]).tolist() == ids["empty_caption_ids"]
    assert builder.tokenize(["", ""]).tolist() == ids["empty_caption_ids_batch_of_2"]
    truncated = builder.tokenize(["x" * 1000])[0].tolist()
    example = ids["truncation_example"]
    assert len(truncated) == example["length"]
    assert truncated[:3] == example["first_ids"] and truncated[-3:] == example["last_ids"]


def test_the_uncond_byt5_condition_encodes_the_end_token_alone(hf_folders: dict[str, Path]) -> None:
    """Issue 12: not the empty caption padded to the captions' length ([1, 0, 0, ...])."""
    builder = TransformersConditionBuilder(hf_folders["byt5"])
    captions = spec("byt5_empty_caption.json")["captions"]
    uncond = builder.encode(["", ""])
    with torch.no_grad():
        expected = builder.byt5(input_ids=torch.tensor([[1], [1]])).last_hidden_state
    torch.testing.assert_close(uncond["byt5"], expected)
    for empty in message_conditions(builder, captions)[1]:
        torch.testing.assert_close(empty["byt5"], expected[:1])
