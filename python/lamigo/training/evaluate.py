"""Figures of a model set on held-out photos: reconstruction PSNR through the codebook,
codebook usage, and the denoiser's token accuracy at several noise ratios."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from lamigo.evaluation.quality import psnr
from lamigo.models.registry import ModelSet
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


@torch.inference_mode()
def evaluate_model_set(
    models: ModelSet,
    images: list[str],
    size: tuple[int, int] = (256, 256),
    ratios: list[float] | tuple[float, ...] = (0.25, 0.5, 0.75, 1.0),
    save_reconstructions: str | Path | None = None,
) -> dict:
    """PSNR (dB) of encode -> decode per image, the share of the codebook the images use, and
    the token accuracy per noise ratio (averaged over the images)."""
    from lamigo.images import fit_image, load_image, save_image, to_tensor, to_uint8

    device = next(models.vqgan.parameters()).device
    report: dict = {"model_set": models.name, "size": f"{size[0]}x{size[1]}", "images": {}}
    all_indices = []
    accuracies: dict[str, list[float]] = {f"{ratio:g}": [] for ratio in ratios}
    for source in images:
        original = fit_image(load_image(source), size)
        indices, _ = models.vqgan.encode(to_tensor(original, device))
        reconstruction = to_uint8(models.vqgan.decode_indices(indices))[0]
        report["images"][source] = {"psnr_db": round(psnr(original, reconstruction), 2),
                                    "codewords_used": int(indices.unique().numel())}
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
