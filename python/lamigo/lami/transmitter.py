"""The transmitter, Algorithm 1: image -> VQGAN indices and distances -> mask -> caption ->
GO message. The receiver's Algorithm 2 is `lamigo.lami.decoder.LaMIDecoder`."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from lamigo.coding import DEFAULT_INDEX_CODER, DEFAULT_TEXT_CODER
from lamigo.coding.prior import IndexPrior
from lamigo.images import DEFAULT_SIZE, bundled_caption, fit_image, parse_size, to_tensor
from lamigo.masking import MaskingPolicy
from lamigo.message import Geometry, GOMessage, pack_message
from lamigo.models.captioner import resolve_captions
from lamigo.zoo.sets import ModelSet

logger = logging.getLogger(__name__)


def caption_to_send(source: str | Path, caption: str | None, models: ModelSet) -> str | None:
    """`caption` when given; None where the set's captioner will make it; else a bundled photo's
    own caption (None for any other image: `Transmitter.encode` then sends the empty caption)."""
    if caption is not None or models.captioner is not None:
        return caption
    return bundled_caption(source)


@dataclass
class Transmitter:
    """Algorithm 1: image -> indices and distances (VQGAN, eq. 9 and 16) -> mask (policy) ->
    caption -> GO message.

    An image with no caption and no captioner to make one travels with the empty caption (the
    unconditional input of classifier-free guidance); the first such image logs a warning.
    `table_weight` is what `pack` weighs a control byte with when it chooses the image's index
    code table: 1 for a file, `lamigo.link.packetizer.control_byte_weight` of the link where a
    packetizer sends the packed message on with that table."""

    models: ModelSet
    policy: MaskingPolicy
    index_coder: str = DEFAULT_INDEX_CODER
    text_coder: str = DEFAULT_TEXT_CODER
    size: tuple[int, int] = parse_size(DEFAULT_SIZE)
    index_prior: IndexPrior | None = None
    table_weight: float = 1.0
    _warned_uncaptioned: bool = field(default=False, init=False, repr=False)

    @torch.inference_mode()
    def encode(self, image: np.ndarray, caption: str | None = None) -> GOMessage:
        fitted = fit_image(image, self.size)
        device = next(self.models.vqgan.parameters()).device
        pixels = to_tensor(fitted, device)
        indices, distances = self.models.vqgan.encode(pixels)
        indices, distances = indices[0].cpu().numpy(), distances[0].float().cpu().numpy()
        mask = self.policy.select(indices.shape, distances)
        if caption is None and self.models.captioner is None:
            caption = ""
            if not self._warned_uncaptioned:
                self._warned_uncaptioned = True
                logger.warning("no caption given and model set %s has no captioner: sending the empty "
                               "caption", self.models.name)
        (text,) = resolve_captions(pixels, caption, self.models.captioner)
        geometry = Geometry(*self.size, *indices.shape, self.models.vqgan.codebook_size)
        logger.info("encoded %s -> %dx%d tokens, %d masked by %s, caption %r", fitted.shape[:2],
                    *indices.shape, int(mask.sum()), self.policy.describe(), text)
        return GOMessage(geometry, self.policy, mask, indices, text, self.index_coder, self.text_coder)

    def pack(self, msg: GOMessage) -> bytes:
        """The message's bytes, its index code fitted once, here (`IndexCoder.fit`, a control
        byte weighed `table_weight` times an index byte: 1 for a file, the link's
        `lamigo.link.packetizer.control_byte_weight` where a packetizer sends the message on as it is)."""
        return pack_message(msg, self.index_prior, self.table_weight)
