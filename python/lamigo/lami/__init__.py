"""The two ends of a LaMI-GO link: the transmitter (Algorithm 1 of the paper) and the LaMI decoder,
latent mixture integration at the receiver (Algorithm 2)."""

from lamigo.lami.decoder import DecodeResult, LaMIDecoder, ShowtimeTimings
from lamigo.lami.sampler import PAPER_STEP_SETTINGS, TokenDenoiser, combine_masks, lami_sample
from lamigo.lami.settings import (
    RENOISE_SCOPES,
    DecoderSettings,
    add_decoder_options,
    decoder_arguments,
    decoder_settings,
)
from lamigo.lami.transmitter import Transmitter, caption_to_send

__all__ = [
    "PAPER_STEP_SETTINGS",
    "RENOISE_SCOPES",
    "DecodeResult",
    "DecoderSettings",
    "LaMIDecoder",
    "ShowtimeTimings",
    "TokenDenoiser",
    "Transmitter",
    "add_decoder_options",
    "caption_to_send",
    "decoder_arguments",
    "combine_masks",
    "decoder_settings",
    "lami_sample",
]
