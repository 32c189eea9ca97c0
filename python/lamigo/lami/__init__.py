"""The two ends of a LaMI-GO link: the transmitter (Algorithm 1 of the paper) and the LaMI decoder,
latent mixture integration at the receiver (Algorithm 2).

The names below load on first use (PEP 562), so that `lamigo.lami.settings` (the decoder options
every command parses) imports without torch: `lamigo --help` and an argparse error come at once."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_WHERE = {
    "DecodeResult": "decoder", "LaMIDecoder": "decoder", "ShowtimeTimings": "decoder",
    "PAPER_STEP_SETTINGS": "sampler", "TokenDenoiser": "sampler", "combine_masks": "sampler",
    "lami_sample": "sampler",
    "RENOISE_SCOPES": "settings", "DecoderSettings": "settings", "add_decoder_options": "settings",
    "decoder_arguments": "settings", "decoder_settings": "settings",
    "Transmitter": "transmitter", "caption_to_send": "transmitter",
}

__all__ = sorted(_WHERE)

if TYPE_CHECKING:
    from lamigo.lami.decoder import DecodeResult, LaMIDecoder, ShowtimeTimings  # noqa: F401
    from lamigo.lami.sampler import PAPER_STEP_SETTINGS, TokenDenoiser, combine_masks, lami_sample  # noqa: F401
    from lamigo.lami.settings import (  # noqa: F401
        RENOISE_SCOPES,
        DecoderSettings,
        add_decoder_options,
        decoder_arguments,
        decoder_settings,
    )
    from lamigo.lami.transmitter import Transmitter, caption_to_send  # noqa: F401


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'lamigo.lami' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"lamigo.lami.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
