"""The Paella v3 token denoiser: a text-conditioned U-Net over maps of VQGAN indices.

Given a map of indices in which a fraction r of the tokens were replaced by random ones, it
predicts logits over the K codewords at every position. The module layout matches the public
`paella_v3.pt` checkpoint (`PaellaConfig.full()`), so that state dict loads as is.

Conditions are a dict of batch-first tensors:
  - "byt5": per-token ByT5 encoder states [B, L, byt5_dim] (required),
  - "clip_text": pooled CLIP text embedding [B, clip_dim] (optional),
  - "clip_image": CLIP image embedding [B, clip_dim] (optional).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from lamigo.errors import ConfigError

__all__ = ["PaellaConfig", "Denoiser", "CONDITION_KEYS"]

CONDITION_KEYS = ("byt5", "clip_text", "clip_image")


@dataclass(frozen=True)
class PaellaConfig:
    """Sizes of a Paella denoiser. `full()` is the public `paella_v3.pt` (about 1.0B parameters)."""

    codebook_size: int = 8192
    token_channels: int = 256
    level_channels: tuple[int, ...] = (640, 1280, 1280)
    level_blocks: tuple[int, ...] = (6, 16, 6)
    # Per level, the blocks one repetition stacks: C residual, T timestep, A attention.
    level_pattern: tuple[str, ...] = ("CT", "CTA", "CTA")
    heads: int = 16
    timestep_dim: int = 64
    patch_size: int = 2
    cond_dim: int = 1024
    byt5_dim: int = 2560
    clip_dim: int = 1024
    clip_tokens: int = 4
    kernel_size: int = 3
    dropout: float = 0.1

    def __post_init__(self) -> None:
        lengths = {len(self.level_channels), len(self.level_blocks), len(self.level_pattern)}
        if len(lengths) != 1:
            raise ConfigError("level_channels, level_blocks and level_pattern differ in length")
        # An up level feeds its skip connection to its first block, which must be a C block.
        if any(not pattern.startswith("C") or set(pattern) - set("CTA") for pattern in self.level_pattern):
            raise ConfigError(f"level patterns must start with C and use only C, T, A: {self.level_pattern}")

    @classmethod
    def full(cls) -> PaellaConfig:
        """The published Paella v3 denoiser (ByT5-XL and CLIP ViT-H/14 conditions)."""
        return cls()

    @classmethod
    def tiny(cls, codebook_size: int = 512) -> PaellaConfig:
        """About 1.6M parameters, the same block layout at small widths: for tests and CPU demos."""
        return cls(
            codebook_size=codebook_size,
            token_channels=32,
            level_channels=(64, 128, 128),
            level_blocks=(1, 2, 1),
            heads=4,
            timestep_dim=16,
            cond_dim=64,
            byt5_dim=32,
            clip_dim=32,
            clip_tokens=2,
            dropout=0.0,
        )

    @property
    def size_multiple(self) -> int:
        """Latent height and width must be multiples of this."""
        return self.patch_size * 2 ** (len(self.level_channels) - 1)


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of a [B,C,H,W] tensor."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def _norm2d(channels: int) -> LayerNorm2d:
    return LayerNorm2d(channels, elementwise_affine=False, eps=1e-6)


class GlobalResponseNorm(nn.Module):
    """ConvNeXt-V2 global response normalisation on channels-last tensors."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, 1, channels))
        self.beta = nn.Parameter(torch.zeros(1, 1, 1, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spatial_norm = torch.norm(x, p=2, dim=(1, 2), keepdim=True)
        relative = spatial_norm / (spatial_norm.mean(dim=-1, keepdim=True) + 1e-6)
        return self.gamma * (x * relative) + self.beta + x


class ResBlock(nn.Module):
    """Depthwise conv then channel MLP; the first block of an up level also eats the skip."""

    def __init__(self, channels: int, skip_channels: int, kernel_size: int, dropout: float) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(
            channels + skip_channels,
            channels,
            kernel_size=kernel_size,
            padding=kernel_size // 2,
            groups=channels,
        )
        self.norm = _norm2d(channels)
        self.channelwise = nn.Sequential(
            nn.Linear(channels, channels * 4),
            nn.GELU(),
            GlobalResponseNorm(channels * 4),
            nn.Dropout(dropout),
            nn.Linear(channels * 4, channels),
        )

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        residual = x
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        x = self.norm(self.depthwise(x)).permute(0, 2, 3, 1)
        return self.channelwise(x).permute(0, 3, 1, 2) + residual


class Attention2D(nn.Module):
    """Multi-head attention from image positions to [image tokens, condition tokens]."""

    def __init__(self, channels: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(channels, heads, dropout=dropout, batch_first=True)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        queries = x.flatten(2).transpose(1, 2)
        keys = torch.cat([queries, cond], dim=1)
        out = self.attn(queries, keys, keys, need_weights=False)[0]
        return out.transpose(1, 2).reshape(b, c, h, w)


class AttnBlock(nn.Module):
    """Pre-norm residual attention; the condition sequence is projected per block."""

    def __init__(self, channels: int, cond_dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.norm = _norm2d(channels)
        self.attention = Attention2D(channels, heads, dropout)
        self.kv_mapper = nn.Sequential(nn.SiLU(), nn.Linear(cond_dim, channels))

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return x + self.attention(self.norm(x), self.kv_mapper(cond))


class TimestepBlock(nn.Module):
    """Scale and shift from the noise-level embedding: x * (1 + a) + b."""

    def __init__(self, channels: int, timestep_dim: int) -> None:
        super().__init__()
        self.mapper = nn.Linear(timestep_dim, channels * 2)

    def forward(self, x: torch.Tensor, r_embedding: torch.Tensor) -> torch.Tensor:
        scale, shift = self.mapper(r_embedding)[:, :, None, None].chunk(2, dim=1)
        return x * (1 + scale) + shift


class Denoiser(nn.Module):
    """Paella v3 token denoiser: forward(indices [B,H,W], r [B], cond) -> logits [B,K,H,W]."""

    def __init__(self, config: PaellaConfig | None = None) -> None:
        super().__init__()
        self.config = config or PaellaConfig.full()
        cfg = self.config
        channels = cfg.level_channels

        self.byt5_mapper = nn.Linear(cfg.byt5_dim, cfg.cond_dim)
        self.clip_mapper = nn.Linear(cfg.clip_dim, cfg.cond_dim * cfg.clip_tokens)
        self.clip_image_mapper = nn.Linear(cfg.clip_dim, cfg.cond_dim * cfg.clip_tokens)
        self.seq_norm = nn.LayerNorm(cfg.cond_dim, elementwise_affine=False, eps=1e-6)

        self.in_mapper = nn.Sequential(
            nn.Embedding(cfg.codebook_size, cfg.token_channels),
            nn.LayerNorm(cfg.token_channels, elementwise_affine=False, eps=1e-6),
        )
        self.embedding = nn.Sequential(
            nn.PixelUnshuffle(cfg.patch_size),
            nn.Conv2d(cfg.token_channels * cfg.patch_size**2, channels[0], kernel_size=1),
            _norm2d(channels[0]),
        )

        self.down_blocks = nn.ModuleList()
        for level, c in enumerate(channels):
            blocks = nn.ModuleList()
            if level > 0:
                blocks.append(
                    nn.Sequential(
                        _norm2d(channels[level - 1]),
                        nn.Conv2d(channels[level - 1], c, kernel_size=2, stride=2),
                    )
                )
            for _ in range(cfg.level_blocks[level]):
                for kind in cfg.level_pattern[level]:
                    blocks.append(self._make_block(kind, c, skip_channels=0))
            self.down_blocks.append(blocks)

        self.up_blocks = nn.ModuleList()
        for level in reversed(range(len(channels))):
            c = channels[level]
            blocks = nn.ModuleList()
            for repeat in range(cfg.level_blocks[level]):
                for position, kind in enumerate(cfg.level_pattern[level]):
                    # The first block of every level but the deepest concatenates the skip.
                    takes_skip = level < len(channels) - 1 and repeat == position == 0
                    blocks.append(self._make_block(kind, c, skip_channels=c if takes_skip else 0))
            if level > 0:
                blocks.append(
                    nn.Sequential(
                        _norm2d(c),
                        nn.ConvTranspose2d(c, channels[level - 1], kernel_size=2, stride=2),
                    )
                )
            self.up_blocks.append(blocks)

        self.clf = nn.Sequential(
            _norm2d(channels[0]),
            nn.Conv2d(channels[0], cfg.token_channels * cfg.patch_size**2, kernel_size=1),
            nn.PixelShuffle(cfg.patch_size),
        )
        self.out_mapper = nn.Sequential(
            _norm2d(cfg.token_channels),
            nn.Conv2d(cfg.token_channels, cfg.codebook_size, kernel_size=1, bias=False),
        )
        self._init_weights()

    def _make_block(self, kind: str, channels: int, skip_channels: int) -> nn.Module:
        cfg = self.config
        if kind == "C":
            return ResBlock(channels, skip_channels, cfg.kernel_size, cfg.dropout)
        if kind == "T":
            return TimestepBlock(channels, cfg.timestep_dim)
        return AttnBlock(channels, cfg.cond_dim, cfg.heads, cfg.dropout)

    def _init_weights(self) -> None:
        """Paella's initialisation, so that a denoiser trained from scratch starts like theirs."""
        cfg = self.config
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        for mapper in (self.byt5_mapper, self.clip_mapper, self.clip_image_mapper):
            nn.init.normal_(mapper.weight, std=0.02)
        nn.init.xavier_uniform_(self.embedding[1].weight, gain=0.02)
        nn.init.zeros_(self.clf[1].weight)
        token_embedding = self.in_mapper[0].weight
        nn.init.normal_(token_embedding, std=math.sqrt(1 / cfg.codebook_size))
        # Output logits start as similarities to the input token embeddings.
        with torch.no_grad():
            self.out_mapper[1].weight.copy_(token_embedding[:, :, None, None])
        depth_scale = math.sqrt(1 / sum(cfg.level_blocks))
        for blocks in [*self.down_blocks, *self.up_blocks]:
            for block in blocks:
                if isinstance(block, ResBlock):
                    with torch.no_grad():
                        block.channelwise[-1].weight.mul_(depth_scale)
                elif isinstance(block, TimestepBlock):
                    nn.init.zeros_(block.mapper.weight)

    @property
    def codebook_size(self) -> int:
        """Number of codewords K (the logits' channel count)."""
        return self.config.codebook_size

    def embed_r(self, r: torch.Tensor) -> torch.Tensor:
        """Noise level r [B] in [0,1] -> sinusoidal embedding [B, timestep_dim]."""
        max_positions = 10000
        half = self.config.timestep_dim // 2
        frequencies = torch.exp(
            torch.arange(half, device=r.device, dtype=torch.float32)
            * (-math.log(max_positions) / (half - 1))
        )
        angles = (r.float() * max_positions)[:, None] * frequencies[None, :]
        embedding = torch.cat([angles.sin(), angles.cos()], dim=1)
        if self.config.timestep_dim % 2:
            embedding = nn.functional.pad(embedding, (0, 1))
        return embedding

    def embed_conditions(self, cond: dict[str, torch.Tensor]) -> torch.Tensor:
        """Condition dict -> normalised token sequence [B, L', cond_dim]."""
        unknown = set(cond) - set(CONDITION_KEYS)
        if unknown or "byt5" not in cond:
            raise ConfigError(
                f"denoiser conditions need 'byt5' and optionally 'clip_text', 'clip_image'; "
                f"got {sorted(cond)}"
            )
        cfg = self.config
        sequence = [self.byt5_mapper(cond["byt5"])]
        for key, mapper in (("clip_text", self.clip_mapper), ("clip_image", self.clip_image_mapper)):
            if key in cond:
                embedding = cond[key]
                sequence.append(mapper(embedding).view(embedding.shape[0], -1, cfg.cond_dim))
        return self.seq_norm(torch.cat(sequence, dim=1))

    def forward(
        self, indices: torch.Tensor, r: torch.Tensor, cond: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        """Indices LongTensor [B,H,W], noise level r [B] in [0,1], conditions -> logits [B,K,H,W]."""
        height, width = indices.shape[-2:]
        multiple = self.config.size_multiple
        if indices.ndim != 3 or height % multiple or width % multiple:
            raise ConfigError(
                f"denoiser input must be [B,H,W] with H and W multiples of {multiple}, "
                f"got {list(indices.shape)}"
            )
        dtype = self.embedding[1].weight.dtype
        r_embedding = self.embed_r(r).to(dtype)
        cond_sequence = self.embed_conditions({k: v.to(dtype) for k, v in cond.items()})

        x = self.embedding(self.in_mapper(indices).permute(0, 3, 1, 2))
        level_outputs = []
        for blocks in self.down_blocks:
            for block in blocks:
                x = self._run_block(block, x, r_embedding, cond_sequence)
            level_outputs.insert(0, x)

        x = level_outputs[0]
        for level, blocks in enumerate(self.up_blocks):
            for position, block in enumerate(blocks):
                skip = level_outputs[level] if level > 0 and position == 0 else None
                x = self._run_block(block, x, r_embedding, cond_sequence, skip)
        return self.out_mapper(self.clf(x))

    @staticmethod
    def _run_block(
        block: nn.Module,
        x: torch.Tensor,
        r_embedding: torch.Tensor,
        cond_sequence: torch.Tensor,
        skip: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if isinstance(block, ResBlock):
            return block(x, skip)
        if isinstance(block, AttnBlock):
            return block(x, cond_sequence)
        if isinstance(block, TimestepBlock):
            return block(x, r_embedding)
        return block(x)
