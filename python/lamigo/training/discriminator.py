"""The VQGAN's adversary: a PatchGAN discriminator (pix2pix, as taming's and Paella's VQGANs
use) scoring overlapping patches real or reconstructed, trained with the hinge loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["PatchDiscriminator", "hinge_discriminator_loss"]


class PatchDiscriminator(nn.Module):
    """`layers` stride-2 4x4 convolutions doubling the width from `channels`, then two stride-1
    ones down to one logit per patch (a 70x70 receptive field with the defaults of pix2pix)."""

    def __init__(self, channels: int = 32, layers: int = 3) -> None:
        super().__init__()
        blocks: list[nn.Module] = [nn.Conv2d(3, channels, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        width = channels
        for layer in range(1, layers + 1):
            wider = channels * min(2**layer, 8)
            stride = 2 if layer < layers else 1
            blocks += [nn.Conv2d(width, wider, 4, stride=stride, padding=1, bias=False),
                       nn.BatchNorm2d(wider), nn.LeakyReLU(0.2)]
            width = wider
        blocks.append(nn.Conv2d(width, 1, 4, stride=1, padding=1))
        self.net = nn.Sequential(*blocks)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.normal_(module.weight, 0.0, 0.02)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.normal_(module.weight, 1.0, 0.02)
                nn.init.zeros_(module.bias)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Images [B,3,H,W] in [0,1] -> patch logits [B,1,h,w]."""
        return self.net(2 * images - 1)


def hinge_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """mean(relu(1 - D(real))) + mean(relu(1 + D(fake))), halved as taming does."""
    return 0.5 * (F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean())
