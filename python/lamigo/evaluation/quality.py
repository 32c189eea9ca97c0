"""Image quality against the original (the classical codecs at a byte budget are
`lamigo.classical`)."""

from __future__ import annotations

import numpy as np


def psnr(reference: np.ndarray, image: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of uint8 images."""
    error = np.mean((reference.astype(np.float64) - image.astype(np.float64)) ** 2)
    return float("inf") if error == 0 else float(10 * np.log10(255.0**2 / error))


def ssim(reference: np.ndarray, image: np.ndarray) -> float:
    """Structural similarity of uint8 RGB images (scikit-image, channels averaged)."""
    from skimage.metrics import structural_similarity

    return float(structural_similarity(reference, image, channel_axis=2, data_range=255))
