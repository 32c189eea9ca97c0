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


def decode_jpeg(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))
