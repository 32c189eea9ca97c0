"""The Paella VQGAN (f=4): images <-> maps of codebook indices.

The module layout (names and shapes of every parameter) matches the public `vqgan_f4.pt`
checkpoint, so its state dict loads as is; `from_diffusers_state_dict` renames the few keys
that differ in the diffusers `PaellaVQModel` layout.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from lamigo.errors import ConfigError

__all__ = ["VQGANConfig", "VQGAN", "from_diffusers_state_dict"]


@dataclass(frozen=True)
class VQGANConfig:
    """Sizes of a VQGAN. `full()` is the public Paella `vqgan_f4.pt`."""

    hidden_channels: int = 384
    levels: int = 2
    bottleneck_blocks: int = 12
    latent_channels: int = 4
    codebook_size: int = 8192

    @classmethod
    def full(cls) -> VQGANConfig:
        """The published Paella VQGAN: about 18.4M parameters, K = 8192."""
        return cls()

    @classmethod
    def tiny(cls) -> VQGANConfig:
        """About 50 thousand parameters and K = 512, for tests and CPU demos."""
        return cls(hidden_channels=32, levels=2, bottleneck_blocks=2, codebook_size=512)

    @property
    def level_channels(self) -> list[int]:
        """Channels per level, from the image side: e.g. [192, 384]."""
        return [self.hidden_channels // 2**i for i in reversed(range(self.levels))]

    @property
    def downscale(self) -> int:
        """Image pixels per latent position along each side."""
        return 2 * 2 ** (self.levels - 1)


class MixingResBlock(nn.Module):
    """ConvNeXt-like residual block whose six learned scalars modulate both branches."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(channels, elementwise_affine=False, eps=1e-6)
        self.depthwise = nn.Sequential(
            nn.ReplicationPad2d(1), nn.Conv2d(channels, channels, kernel_size=3, groups=channels)
        )
        self.norm2 = nn.LayerNorm(channels, elementwise_affine=False, eps=1e-6)
        self.channelwise = nn.Sequential(
            nn.Linear(channels, hidden), nn.GELU(), nn.Linear(hidden, channels)
        )
        # Zero gammas make every block start as the identity.
        self.gammas = nn.Parameter(torch.zeros(6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = self.gammas
        h = self.norm1(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2) * (1 + g[0]) + g[1]
        x = x + self.depthwise(h) * g[2]
        h = self.norm2(x.permute(0, 2, 3, 1)) * (1 + g[3]) + g[4]
        return x + self.channelwise(h).permute(0, 3, 1, 2) * g[5]


class VectorQuantizer(nn.Module):
    """Nearest-neighbour (squared L2) lookup into a learned codebook."""

    def __init__(self, dim: int, codebook_size: int) -> None:
        super().__init__()
        self.codebook = nn.Embedding(codebook_size, dim)

    def quantize(self, latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Latents [B,C,h,w] -> (indices LongTensor [B,h,w], L2 distance to the chosen codeword)."""
        b, c, h, w = latents.shape
        flat = latents.permute(0, 2, 3, 1).reshape(-1, c).float()
        codebook = self.codebook.weight.float()
        squared = torch.cdist(flat, codebook).square_()
        best, indices = squared.min(dim=1)
        # Clamp: rounding can make a squared distance of an exact codeword slightly negative.
        distances = best.clamp_min_(0).sqrt_()
        return indices.view(b, h, w), distances.view(b, h, w)

    def embed(self, indices: torch.Tensor) -> torch.Tensor:
        """Indices [B,h,w] -> codewords [B,C,h,w]."""
        return self.codebook(indices).permute(0, 3, 1, 2)


class VQGAN(nn.Module):
    """Paella's f=4 VQGAN. Images are float in [0,1], shape [B,3,H,W] with H, W divisible by 4."""

    def __init__(self, config: VQGANConfig | None = None) -> None:
        super().__init__()
        self.config = config or VQGANConfig.full()
        cfg = self.config
        channels = cfg.level_channels

        self.in_block = nn.Sequential(nn.PixelUnshuffle(2), nn.Conv2d(3 * 4, channels[0], 1))
        down: list[nn.Module] = []
        for level, c in enumerate(channels):
            if level > 0:
                down.append(nn.Conv2d(channels[level - 1], c, kernel_size=4, stride=2, padding=1))
            down.append(MixingResBlock(c, c * 4))
        down.append(
            nn.Sequential(
                nn.Conv2d(channels[-1], cfg.latent_channels, kernel_size=1, bias=False),
                nn.BatchNorm2d(cfg.latent_channels),
            )
        )
        self.down_blocks = nn.Sequential(*down)

        self.vquantizer = VectorQuantizer(cfg.latent_channels, cfg.codebook_size)
        # Codewords at the scale of the batch-normalised latents, so a fresh model spreads
        # its indices over the codebook.
        nn.init.normal_(self.vquantizer.codebook.weight)

        up: list[nn.Module] = [nn.Sequential(nn.Conv2d(cfg.latent_channels, channels[-1], 1))]
        for level, c in enumerate(reversed(channels)):
            for _ in range(cfg.bottleneck_blocks if level == 0 else 1):
                up.append(MixingResBlock(c, c * 4))
            if level < cfg.levels - 1:
                up.append(
                    nn.ConvTranspose2d(c, channels[-2 - level], kernel_size=4, stride=2, padding=1)
                )
        self.up_blocks = nn.Sequential(*up)
        self.out_block = nn.Sequential(nn.Conv2d(channels[0], 3 * 4, 1), nn.PixelShuffle(2))

    @property
    def codebook_size(self) -> int:
        """Number of codewords K."""
        return self.config.codebook_size

    @property
    def downscale(self) -> int:
        """Image pixels per latent position along each side (4 for Paella)."""
        return self.config.downscale

    def encode_latents(self, images: torch.Tensor) -> torch.Tensor:
        """Images [B,3,H,W] in [0,1] -> continuous latents [B,C,H/4,W/4] (differentiable)."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ConfigError(f"expected images of shape [B,3,H,W], got {list(images.shape)}")
        height, width = images.shape[-2:]
        if height % self.downscale or width % self.downscale:
            raise ConfigError(
                f"image size {height}x{width} is not divisible by the VQGAN's "
                f"downscale factor {self.downscale}"
            )
        return self.down_blocks(self.in_block(images))

    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """Codewords [B,C,h,w] -> images [B,3,4h,4w], not clamped (differentiable)."""
        return self.out_block(self.up_blocks(latents))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruct through the codebook with a straight-through gradient.

        Returns (reconstruction, latents, codewords) so a trainer can add codebook and
        commitment losses on the last two.
        """
        latents = self.encode_latents(images)
        indices, _ = self.vquantizer.quantize(latents.detach())
        codewords = self.vquantizer.embed(indices)
        straight_through = latents + (codewords - latents).detach()
        return self.decode_latents(straight_through), latents, codewords

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images [B,3,H,W] in [0,1] -> (indices LongTensor [B,H/4,W/4], distances [B,H/4,W/4]).

        `distances` is the L2 distance of each latent vector to its nearest codeword (the
        paper's eq. 16), which the entropy-based masking policy ranks.
        """
        return self.vquantizer.quantize(self.encode_latents(images))

    @torch.no_grad()
    def decode_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """Indices LongTensor [B,h,w] -> images [B,3,4h,4w] clamped to [0,1]."""
        if indices.ndim != 3:
            raise ConfigError(f"expected indices of shape [B,h,w], got {list(indices.shape)}")
        low, high = int(indices.min()), int(indices.max())
        if low < 0 or high >= self.codebook_size:
            raise ConfigError(
                f"indices must lie in [0, {self.codebook_size}), got values in [{low}, {high}]"
            )
        return self.decode_latents(self.vquantizer.embed(indices)).clamp_(0, 1)


# diffusers' PaellaVQModel names the codebook after its nn.Embedding attribute.
_DIFFUSERS_RENAMES = {"vquantizer.embedding.weight": "vquantizer.codebook.weight"}


def from_diffusers_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename the keys of a diffusers `PaellaVQModel` state dict to this module's layout."""
    return {_DIFFUSERS_RENAMES.get(key, key): value for key, value in state_dict.items()}
