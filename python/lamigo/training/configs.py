"""Model sizes (the Paella architectures at smaller widths) and training presets.

- Model sizes (`--size`): "tiny" for tests, "small" the shipped default set, "large" a stronger
  set for one GPU: a wider VQGAN with the paper's K = 8192 and a larger denoiser, each of them
  under 16 MiB as float16 (a device machine returns files of at most 16 MiB; the repository
  stays small).
- Training presets (`--preset`): every option of `lamigo train vqgan` and `lamigo train
  denoiser` that a preset sets, for one kind of machine; options given on the command line win.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lamigo.models.paella import PaellaConfig
from lamigo.models.vqgan import VQGANConfig

__all__ = ["CONFIG_PRESETS", "TRAINING_PRESETS", "TrainingPreset", "vqgan_preset", "denoiser_preset"]

# name -> (VQGAN config, denoiser config for a codebook of that VQGAN)
CONFIG_PRESETS: dict[str, tuple[VQGANConfig, PaellaConfig]] = {
    # Seconds per step on a CPU: for tests.
    "tiny": (
        VQGANConfig(hidden_channels=16, levels=2, bottleneck_blocks=1, codebook_size=64),
        PaellaConfig(
            codebook_size=64, token_channels=16, level_channels=(16, 32, 32), level_blocks=(1, 1, 1),
            heads=2, timestep_dim=8, cond_dim=16, byt5_dim=16, clip_dim=16, clip_tokens=1, dropout=0.0,
        ),
    ),
    # The shipped default: trains in under an hour on two CPU cores.
    "small": (
        VQGANConfig(hidden_channels=96, levels=2, bottleneck_blocks=4, codebook_size=1024),
        PaellaConfig(
            codebook_size=1024, token_channels=48, level_channels=(64, 128, 192),
            level_blocks=(1, 2, 2), heads=4, timestep_dim=32, cond_dim=128, byt5_dim=64,
            clip_dim=64, clip_tokens=2, dropout=0.0,
        ),
    ),
    # One GPU: VQGAN 3.5M parameters (Paella's widths halved, 8 of its 12 bottleneck blocks),
    # denoiser 7M (K = 8192 as Paella's and the paper's).
    "large": (
        VQGANConfig(hidden_channels=192, levels=2, bottleneck_blocks=8, codebook_size=8192),
        PaellaConfig(
            codebook_size=8192, token_channels=64, level_channels=(96, 192, 256),
            level_blocks=(1, 2, 2), heads=4, timestep_dim=32, cond_dim=128, byt5_dim=64,
            clip_dim=64, clip_tokens=2, dropout=0.0,
        ),
    ),
}


@dataclass(frozen=True)
class TrainingPreset:
    """Option values of `lamigo train vqgan` and `lamigo train denoiser` for one machine, and
    the wall time a run of both is expected to take there."""

    description: str
    wall_time: str
    vqgan: dict = field(default_factory=dict)
    denoiser: dict = field(default_factory=dict)


_GPU = dict(size="large", bf16=True, channels_last=True, compile=True, workers=8, checkpoint_every=500)
TRAINING_PRESETS: dict[str, TrainingPreset] = {
    "h200": TrainingPreset(
        description="the large set on one H200 (or H100), from the packaged photographs",
        # Estimated from the models' operation counts (about 30 GFLOP per VQGAN crop and 40 per
        # denoiser crop, forward and backward) at a third of the bf16 matrix rate, plus the
        # compilation; not yet measured. --time-limit caps each run anyway.
        wall_time="about 3 minutes (VQGAN) + 4 minutes (denoiser) on one H200, estimated",
        vqgan=_GPU | dict(steps=3000, batch_size=64, crop=128, lr=1e-3, adversarial_start=1500),
        denoiser=_GPU | dict(steps=3000, batch_size=48, crop=256, lr=1e-3),
    ),
    # The same options at sizes a CPU runs in seconds: for tests of the preset machinery.
    "cpu-test": TrainingPreset(
        description="tiny models for a few steps on a CPU (tests)",
        wall_time="seconds",
        vqgan=dict(size="tiny", steps=2, batch_size=2, crop=32, channels_last=True, checkpoint_every=1),
        denoiser=dict(size="tiny", steps=2, batch_size=2, crop=32, channels_last=True, checkpoint_every=1),
    ),
}


def _preset(name: str) -> tuple[VQGANConfig, PaellaConfig]:
    from lamigo.errors import ConfigError

    if name not in CONFIG_PRESETS:
        raise ConfigError(f"unknown model size {name!r}; choose one of {', '.join(CONFIG_PRESETS)}")
    return CONFIG_PRESETS[name]


def vqgan_preset(name: str) -> VQGANConfig:
    """The VQGAN config of preset `name`."""
    return _preset(name)[0]


def denoiser_preset(name: str, codebook_size: int) -> PaellaConfig:
    """The denoiser config of preset `name`, for a VQGAN with `codebook_size` codewords."""
    import dataclasses

    return dataclasses.replace(_preset(name)[1], codebook_size=codebook_size)
