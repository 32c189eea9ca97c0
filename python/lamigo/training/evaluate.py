"""Figures of a model set on held-out photos: reconstruction PSNR and ST-LPIPS through the
codebook beside JPEG at the bytes of the full index map, codebook usage, and the denoiser's
token accuracy at several noise ratios."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from lamigo.evaluation.quality import psnr
from lamigo.zoo.sets import ModelSet
from lamigo.training.denoiser_task import noise_tokens

__all__ = ["token_accuracy", "evaluate_model_set"]

logger = logging.getLogger(__name__)


@torch.inference_mode()
def token_accuracy(models: ModelSet, indices: torch.Tensor, ratio: float, seed: int = 0) -> dict[str, float]:
    """Replace a fraction `ratio` of the [B,h,w] `indices` by random codewords, run the denoiser
    once (empty caption) -> accuracy of its argmax on the replaced tokens and on all tokens."""
    device = indices.device
    generator = torch.Generator(device=device).manual_seed(seed)
    r = torch.full((indices.shape[0],), ratio, device=device)
    noised, replaced = noise_tokens(indices, r, models.denoiser.codebook_size, generator)
    uncond = models.conditions.encode([""] * indices.shape[0])
    dtype = next(models.denoiser.parameters()).dtype
    logits = models.denoiser(noised, r.to(dtype), uncond)
    correct = logits.argmax(dim=1) == indices
    return {
        "replaced": float(correct[replaced].float().mean()) if replaced.any() else float("nan"),
        "all": float(correct.float().mean()),
    }


def _jpeg_at(image: np.ndarray, budget: int, perceptual) -> dict:
    """JPEG (optimised Huffman tables) at its highest quality within `budget` file bytes."""
    from lamigo.classical.baselines import encode_at_budget, get_baseline

    encoded = encode_at_budget("jpeg", image, budget)
    if encoded is None:
        return {"bytes": None}
    decoded = get_baseline("jpeg").decode(encoded.data, image.shape[:2])
    return {"quality": encoded.setting, "bytes": len(encoded.data), "psnr_db": round(psnr(image, decoded), 2),
            "st_lpips": round(perceptual.distance(image, decoded), 4)}


@torch.inference_mode()
def evaluate_model_set(
    models: ModelSet,
    images: list[str],
    size: tuple[int, int] = (256, 256),
    ratios: list[float] | tuple[float, ...] = (0.25, 0.5, 0.75, 1.0),
    save_reconstructions: str | Path | None = None,
    index_prior=None,
) -> dict:
    """Per image: PSNR (dB) and ST-LPIPS of encode -> decode, the bytes of the GO message that
    carries every index (nothing masked, the default coders, `index_prior`) and JPEG at those
    bytes; the share of the codebook the images use, and the token accuracy per noise ratio
    (averaged over the images)."""
    from lamigo.evaluation.perceptual import load_st_lpips
    from lamigo.images import fit_image, load_image, save_image, to_tensor, to_uint8
    from lamigo.lami.transmitter import Transmitter
    from lamigo.masking.policies import make_policy

    device = next(models.vqgan.parameters()).device
    perceptual = load_st_lpips()
    transmitter = Transmitter(models, make_policy("none"), size=size, index_prior=index_prior)
    report: dict = {"model_set": models.name, "size": f"{size[0]}x{size[1]}", "images": {}}
    all_indices = []
    accuracies: dict[str, list[float]] = {f"{ratio:g}": [] for ratio in ratios}
    for source in images:
        original = fit_image(load_image(source), size)
        indices, _ = models.vqgan.encode(to_tensor(original, device))
        reconstruction = to_uint8(models.vqgan.decode_indices(indices))[0]
        # The empty caption: the index map's own bytes, as a model set without a captioner sends it.
        full_map_bytes = len(transmitter.pack(transmitter.encode(original, "")))
        report["images"][source] = {"psnr_db": round(psnr(original, reconstruction), 2),
                                    "st_lpips": round(perceptual.distance(original, reconstruction), 4),
                                    "codewords_used": int(indices.unique().numel()),
                                    "full_index_map_bytes": full_map_bytes,
                                    "jpeg_at_those_bytes": _jpeg_at(original, full_map_bytes, perceptual)}
        if save_reconstructions is not None:
            name = source.split(":")[-1] if source.startswith("photo:") else Path(source).stem
            save_image(reconstruction, Path(save_reconstructions) / f"{name}_reconstruction.png")
        all_indices.append(indices.flatten())
        for ratio in ratios:
            accuracies[f"{ratio:g}"].append(token_accuracy(models, indices, ratio)["replaced"])
    used = torch.cat(all_indices).unique().numel()
    report["codebook_usage"] = round(used / models.vqgan.codebook_size, 4)
    report["token_accuracy_on_replaced"] = {
        ratio: round(float(np.mean(values)), 4) for ratio, values in accuracies.items()
    }
    return report
