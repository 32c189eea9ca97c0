"""The LaMI decoder: latent mixture integration at the receiver (Algorithm 2 of the paper)."""

from lamigo.lami.decoder import DecodeResult, LaMIDecoder, ShowtimeTimings
from lamigo.lami.sampler import PAPER_STEP_SETTINGS, TokenDenoiser, combine_masks, lami_sample

__all__ = [
    "PAPER_STEP_SETTINGS",
    "DecodeResult",
    "LaMIDecoder",
    "ShowtimeTimings",
    "TokenDenoiser",
    "combine_masks",
    "lami_sample",
]
