"""Condition builders and the captioner, against tiny transformers folders built in code."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lamigo.errors import ConfigError, WeightsError
from lamigo.models.captioner import Captioner, resolve_captions
from lamigo.models.conditions import (
    ByteConditionBuilder,
    ConditionBuilder,
    TransformersConditionBuilder,
    message_conditions,
)

from .conftest import TEXT_DIM


def paella_halves(builder: ConditionBuilder, captions: list[str]) -> tuple[dict, dict]:
    """The captions and, in a call of their own, as many empty captions: Paella's two halves."""
    return builder.encode(captions), builder.encode([""] * len(captions))


def assert_paella_halves(cond: dict, uncond: dict, batch: int) -> None:
    """The two halves of guidance as Paella makes them: the empty caption is one ByT5 token."""
    assert cond.keys() == uncond.keys()
    assert cond["byt5"].shape[0] == batch and uncond["byt5"].shape == (batch, 1, cond["byt5"].shape[2])
    for key in cond.keys() - {"byt5"}:
        assert cond[key].shape == uncond[key].shape and cond[key].shape[0] == batch


def test_byte_builder_is_deterministic_and_caption_dependent() -> None:
    captions = ["a cat", "a much longer caption, with ünïcode"]
    cond, uncond = paella_halves(ByteConditionBuilder(16, seed=3), captions)
    assert_paella_halves(cond, uncond, 2)
    assert cond["byt5"].shape == (2, len(captions[1].encode("utf-8")) + 1, 16)

    again = ByteConditionBuilder(16, seed=3).encode(captions)
    assert torch.equal(again["byt5"], cond["byt5"])
    other_seed = ByteConditionBuilder(16, seed=4).encode(captions)
    assert not torch.equal(other_seed["byt5"], cond["byt5"])
    # Padding is zeros after the end token; the empty caption is only the end token.
    assert torch.count_nonzero(cond["byt5"][0, 6:]) == 0
    assert torch.equal(uncond["byt5"][0], uncond["byt5"][1])


def test_transformers_builder_gives_byt5_and_clip(hf_folders: dict[str, Path]) -> None:
    builder = TransformersConditionBuilder(hf_folders["byt5"], hf_folders["clip"])
    assert builder.byt5_dim == builder.clip_dim == TEXT_DIM
    cond, uncond = paella_halves(builder, ["a boat on a lake", "hi"])
    assert_paella_halves(cond, uncond, 2)
    assert cond.keys() == {"byt5", "clip_text"}
    assert cond["byt5"].shape == (2, len("a boat on a lake") + 1, TEXT_DIM)
    assert cond["clip_text"].shape == (2, TEXT_DIM)
    assert not torch.allclose(cond["clip_text"][0], cond["clip_text"][1])
    # A caption's embedding does not depend on what it was batched with.
    alone = builder.encode(["a boat on a lake"])
    assert torch.allclose(alone["clip_text"][0], cond["clip_text"][0], atol=1e-5)


def test_transformers_builder_without_clip(hf_folders: dict[str, Path]) -> None:
    builder = TransformersConditionBuilder(hf_folders["byt5"], max_length=8)
    cond, uncond = paella_halves(builder, ["a caption longer than eight bytes"])
    assert cond.keys() == {"byt5"} and builder.clip_dim is None
    assert cond["byt5"].shape == (1, 8, TEXT_DIM) and uncond["byt5"].shape == (1, 1, TEXT_DIM)


def test_each_message_is_encoded_as_if_alone(hf_folders: dict[str, Path]) -> None:
    builder = TransformersConditionBuilder(hf_folders["byt5"], hf_folders["clip"])
    captions = ["a boat on a lake", "hi", "a car on a road"]
    cond, uncond = message_conditions(builder, captions)
    for caption, alone, empty in zip(captions, cond, uncond):
        expected, expected_empty = paella_halves(builder, [caption])
        assert alone["byt5"].shape == (1, len(caption) + 1, TEXT_DIM)
        for key in expected:
            assert torch.allclose(alone[key], expected[key], atol=1e-5)
            assert torch.allclose(empty[key], expected_empty[key], atol=1e-5)


def test_text_models_load_in_the_requested_dtype(hf_folders: dict[str, Path]) -> None:
    builder = TransformersConditionBuilder(hf_folders["byt5"], hf_folders["clip"], dtype=torch.bfloat16)
    assert {p.dtype for p in builder.byt5.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in builder.clip.parameters()} == {torch.bfloat16}
    cond = builder.encode(["a cat"])
    assert cond["byt5"].dtype == cond["clip_text"].dtype == torch.bfloat16


def test_missing_text_model_folder_names_what_to_provide(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match=r"ByT5 encoder not found: .*config.json.*byt5-xl"):
        TransformersConditionBuilder(tmp_path / "byt5-xl")


def test_blip_captioner_captions_each_image(hf_folders: dict[str, Path]) -> None:
    captioner = Captioner(hf_folders["blip"], max_new_tokens=4)
    images = torch.rand(2, 3, 64, 96)
    captions = captioner.caption(images)
    assert len(captions) == 2 and all(isinstance(caption, str) for caption in captions)
    # Greedy decoding: the same images give the same captions.
    assert resolve_captions(images, captioner=captioner) == captions
    assert resolve_captions(images, caption="given", captioner=captioner) == ["given", "given"]


def test_caption_text_overrides_and_absence_is_explained() -> None:
    images = torch.rand(3, 3, 8, 8)
    assert resolve_captions(images, caption="a dog") == ["a dog"] * 3
    with pytest.raises(ConfigError, match="--caption TEXT.*BLIP captioner"):
        resolve_captions(images)


def test_captioner_folder_must_hold_a_blip_model(tmp_path: Path, hf_folders: dict[str, Path]) -> None:
    with pytest.raises(WeightsError, match="captioner not found"):
        Captioner(tmp_path)
    with pytest.raises(WeightsError, match="model_type 't5' is not a supported captioner"):
        Captioner(hf_folders["byt5"])
