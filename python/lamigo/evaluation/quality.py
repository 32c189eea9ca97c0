"""Image quality against the original: PSNR, SSIM, and the per-image metrics of a run
(`QualityMetrics`: those two, ST-LPIPS and standard LPIPS as chosen). FID, over a set of
images, is `lamigo.evaluation.fid`; the classical codecs at a byte budget are `lamigo.classical`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


def psnr(reference: np.ndarray, image: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of uint8 images."""
    error = np.mean((reference.astype(np.float64) - image.astype(np.float64)) ** 2)
    return float("inf") if error == 0 else float(10 * np.log10(255.0**2 / error))


def ssim(reference: np.ndarray, image: np.ndarray) -> float:
    """Structural similarity of uint8 RGB images (scikit-image, channels averaged)."""
    from skimage.metrics import structural_similarity

    return float(structural_similarity(reference, image, channel_axis=2, data_range=255))


class QualityMetrics:
    """The per-image metrics of a run: PSNR, SSIM, ST-LPIPS and standard LPIPS as chosen."""

    def __init__(self, names: Sequence[str], device: str | torch.device = "cpu",
                 lpips_weights: Path | None = None) -> None:
        from lamigo.evaluation.perceptual import load_lpips, load_st_lpips

        self.names = tuple(names)
        self.st_lpips = load_st_lpips(device) if "st-lpips" in names else None
        self.lpips = load_lpips(lpips_weights, device) if "lpips" in names else None

    def measure(self, reference: np.ndarray, image: np.ndarray) -> dict[str, float]:
        """The chosen metrics of `image` against `reference` (uint8 RGB, same size)."""
        values = {}
        if "psnr" in self.names:
            values["psnr"] = psnr(reference, image)
        if "ssim" in self.names:
            values["ssim"] = ssim(reference, image)
        if self.st_lpips is not None:
            values["st_lpips"] = self.st_lpips.distance(reference, image)
        if self.lpips is not None:
            values["lpips"] = self.lpips.distance(reference, image)
        return values
