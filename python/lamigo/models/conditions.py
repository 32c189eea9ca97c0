"""Condition builders: captions -> the condition dicts the denoiser's mappers expect.

A builder encodes a batch as Paella does (`encode`: one tokenizer call, shorter captions padded
to the longest, no attention mask). `message_conditions` gives the receiver each message's
caption condition as if the message were alone (with no attention mask, padding changes the
denoiser's output, so one message must not be padded for another) and the empty caption of
classifier-free guidance, encoded in a call of its own as Paella v3 does: the single ByT5 end
token, whatever the captions' length.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

import torch

from lamigo.errors import WeightsError

__all__ = [
    "ConditionBuilder",
    "ByteConditionBuilder",
    "TransformersConditionBuilder",
    "message_conditions",
    "load_pretrained",
    "pretrained_options",
]

logger = logging.getLogger(__name__)

Conditions = dict[str, torch.Tensor]


class ConditionBuilder(Protocol):
    """Anything that turns captions into condition dicts."""

    def sequence_length(self, caption: str) -> int:
        """Length of the text condition of `caption` encoded alone."""
        ...

    def encode(self, captions: list[str]) -> Conditions:
        """Captions -> batch-first conditions, padded to the longest caption as Paella pads."""
        ...


def message_conditions(
    builder: ConditionBuilder, captions: list[str]
) -> tuple[list[Conditions], list[Conditions]]:
    """Each message's (cond, uncond) as Paella would encode it in a batch of its own.

    Captions of one length share an encoder call (no padding arises), and the empty caption is
    encoded once for all. Every dict has batch 1.
    """
    groups: dict[int, list[int]] = {}
    for position, caption in enumerate(captions):
        groups.setdefault(builder.sequence_length(caption), []).append(position)
    cond: list[Conditions | None] = [None] * len(captions)
    for positions in groups.values():
        encoded = builder.encode([captions[p] for p in positions])
        for row, position in enumerate(positions):
            cond[position] = {key: value[row:row + 1] for key, value in encoded.items()}
    uncond = builder.encode([""])
    return cond, [uncond] * len(captions)


class ByteConditionBuilder:
    """Stand-in text encoder for the small model sets: no weights, nothing to download.

    Each UTF-8 byte of a caption maps to a fixed random vector drawn from `seed`, plus a
    sinusoidal position code; an end token closes every caption and shorter captions are
    padded with zeros. It produces the "byt5" condition only. Transmitter and receiver
    processes get identical vectors because they come from the seed alone.
    """

    def __init__(
        self,
        dim: int,
        seed: int = 0,
        max_bytes: int = 256,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.dim = dim
        self.max_bytes = max_bytes
        self.device = torch.device(device)
        self.dtype = dtype
        generator = torch.Generator().manual_seed(seed)
        # Rows 0..255 are the bytes, row 256 the end token.
        self.table = torch.randn(257, dim, generator=generator).to(self.device, dtype)
        positions = torch.arange(max_bytes + 1, dtype=torch.float32)[:, None]
        frequencies = torch.exp(-torch.arange(0, dim, 2, dtype=torch.float32) / dim * 9.2)
        code = torch.zeros(max_bytes + 1, dim)
        code[:, 0::2] = torch.sin(positions * frequencies)
        code[:, 1::2] = torch.cos(positions * frequencies[: dim // 2])
        self.positions = code.to(self.device, dtype)

    def _encode(self, captions: list[str], length: int) -> torch.Tensor:
        out = torch.zeros(len(captions), length, self.dim, device=self.device, dtype=self.dtype)
        for row, caption in enumerate(captions):
            tokens = list(caption.encode("utf-8")[: self.max_bytes]) + [256]
            ids = torch.tensor(tokens, device=self.device)
            out[row, : len(tokens)] = self.table[ids] + self.positions[: len(tokens)]
        return out

    def sequence_length(self, caption: str) -> int:
        """Bytes of `caption` (at most `max_bytes`) plus the end token."""
        return 1 + min(len(caption.encode("utf-8")), self.max_bytes)

    def encode(self, captions: list[str]) -> Conditions:
        """Captions -> {"byt5": [B, L, dim]}, L = the longest `sequence_length`."""
        return {"byt5": self._encode(captions, max(map(self.sequence_length, captions)))}


def pretrained_options(dtype: torch.dtype) -> dict[str, object]:
    """`from_pretrained` keyword arguments for weights in `dtype` (`load_pretrained` adds
    local files only).

    transformers renamed `torch_dtype` to `dtype` in 4.56; older releases would silently
    ignore the new name and load float32.
    """
    import transformers
    from packaging.version import Version

    renamed = Version(transformers.__version__) >= Version("4.56")
    return {("dtype" if renamed else "torch_dtype"): dtype}


def load_pretrained(loader: type, folder: Path, what: str, **options: object):
    """`loader.from_pretrained(folder)` from local files only; any failure (a pickled `.bin`
    that `weights_only` refuses, a truncated file, a config transformers cannot read) is one
    WeightsError line naming the folder, not transformers' traceback."""
    try:
        return loader.from_pretrained(folder, local_files_only=True, **options)
    except Exception as err:  # transformers raises many unrelated types for a bad folder
        first_line = (str(err).strip().splitlines() or [""])[0][:200]
        raise WeightsError(f"{what} at {folder} could not be loaded: {type(err).__name__}: {first_line}") from err


