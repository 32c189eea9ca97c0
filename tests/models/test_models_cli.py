"""`lamigo models check` on good and broken weights folders, and the models behind `lamigo encode`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch

from lamigo.cli.main import main
from lamigo.errors import WeightsError
from lamigo.images import BUNDLED_PHOTOS, fit_image, load_image, to_tensor
from lamigo.masking import make_policy
from lamigo.message import unpack_message
from lamigo.models.captioner import Captioner
from lamigo.zoo.sets import build_tiny_model_set, load_model_set, save_model_set
from lamigo.models.vqgan import VQGAN, VQGANConfig

TINY = ["--model-set", "tiny", "--device", "cpu"]


@pytest.fixture(scope="module")
def good_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tiny = build_tiny_model_set()
    return save_model_set(tmp_path_factory.mktemp("weights") / "good", tiny.vqgan, tiny.denoiser)


def check(folder: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["models", "check", str(folder)])
    return code, capsys.readouterr().out


def test_a_good_folder_passes(good_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = check(good_folder, capsys)
    assert code == 0, out
    assert "(LaMI-GO layout)" in out
    assert "vqgan      OK        vqgan.safetensors:" in out
    assert "denoiser   OK        denoiser.safetensors:" in out
    assert "captioner  ABSENT" in out
    assert out.rstrip().endswith("OK: every required component matches")


def test_a_broken_folder_names_the_keys_and_shapes(
    good_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model_set.json").write_bytes((good_folder / "model_set.json").read_bytes())
    state = safetensors.torch.load_file(good_folder / "denoiser.safetensors")
    state["out_mapper.1.weight"] = torch.zeros(1024, 32, 1, 1)
    del state["byt5_mapper.bias"]
    state["t5_mapper.weight"] = torch.zeros(1)
    safetensors.torch.save_file(state, broken / "denoiser.safetensors")

    code, out = check(broken, capsys)
    assert code == 1
    assert "vqgan      MISSING   vqgan.safetensors: expected vqgan.safetensors" in out
    assert "denoiser   MISMATCH  denoiser.safetensors:" in out
    assert "1 missing keys: byt5_mapper.bias" in out
    assert "1 unexpected keys: t5_mapper.weight" in out
    assert "out_mapper.1.weight expected [512, 32, 1, 1] found [1024, 32, 1, 1]" in out
    assert "FAILED: vqgan, denoiser" in out


def test_paella_layout_with_a_diffusers_vqgan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The full-size VQGAN in the diffusers PaellaVQModel layout: only the codebook is renamed.
    with torch.device("meta"):
        vqgan = VQGAN(VQGANConfig.full())
    state = vqgan.to_empty(device="cpu").state_dict()
    state["vquantizer.embedding.weight"] = state.pop("vquantizer.codebook.weight")
    (tmp_path / "vqgan").mkdir()
    safetensors.torch.save_file(state, tmp_path / "vqgan" / "diffusion_pytorch_model.safetensors")
    (tmp_path / "byt5-xl").mkdir()
    (tmp_path / "byt5-xl" / "config.json").write_text(json.dumps({"model_type": "t5", "d_model": 1536}))
    (tmp_path / "byt5-xl" / "model.safetensors").write_bytes(b"")

    code, out = check(tmp_path, capsys)
    assert code == 1
    assert "(Paella layout)" in out
    # It fits, but it is another checkpoint's conversion: said plainly, without failing.
    assert "vqgan      CAUTION   vqgan/diffusion_pytorch_model.safetensors: 122 tensors, all keys" in out
    assert "converted from Wuerstchen's vqgan_f4_v1_500k.pt" in out
    assert "denoiser   MISSING   paella_v3.pt: expected paella_v3.pt" in out
    assert "byt5       MISMATCH  byt5-xl: d_model is 1536, expected 2560" in out
    clip_line = next(line for line in out.splitlines() if line.lstrip().startswith("clip "))
    assert clip_line.split()[1] == "MISSING" and "always trained with it" in clip_line
    assert "FAILED: denoiser, byt5, clip" in out

    # With Paella's own file beside it, vqgan_f4.pt is the one used.
    state["vquantizer.codebook.weight"] = state.pop("vquantizer.embedding.weight")
    torch.save(state, tmp_path / "vqgan_f4.pt")
    code, out = check(tmp_path, capsys)
    assert "vqgan      OK        vqgan_f4.pt: 122 tensors, all keys and shapes match (vqgan/diffusion" in out


def test_a_small_vqgan_f4_is_a_mismatch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.save(VQGAN(VQGANConfig.tiny()).state_dict(), tmp_path / "vqgan_f4.pt")
    code, out = check(tmp_path, capsys)
    assert code == 1
    assert "vqgan      MISMATCH  vqgan_f4.pt: " in out
    assert "72 missing keys: up_blocks." in out


def test_no_folder_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "check", str(tmp_path / "absent")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "weights folder not found" in err


def test_list_names_every_set(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "list", "--weights", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("tiny ")
    assert f"paella-v3  folder found     {tmp_path}" in out
    assert out.rstrip().endswith("when --model-set is not given: paella-v3")


def fitted_pixels(size: tuple[int, int]) -> torch.Tensor:
    return to_tensor(fit_image(load_image("photo:coffee"), size))


def test_encode_masks_by_the_vqgan_distances(tmp_path: Path) -> None:
    path = tmp_path / "coffee.lgo"
    assert main(["encode", "photo:coffee", "-o", str(path), "--size", "64x64", "--policy", "ebm",
                 "--ratio", "0.3", "--caption", "a cup of coffee", *TINY]) == 0
    message = unpack_message(path.read_bytes(), None)

    indices, distances = load_model_set("tiny").vqgan.encode(fitted_pixels((64, 64)))
    expected_mask = make_policy("ebm", ratio=0.3).select((16, 16), distances[0].numpy())
    assert np.array_equal(message.mask, expected_mask)
    sent = ~expected_mask
    assert np.array_equal(message.indices[sent], indices[0].numpy()[sent])
    assert message.caption == "a cup of coffee"


def test_encode_captions_with_a_blip_folder(tmp_path: Path, hf_folders: dict[str, Path]) -> None:
    path = tmp_path / "coffee.lgo"
    assert main(["encode", "photo:coffee", "-o", str(path), "--size", "32x32",
                 "--captioner", str(hf_folders["blip"]), *TINY]) == 0
    expected = Captioner(hf_folders["blip"]).caption(fitted_pixels((32, 32)))
    assert unpack_message(path.read_bytes(), None).caption == expected[0]


def test_a_bundled_photo_without_a_captioner_sends_its_own_caption(tmp_path: Path) -> None:
    path = tmp_path / "coffee.lgo"
    assert main(["encode", "photo:coffee", "-o", str(path), "--size", "32x32", *TINY]) == 0
    assert unpack_message(path.read_bytes(), None).caption == BUNDLED_PHOTOS["coffee"]


def test_paella_v3_without_clip_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "paella_v3.pt").write_bytes(b"")
    (tmp_path / "byt5-xl").mkdir()
    (tmp_path / "byt5-xl" / "config.json").write_text("{}")
    message = tmp_path / "m.lgo"
    message.write_bytes(b"LG")
    capsys.readouterr()
    assert main(["decode", str(message), "-o", str(tmp_path / "x.png"), "--weights", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "clip-vit-h-14/config.json" in err and "--allow-missing-clip" in err


class _RunsCode:
    """Unpickling this calls print: what a hostile `pytorch_model.bin` would do with os.system."""

    def __reduce__(self):
        return (print, ("unpickled code ran",))


def test_a_pickled_bin_that_runs_code_is_refused_in_one_line(
    tmp_path: Path, hf_folders: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """issue 14: `models check` said OK for such a folder and loading printed a 45-line traceback."""
    import shutil

    good = tmp_path / "good"
    tiny = build_tiny_model_set()
    save_model_set(good, tiny.vqgan, tiny.denoiser)
    captioner = good / "captioner"
    shutil.copytree(hf_folders["blip"], captioner)
    for weights in captioner.glob("*.safetensors"):
        weights.unlink()
    torch.save({"weight": _RunsCode()}, captioner / "pytorch_model.bin")
    code, out = check(good, capsys)
    assert code == 1
    assert "pytorch_model.bin cannot be read safely: UnpicklingError" in out
    assert "unpickled code ran" not in out
    with pytest.raises(WeightsError, match=r"^captioner at .* could not be loaded: ") as caught:
        Captioner(captioner)
    assert "\n" not in str(caught.value)
    assert "unpickled code ran" not in capsys.readouterr().out
    photo = tmp_path / "coffee.lgo"
    assert main(["encode", "photo:coffee", "-o", str(photo), "--size", "32x32",
                 "--captioner", str(captioner), *TINY]) == 2
