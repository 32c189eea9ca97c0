"""Model sets: the LaMI-GO folder layout round trip, transformers parts, and missing files."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import safetensors.torch
import torch

from lamigo.errors import ConfigError, WeightsError
from lamigo.models.captioner import Captioner
from lamigo.models.conditions import ByteConditionBuilder, TransformersConditionBuilder
from lamigo.zoo.sets import (
    WEIGHTS_ENV,
    build_tiny_model_set,
    default_model_set_name,
    load_model_set,
    paella_vqgan_path,
    save_model_set,
)
from lamigo.models.vqgan import VQGAN, VQGANConfig


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tiny = build_tiny_model_set(seed=7)
    folder = tmp_path_factory.mktemp("sets") / "tiny7"
    return save_model_set(folder, tiny.vqgan, tiny.denoiser, {"kind": "bytes", "seed": 7})


def test_saved_set_loads_back_identical(tiny_folder: Path) -> None:
    original = build_tiny_model_set(seed=7)
    loaded = load_model_set(str(tiny_folder))
    assert loaded.name == "tiny7" and loaded.captioner is None
    for ours, theirs in ((original.vqgan, loaded.vqgan), (original.denoiser, loaded.denoiser)):
        assert ours.config == theirs.config
        theirs_state = theirs.state_dict()
        for key, value in ours.state_dict().items():
            assert torch.equal(value, theirs_state[key]), key
    assert isinstance(loaded.conditions, ByteConditionBuilder)
    cond = loaded.conditions.encode(["a cat"])
    assert torch.equal(cond["byt5"], original.conditions.encode(["a cat"])["byt5"])


def test_model_set_json_keeps_its_format(tiny_folder: Path) -> None:
    spec = json.loads((tiny_folder / "model_set.json").read_text())
    assert spec.keys() == {"vqgan", "denoiser", "conditions"}
    assert spec["conditions"] == {"kind": "bytes", "seed": 7}
    assert spec["vqgan"]["codebook_size"] == spec["denoiser"]["codebook_size"] == 512
    assert spec["denoiser"]["level_pattern"] == ["CT", "CTA", "CTA"]


def test_transformers_conditions_and_captioner_come_from_the_folder(
    tmp_path: Path, hf_folders: dict[str, Path]
) -> None:
    tiny = build_tiny_model_set()
    folder = save_model_set(
        tmp_path / "set", tiny.vqgan, tiny.denoiser,
        {"kind": "transformers", "byt5": "byt5", "clip": "clip"},
    )
    for name, source in (("byt5", "byt5"), ("clip", "clip"), ("captioner", "blip")):
        (folder / name).symlink_to(hf_folders[source], target_is_directory=True)

    loaded = load_model_set(folder)
    assert isinstance(loaded.conditions, TransformersConditionBuilder)
    assert isinstance(loaded.captioner, Captioner)
    cond, uncond = loaded.conditions.encode(["a harbour"]), loaded.conditions.encode([""])
    assert cond.keys() == uncond.keys() == {"byt5", "clip_text"}
    with torch.inference_mode():
        logits = loaded.denoiser(torch.zeros(1, 8, 8, dtype=torch.long), torch.ones(1), cond)
    assert logits.shape == (1, 512, 8, 8)
    # A receiver skips the captioner.
    assert load_model_set(folder, captioner=False).captioner is None


def test_missing_files_are_named(
    tmp_path: Path, tiny_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("model_set.json", "vqgan.safetensors"):
        (broken / name).write_bytes((tiny_folder / name).read_bytes())
    with pytest.raises(WeightsError, match=r"weights file not found: .*broken/denoiser\.safetensors"):
        load_model_set(broken)

    (tmp_path / "paella_v3.pt").write_bytes(b"")
    with pytest.raises(
        WeightsError,
        match=r"expected vqgan_f4\.pt or vqgan/diffusion_pytorch_model\.safetensors, "
        r"byt5-xl/config\.json, clip-vit-h-14/config\.json \(`lamigo models check",
    ):
        load_model_set("paella-v3", weights=tmp_path)
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    with pytest.raises(WeightsError, match=r"paella-v3 model set needs .*--weights DIR"):
        load_model_set("paella-v3")
    with pytest.raises(ConfigError, match="unknown model set 'tinyy'"):
        load_model_set("tinyy")


def test_a_checkpoint_of_another_architecture_is_rejected(tmp_path: Path, tiny_folder: Path) -> None:
    folder = tmp_path / "other"
    folder.mkdir()
    for name in ("model_set.json", "denoiser.safetensors"):
        (folder / name).write_bytes((tiny_folder / name).read_bytes())
    state = safetensors.torch.load_file(tiny_folder / "vqgan.safetensors")
    state["vquantizer.codebook.weight"] = torch.zeros(256, 4)
    del state["out_block.0.bias"]
    safetensors.torch.save_file(state, folder / "vqgan.safetensors")
    with pytest.raises(WeightsError) as caught:
        load_model_set(folder)
    message = str(caught.value)
    assert "vqgan.safetensors does not fit VQGAN" in message
    assert "1 missing keys: out_block.0.bias" in message
    assert "vquantizer.codebook.weight expected [512, 4] found [256, 4]" in message


def test_a_broken_description_is_a_weights_error(tmp_path: Path) -> None:
    (tmp_path / "model_set.json").write_text('{"vqgan": {"levels": 2}}')
    with pytest.raises(WeightsError, match="not a valid model set description"):
        load_model_set(tmp_path)


def test_a_weights_folder_selects_paella_v3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    assert default_model_set_name(tmp_path) == "paella-v3"
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path))
    assert default_model_set_name() == "paella-v3"


def full_vqgan_state(diffusers_names: bool) -> dict[str, torch.Tensor]:
    with torch.device("meta"):
        vqgan = VQGAN(VQGANConfig.full())
    state = vqgan.to_empty(device="cpu").state_dict()
    if diffusers_names:
        state["vquantizer.embedding.weight"] = state.pop("vquantizer.codebook.weight")
    return state


def paella_folder_without_denoiser(folder: Path, clip: bool) -> Path:
    """A Paella-layout folder whose empty paella_v3.pt is what stops loading, after the VQGAN."""
    (folder / "paella_v3.pt").write_bytes(b"")
    for sub in ("byt5-xl", "clip-vit-h-14") if clip else ("byt5-xl",):
        (folder / sub).mkdir()
        (folder / sub / "config.json").write_text("{}")
    return folder


def test_a_diffusers_vqgan_loads_from_a_torch_file(tmp_path: Path) -> None:
    # `lamigo models check` accepts the diffusers codebook name in vqgan_f4.pt; loading must too.
    torch.save(full_vqgan_state(diffusers_names=True), tmp_path / "vqgan_f4.pt")
    paella_folder_without_denoiser(tmp_path, clip=True)
    with pytest.raises(WeightsError, match=r"cannot read .*paella_v3\.pt"):
        load_model_set("paella-v3", weights=tmp_path)


def test_paella_v3_needs_clip_unless_allowed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    torch.save(full_vqgan_state(diffusers_names=False), tmp_path / "vqgan_f4.pt")
    paella_folder_without_denoiser(tmp_path, clip=False)
    with pytest.raises(WeightsError, match=r"expected clip-vit-h-14/config\.json .*--allow-missing-clip"):
        load_model_set("paella-v3", weights=tmp_path)
    with caplog.at_level(logging.WARNING), pytest.raises(WeightsError, match=r"paella_v3\.pt"):
        load_model_set("paella-v3", weights=tmp_path, allow_missing_clip=True)
    assert "never trained on (--allow-missing-clip)" in caplog.text


def test_vqgan_f4_wins_over_the_diffusers_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    diffusers = tmp_path / "vqgan" / "diffusion_pytorch_model.safetensors"
    diffusers.parent.mkdir()
    safetensors.torch.save_file(full_vqgan_state(diffusers_names=True), diffusers)
    paella_folder_without_denoiser(tmp_path, clip=True)
    assert paella_vqgan_path(tmp_path) == diffusers
    with caplog.at_level(logging.WARNING), pytest.raises(WeightsError, match=r"paella_v3\.pt"):
        load_model_set("paella-v3", weights=tmp_path)
    assert "Wuerstchen's vqgan_f4_v1_500k.pt" in caplog.text
    torch.save(full_vqgan_state(diffusers_names=False), tmp_path / "vqgan_f4.pt")
    assert paella_vqgan_path(tmp_path) == tmp_path / "vqgan_f4.pt"
