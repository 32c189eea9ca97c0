"""Tiny random transformers models saved to local folders, standing in for the real
ByT5 / CLIP / BLIP downloads (built in code, nothing fetched)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

# Width of the tiny text models; equals PaellaConfig.tiny()'s byt5_dim and clip_dim.
TEXT_DIM = 32


def save_tiny_byt5(folder: Path, d_model: int = TEXT_DIM) -> Path:
    from transformers import ByT5Tokenizer, T5Config, T5EncoderModel

    config = T5Config(vocab_size=384, d_model=d_model, d_kv=8, d_ff=64, num_layers=1, num_heads=4)
    T5EncoderModel(config).save_pretrained(folder)
    ByT5Tokenizer().save_pretrained(folder)
    return folder


def save_tiny_clip(folder: Path) -> Path:
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection, CLIPTokenizer

    # A byte-level vocabulary without merges: every character is its own token.
    characters = sorted(ByteLevel.alphabet())
    vocab = {token: i for i, token in enumerate(characters + [c + "</w>" for c in characters])}
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[])
    config = CLIPTextConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=4,
        max_position_embeddings=77,
        projection_dim=TEXT_DIM,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    CLIPTextModelWithProjection(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def save_tiny_blip(folder: Path) -> Path:
    from transformers import (
        BertTokenizer,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessor,
        BlipProcessor,
    )

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", "a", "photo", "of", "cat"]
    tokenizer = BertTokenizer(vocab={word: i for i, word in enumerate(words)}, bos_token="[DEC]")
    config = BlipConfig(
        text_config=dict(
            vocab_size=len(words),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=4,
            encoder_hidden_size=32,
            max_position_embeddings=32,
            bos_token_id=tokenizer.bos_token_id,
            sep_token_id=tokenizer.sep_token_id,
            pad_token_id=tokenizer.pad_token_id,
        ),
        vision_config=dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=4,
            image_size=32,
            patch_size=8,
        ),
        projection_dim=32,
    )
    BlipForConditionalGeneration(config).save_pretrained(folder)
    image_processor = BlipImageProcessor(size={"height": 32, "width": 32})
    BlipProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def hf_folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """{"byt5", "clip", "blip"} -> tiny transformers folders, built once per test session."""
    root = tmp_path_factory.mktemp("hf")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return {
            "byt5": save_tiny_byt5(root / "byt5"),
            "clip": save_tiny_clip(root / "clip"),
            "blip": save_tiny_blip(root / "blip"),
        }
