"""Image quality against the original, and classic codecs at the same number of bytes."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def psnr(reference: np.ndarray, image: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of uint8 images."""
    error = np.mean((reference.astype(np.float64) - image.astype(np.float64)) ** 2)
    return float("inf") if error == 0 else float(10 * np.log10(255.0**2 / error))


def png_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def jpeg_bytes(image: np.ndarray, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def jpeg_at_size(image: np.ndarray, max_bytes: int) -> tuple[int, bytes] | None:
    """The highest JPEG quality (1-95) whose file fits in `max_bytes`, found by bisection;
    None when even quality 1 is larger."""
    low, high, best = 1, 95, None
    while low <= high:
        quality = (low + high) // 2
        data = jpeg_bytes(image, quality)
        if len(data) <= max_bytes:
            best, low = (quality, data), quality + 1
        else:
            high = quality - 1
    return best


def ssim(reference: np.ndarray, image: np.ndarray) -> float:
    """Structural similarity of uint8 RGB images (scikit-image, channels averaged)."""
    from skimage.metrics import structural_similarity

    return float(structural_similarity(reference, image, channel_axis=2, data_range=255))


def jpeg2000_bytes(image: np.ndarray, compression_ratio: float) -> bytes:
    """A JPEG 2000 codestream (Pillow/OpenJPEG, irreversible wavelet) at `compression_ratio`
    raw bytes per coded byte."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG2000", quality_mode="rates",
                                quality_layers=[compression_ratio], irreversible=True)
    return buffer.getvalue()


def jpeg2000_at_size(image: np.ndarray, max_bytes: int, iterations: int = 24) -> tuple[float, bytes] | None:
    """The lowest JPEG 2000 compression ratio whose file fits in `max_bytes`, found by bisection
    on a log scale between 1 and 10,000; None when even ratio 10,000 is larger."""
    low, high = 0.0, 4.0  # log10 of the ratio
    data = jpeg2000_bytes(image, 10.0**high)
    if len(data) > max_bytes:
        return None
    best = (10.0**high, data)
    for _ in range(iterations):
        middle = (low + high) / 2
        data = jpeg2000_bytes(image, 10.0**middle)
        if len(data) <= max_bytes:
            best, high = (10.0**middle, data), middle
        else:
            low = middle
    return best


def decode_image(data: bytes) -> np.ndarray:
    """Any Pillow-readable image file (JPEG, JPEG 2000, PNG) as uint8 RGB."""
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))
