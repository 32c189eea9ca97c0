"""From training checkpoints to a model-set folder (`save_model_set`) with its index prior."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from lamigo.coding.prior import IndexPrior
from lamigo.zoo.index_prior import INDEX_PRIOR_FILE
from lamigo.models.paella import Denoiser, PaellaConfig
from lamigo.zoo.sets import save_model_set
from lamigo.models.vqgan import VQGAN, VQGANConfig
from lamigo.training.checkpoint import load_checkpoint
from lamigo.training.data import Photo
from lamigo.training.denoiser_task import CONDITIONS_SEED

__all__ = [
    "vqgan_from_checkpoint",
    "denoiser_from_checkpoint",
    "denoiser_config_from_dict",
    "count_codewords",
    "export_model_set",
    "write_model_card",
    "MODEL_CARD_FILE",
]

MODEL_CARD_FILE = "MODEL_CARD.md"

logger = logging.getLogger(__name__)


def denoiser_config_from_dict(spec: dict) -> PaellaConfig:
    """A PaellaConfig from its asdict() form (lists back to tuples)."""
    return PaellaConfig(**{key: tuple(value) if isinstance(value, list) else value for key, value in spec.items()})


def vqgan_from_checkpoint(path: str | Path) -> VQGAN:
    """The VQGAN of a training checkpoint (file or folder), in eval mode on the CPU."""
    checkpoint = load_checkpoint(path, "vqgan")
    vqgan = VQGAN(VQGANConfig(**checkpoint.config))
    vqgan.load_state_dict(checkpoint.model)
    return vqgan.eval()


def denoiser_from_checkpoint(path: str | Path) -> Denoiser:
    """The denoiser of a training checkpoint (file or folder), in eval mode on the CPU."""
    checkpoint = load_checkpoint(path, "denoiser")
    denoiser = Denoiser(denoiser_config_from_dict(checkpoint.config))
    denoiser.load_state_dict(checkpoint.model)
    return denoiser.eval()


@torch.inference_mode()
def count_codewords(vqgan: VQGAN, photos: list[Photo], size: tuple[int, int]) -> np.ndarray:
    """How often each codeword occurs in the photos fitted to `size` -> int64 [K]."""
    from lamigo.images import fit_image, to_tensor

    counts = np.zeros(vqgan.codebook_size, dtype=np.int64)
    for photo in tqdm(photos, desc="counting codewords", unit="photo"):
        indices, _ = vqgan.encode(to_tensor(fit_image(photo.pixels, size)))
        counts += np.bincount(indices.flatten().numpy(), minlength=vqgan.codebook_size)
    return counts


def export_model_set(
    vqgan_checkpoint: str | Path,
    denoiser_checkpoint: str | Path,
    out: str | Path,
    prior_photos: list[Photo],
    prior_size: tuple[int, int] = (256, 256),
    half: bool = False,
) -> str:
    """Write the model set (configs, both models' weights, byte conditions) and
    index_prior.safetensors from the codeword counts over `prior_photos` -> a one-line summary.

    With `half` the weights are stored as float16 (half the bytes); `load_model_set` casts them
    back to float32, and the prior is counted with those rounded weights."""
    from lamigo.errors import WeightsError

    vqgan = vqgan_from_checkpoint(vqgan_checkpoint)
    denoiser = denoiser_from_checkpoint(denoiser_checkpoint)
    if vqgan.codebook_size != denoiser.codebook_size:
        raise WeightsError(
            f"the VQGAN has {vqgan.codebook_size} codewords but the denoiser {denoiser.codebook_size}: "
            f"train the denoiser on this VQGAN"
        )
    if half:
        vqgan, denoiser = vqgan.half(), denoiser.half()
    folder = save_model_set(out, vqgan, denoiser, {"kind": "bytes", "seed": CONDITIONS_SEED})
    counts = count_codewords(vqgan.float(), prior_photos, prior_size)
    prior = IndexPrior.from_counts(counts)
    prior.save(folder / INDEX_PRIOR_FILE)
    for path in folder.iterdir():
        # safetensors writes owner-only files; the shipped set is read by every user.
        if path.is_file():
            path.chmod(0o644)
    used = int((counts > 0).sum())
    prior_line = (f"index prior from {len(prior_photos)} photos at {prior_size[0]}x{prior_size[1]}, {used} of "
                  f"{vqgan.codebook_size} codewords used, fingerprint 0x{prior.fingerprint:04x}")
    write_model_card(folder, vqgan_checkpoint, denoiser_checkpoint, prior_line, half)
    total = sum(path.stat().st_size for path in folder.iterdir() if path.is_file())
    return f"wrote {folder}: {total / 1e6:.1f} MB; {prior_line}"


def write_model_card(
    folder: Path, vqgan_checkpoint: str | Path, denoiser_checkpoint: str | Path, prior_line: str, half: bool,
) -> Path:
    """MODEL_CARD.md of an exported set: what each model is and how it was trained (from its
    checkpoint); `lamigo train evaluate --card` appends the held-out figures."""
    import json

    lines = [f"# Model card: {folder.name} (exported by `lamigo train export`)", ""]
    for kind, path in (("vqgan", vqgan_checkpoint), ("denoiser", denoiser_checkpoint)):
        checkpoint = load_checkpoint(path, kind)
        parameters = sum(value.numel() for key, value in checkpoint.model.items()
                         if value.is_floating_point() and "running_" not in key)
        settings = checkpoint.settings
        lines += [f"## {kind}: {parameters / 1e6:.2f}M parameters", "",
                  f"- config: `{json.dumps(checkpoint.config)}`",
                  f"- trained {checkpoint.step} of {settings.get('steps')} steps, batch {settings.get('batch_size')} "
                  f"per process x {settings.get('world_size', 1)} process(es), {settings.get('crop')}-pixel crops, "
                  f"peak lr {settings.get('lr')}, seed {settings.get('seed')}",
                  f"- precision {'bf16 autocast' if settings.get('bf16') else 'float32'}, "
                  f"channels-last {'on' if settings.get('channels_last') else 'off'}, "
                  f"compile {settings.get('compile') or 'off'}", ""]
    lines += ["## Files", "", f"- weights stored as {'float16' if half else 'float32'}; {prior_line}", ""]
    path = folder / MODEL_CARD_FILE
    path.write_text("\n".join(lines))
    path.chmod(0o644)
    return path
