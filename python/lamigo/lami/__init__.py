"""The LaMI decoder: latent mixture integration at the receiver (Algorithm 2 of the paper)."""

from lamigo.lami.decoder import DecodeResult, LaMIDecoder, ShowtimeTimings
from lamigo.lami.sampler import PAPER_STEP_SETTINGS, TokenDenoiser, combine_masks, lami_sample
from lamigo.lami.settings import (
    RENOISE_SCOPES,
    DecoderSettings,
    add_decoder_options,
    decoder_arguments,
    decoder_settings,
)

__all__ = [
    "PAPER_STEP_SETTINGS",
    "RENOISE_SCOPES",
    "DecodeResult",
    "DecoderSettings",
    "LaMIDecoder",
    "ShowtimeTimings",
    "TokenDenoiser",
    "add_decoder_options",
    "decoder_arguments",
    "combine_masks",
    "decoder_settings",
    "lami_sample",
]
