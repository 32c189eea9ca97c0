"""Model sizes of the shipped default set: the Paella architectures with CPU-sized widths."""

from __future__ import annotations

from lamigo.models.paella import PaellaConfig
from lamigo.models.vqgan import VQGANConfig

__all__ = ["CONFIG_PRESETS", "vqgan_preset", "denoiser_preset"]

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