def _require_folder(folder: Path, what: str) -> Path:
    if not (folder / "config.json").is_file():
        raise WeightsError(
            f"{what} not found: expected a Hugging Face transformers folder with config.json "
            f"and weights at {folder}"
        )
    return folder


class TransformersConditionBuilder:
    """ByT5 encoder states and, optionally, CLIP pooled text embeddings via `transformers`.

    Both models load from local folders only (`local_files_only=True`); nothing is downloaded.
    ByT5 gives the "byt5" condition (per-token last_hidden_state of Paella's input: the input ids
    alone, padded to the longest caption, at most `max_length` tokens with the end token, no
    attention mask). CLIP, when a folder is given, gives "clip_text" (the projected pooled
    embedding of `CLIPTextModelWithProjection`).
    """

    def __init__(
        self,
        byt5_folder: str | Path,
        clip_folder: str | Path | None = None,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        max_length: int = 768,
    ) -> None:
        from transformers import AutoTokenizer, CLIPTextModelWithProjection, T5EncoderModel

        self.device = torch.device(device)
        self.max_length = max_length
        byt5_folder = _require_folder(Path(byt5_folder), "ByT5 encoder")
        logger.info("loading ByT5 encoder from %s", byt5_folder)
        self.byt5_tokenizer = load_pretrained(AutoTokenizer, byt5_folder, "ByT5 tokenizer")
        self.byt5 = load_pretrained(T5EncoderModel, byt5_folder, "ByT5 encoder", **pretrained_options(dtype))
        self.byt5.to(self.device).eval()
        self.clip_tokenizer = self.clip = None
        if clip_folder is not None:
            clip_folder = _require_folder(Path(clip_folder), "CLIP text model")
            logger.info("loading CLIP text model from %s", clip_folder)
            self.clip_tokenizer = load_pretrained(AutoTokenizer, clip_folder, "CLIP tokenizer")
            self.clip = load_pretrained(
                CLIPTextModelWithProjection, clip_folder, "CLIP text model", **pretrained_options(dtype)
            )
            self.clip.to(self.device).eval()

    @property
    def byt5_dim(self) -> int:
        """Width of the "byt5" condition."""
        return self.byt5.config.d_model

    @property
    def clip_dim(self) -> int | None:
        """Width of the "clip_text" condition, or None without a CLIP model."""
        return None if self.clip is None else self.clip.text_projection.out_features

    def tokenize(self, captions: list[str]) -> torch.Tensor:
        """ByT5 input ids [B, L] as Paella makes them: padded to the longest, truncated."""
        return self.byt5_tokenizer(
            list(captions), padding="longest", truncation=True, max_length=self.max_length, return_tensors="pt"
        ).input_ids

    def sequence_length(self, caption: str) -> int:
        """ByT5 tokens of `caption` alone, end token included."""
        return int(self.tokenize([caption]).shape[1])

    @torch.no_grad()
    def encode(self, captions: list[str]) -> Conditions:
        """Captions -> {"byt5": [B, L, byt5_dim]} and, with CLIP, "clip_text" [B, clip_dim]."""
        ids = self.tokenize(captions).to(self.device)
        conditions = {"byt5": self.byt5(input_ids=ids).last_hidden_state}
        if self.clip is not None:
            clip_tokens = self.clip_tokenizer(
                list(captions),
                padding=True,
                truncation=True,
                max_length=self.clip.config.max_position_embeddings,
                return_tensors="pt",
            ).to(self.device)
            conditions["clip_text"] = self.clip(**clip_tokens).text_embeds
        return conditions
