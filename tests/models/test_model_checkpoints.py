"""Safe state-dict reading: round trips, wrappers, and readable rejections."""

from __future__ import annotations

from pathlib import Path

import pytest
import safetensors.torch
import torch

from lamigo.errors import WeightsError
from lamigo.models.checkpoints import (
    compare_state_dict,
    load_state_dict_checked,
    read_shapes,
    read_state_dict,
)
from lamigo.models.vqgan import VQGAN, VQGANConfig


def tiny_vqgan(seed: int) -> VQGAN:
    torch.manual_seed(seed)
    return VQGAN(VQGANConfig.tiny())


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_saved_state_dict_round_trips(tmp_path: Path, suffix: str) -> None:
    source = tiny_vqgan(1)
    path = tmp_path / f"vqgan{suffix}"
    state = source.state_dict()
    if suffix == ".pt":
        torch.save(state, path)
    else:
        safetensors.torch.save_file(state, path)

    target = load_state_dict_checked(tiny_vqgan(2), read_state_dict(path), path)
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value), key
    assert read_shapes(path) == {key: tuple(value.shape) for key, value in state.items()}


def test_meta_model_takes_the_checkpoint_tensors(tmp_path: Path) -> None:
    path = tmp_path / "vqgan.safetensors"
    safetensors.torch.save_file(tiny_vqgan(1).state_dict(), path)
    with torch.device("meta"):
        model = VQGAN(VQGANConfig.tiny())
    load_state_dict_checked(model, read_state_dict(path), path)
    assert not any(p.is_meta for p in model.parameters())


def test_half_precision_checkpoint_without_batchnorm_counter(tmp_path: Path) -> None:
    state = {
        key: value.half() if value.is_floating_point() else value
        for key, value in tiny_vqgan(1).state_dict().items()
        if not key.endswith("num_batches_tracked")
    }
    path = tmp_path / "diffusion_pytorch_model.safetensors"
    safetensors.torch.save_file(state, path)
    with torch.device("meta"):
        model = VQGAN(VQGANConfig.tiny())
    load_state_dict_checked(model, read_state_dict(path), path)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert torch.equal(model.vquantizer.codebook.weight, state["vquantizer.codebook.weight"].float())


def test_legacy_torch_format_is_read(tmp_path: Path) -> None:
    state = tiny_vqgan(1).state_dict()
    path = tmp_path / "vqgan_f4.pt"
    torch.save(state, path, _use_new_zipfile_serialization=False)
    assert read_state_dict(path).keys() == state.keys()


def test_training_wrappers_are_unwrapped(tmp_path: Path) -> None:
    state = tiny_vqgan(1).state_dict()
    path = tmp_path / "checkpoint.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "iter": 3}, path)
    assert read_state_dict(path).keys() == state.keys()


def test_wrong_architecture_is_rejected_with_the_differences(tmp_path: Path) -> None:
    path = tmp_path / "vqgan_f4.pt"
    torch.save(tiny_vqgan(1).state_dict(), path)
    with torch.device("meta"):
        full = VQGAN(VQGANConfig.full())
    with pytest.raises(WeightsError) as caught:
        load_state_dict_checked(full, read_state_dict(path), path)
    message = str(caught.value)
    assert "vqgan_f4.pt does not fit VQGAN" in message
    assert "72 missing keys: up_blocks." in message  # 12 bottleneck blocks, not 2
    assert "shapes differ: down_blocks.0.channelwise.0.bias expected [768] found [64]" in message


def test_missing_and_foreign_files_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="weights file not found: .*absent.pt"):
        read_state_dict(tmp_path / "absent.pt")

    pickled_object = tmp_path / "object.pt"
    torch.save({"state_dict": {"weight": torch.zeros(2)}, "config": Path("x")}, pickled_object)
    with pytest.raises(WeightsError, match="cannot read"):
        read_state_dict(pickled_object)  # weights_only refuses arbitrary classes

    not_tensors = tmp_path / "numbers.pt"
    torch.save({"a": 1}, not_tensors)
    with pytest.raises(WeightsError, match="does not hold a state dict"):
        read_state_dict(not_tensors)

    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a safetensors file")
    with pytest.raises(WeightsError, match="cannot read"):
        read_shapes(garbage)

    other = tmp_path / "weights.npz"
    other.write_bytes(b"")
    with pytest.raises(WeightsError, match="unknown weights format"):
        read_state_dict(other)


def test_compare_state_dict_lists_each_kind_of_difference() -> None:
    diff = compare_state_dict({"a": (2,), "b": (3, 3), "c": (1,)}, {"a": (2,), "b": (3, 4), "d": (1,)})
    assert not diff.ok
    assert diff.missing == ["c"] and diff.unexpected == ["d"]
    assert diff.shape_mismatches == {"b": ((3, 3), (3, 4))}
    assert compare_state_dict({"a": (2,)}, {"a": (2,)}).describe() == "all keys and shapes match"
