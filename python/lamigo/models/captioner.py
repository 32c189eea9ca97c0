"""Image captioning at the transmitter: a BLIP-family model through `transformers`."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from lamigo.errors import ConfigError, WeightsError
from lamigo.models.conditions import load_pretrained, pretrained_options

__all__ = ["Captioner", "resolve_captions"]

logger = logging.getLogger(__name__)


def _model_classes() -> dict[str, type]:
    from transformers import Blip2ForConditionalGeneration, BlipForConditionalGeneration

    return {"blip": BlipForConditionalGeneration, "blip-2": Blip2ForConditionalGeneration}


class Captioner:
    """BLIP or BLIP-2 captioner loaded from a local transformers folder (no downloads).

    The folder holds what `save_pretrained` writes for the model and its processor
    (e.g. a local copy of Salesforce/blip-image-captioning-base).
    """

    def __init__(
        self,
        folder: str | Path,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        max_new_tokens: int = 30,
    ) -> None:
        from transformers import AutoProcessor

        folder = Path(folder)
        config_path = folder / "config.json"
        if not config_path.is_file():
            raise WeightsError(
                f"captioner not found: expected a BLIP transformers folder with config.json "
                f"at {folder}"
            )
        model_type = json.loads(config_path.read_text()).get("model_type")
        classes = _model_classes()
        if model_type not in classes:
            raise WeightsError(
                f"{config_path}: model_type {model_type!r} is not a supported captioner "
                f"({', '.join(classes)})"
            )
        logger.info("loading %s captioner from %s", model_type, folder)
        self.device = torch.device(device)
        self.dtype = dtype
        self.max_new_tokens = max_new_tokens
        self.processor = load_pretrained(AutoProcessor, folder, "captioner processor")
        self.model = load_pretrained(classes[model_type], folder, "captioner", **pretrained_options(dtype))
        self.model.to(self.device).eval()

    @torch.no_grad()
    def caption(self, images: torch.Tensor) -> list[str]:
        """Images [B,3,H,W] float in [0,1] -> one caption per image (greedy decoding)."""
        inputs = self.processor(
            images=list(images.float().cpu()), return_tensors="pt", do_rescale=False
        ).to(self.device)
        pixel_values = inputs.pixel_values.to(self.dtype)
        generated = self.model.generate(pixel_values=pixel_values, max_new_tokens=self.max_new_tokens)
        captions = self.processor.batch_decode(generated, skip_special_tokens=True)
        return [caption.strip() for caption in captions]


def resolve_captions(
    images: torch.Tensor, caption: str | None = None, captioner: Captioner | None = None
) -> list[str]:
    """The caption of each image: `caption` when given, else the captioner's.

    Raises ConfigError saying what to provide when there is neither.
    """
    if caption is not None:
        return [caption] * images.shape[0]
    if captioner is not None:
        return captioner.caption(images)
    raise ConfigError(
        "no caption: pass --caption TEXT, or a BLIP captioner (a transformers folder) with "
        "--captioner DIR, or put it at WEIGHTS/captioner and point --weights or LAMIGO_WEIGHTS "
        "at WEIGHTS"
    )
