"""The VQGAN's objective: reconstruction (L1 + MSE) plus codebook and commitment losses,
a k-means initialisation of the codebook on encoder outputs, and restarts of dead codes."""

from __future__ import annotations

import dataclasses
import logging

import torch
import torch.nn.functional as F
from torch import nn

from lamigo.models.vqgan import VQGAN, VQGANConfig
from lamigo.training.distributed import Distributed, unwrap

__all__ = ["VQGANTask", "kmeans"]

logger = logging.getLogger(__name__)


def _kmeans_plus_plus(points: torch.Tensor, clusters: int, generator: torch.Generator) -> torch.Tensor:
    """k-means++ seeding: each next centre drawn with probability proportional to the squared
    distance to the nearest centre so far."""
    first = int(torch.randint(points.shape[0], (), generator=generator))
    centres = [points[first]]
    nearest = (points - points[first]).square().sum(dim=1)
    for _ in range(clusters - 1):
        weights = nearest if float(nearest.sum()) > 0 else torch.ones_like(nearest)
        pick = int(torch.multinomial(weights, 1, generator=generator))
        centres.append(points[pick])
        nearest = torch.minimum(nearest, (points - points[pick]).square().sum(dim=1))
    return torch.stack(centres)


def kmeans(points: torch.Tensor, clusters: int, iterations: int = 20, seed: int = 0) -> torch.Tensor:
    """k-means (k-means++ seeding, then Lloyd's iterations) -> centres [clusters, D]; an
    emptied cluster takes a random point again."""
    generator = torch.Generator().manual_seed(seed)
    points = points.float()
    if points.shape[0] < clusters:
        # Too few points: repeat them with a little noise so every centre is distinct.
        repeats = -(-clusters // points.shape[0])
        points = points.repeat(repeats, 1)
        points = points + 0.01 * torch.randn(points.shape, generator=generator).to(points)
    # Seeding is sequential in the clusters: a sample of the points is enough for it.
    sample = points[torch.randperm(points.shape[0], generator=generator)[: 8 * clusters]]
    centres = _kmeans_plus_plus(sample, clusters, generator)
    for _ in range(iterations):
        assignment = torch.cdist(points, centres).argmin(dim=1)
        sums = torch.zeros_like(centres).index_add_(0, assignment, points)
        counts = torch.bincount(assignment, minlength=clusters).to(points)
        empty = counts == 0
        centres = torch.where(empty[:, None], centres, sums / counts.clamp_min(1)[:, None])
        if empty.any():
            refill = torch.randint(points.shape[0], (int(empty.sum()),), generator=generator).to(points.device)
            centres[empty] = points[refill]
    return centres


class VQGANTask:
    """Trains a VQGAN from scratch.

    Loss = L1 + MSE of the reconstruction + ||sg(z) - e||^2 + beta ||z - sg(e)||^2 (VQ-VAE).
    Every `restart_every` steps, codewords that no latent chose in that window are moved onto
    random recent latents, so the whole codebook stays in use.
    """

    kind = "vqgan"

    def __init__(
        self,
        config: VQGANConfig,
        dist: Distributed,
        commitment: float = 0.25,
        restart_every: int = 100,
        seed: int = 0,
    ) -> None:
        torch.manual_seed(seed)
        self.model = VQGAN(config)
        self.crop_multiple = config.downscale
        self.dist = dist
        self.commitment = commitment
        self.restart_every = restart_every
        self.seed = seed
        self.usage = torch.zeros(config.codebook_size, dtype=torch.long, device=dist.device)
        self.recent_latents: torch.Tensor | None = None
        self.last_usage = float("nan")

    def config_dict(self) -> dict:
        return dataclasses.asdict(self.model.config)

    @staticmethod
    def _flat(latents: torch.Tensor) -> torch.Tensor:
        return latents.permute(0, 2, 3, 1).reshape(-1, latents.shape[1])

    @torch.no_grad()
    def initialize(self, batches: list[torch.Tensor]) -> None:
        """Codebook = k-means centres of the encoder's outputs on the first batches."""
        self.model.to(self.dist.device).train()
        points = torch.cat([self._flat(self.model.encode_latents(images)) for images in batches])
        centres = kmeans(points.cpu(), self.model.codebook_size, seed=self.seed)
        codebook = self.model.vquantizer.codebook.weight
        codebook.copy_(centres.to(codebook))
        self.dist.broadcast(codebook.data)
        logger.info("codebook initialised by k-means on %d encoder outputs", points.shape[0])

    def loss(self, model: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        reconstruction, latents, codewords = model(images)
        l1 = F.l1_loss(reconstruction, images)
        mse = F.mse_loss(reconstruction, images)
        codebook_loss = F.mse_loss(codewords, latents.detach())
        commitment_loss = F.mse_loss(latents, codewords.detach())
        with torch.no_grad():
            flat = self._flat(latents.detach())
            indices = torch.cdist(flat, unwrap(model).vquantizer.codebook.weight).argmin(dim=1)
            self.usage += torch.bincount(indices, minlength=self.usage.numel())
            self.recent_latents = flat
        loss = l1 + mse + codebook_loss + self.commitment * commitment_loss
        psnr = -10 * torch.log10(mse.detach().clamp_min(1e-10))
        return loss, {"loss": float(loss.detach()), "l1": float(l1.detach()), "psnr": float(psnr),
                      "vq": float(codebook_loss.detach()), "usage": self.last_usage}

    @torch.no_grad()
    def after_step(self, step: int, optimizer: torch.optim.Optimizer) -> dict[str, float]:
        if step % self.restart_every or self.recent_latents is None:
            return {}
        usage = self.dist.all_reduce_sum(self.usage.clone())
        dead = usage == 0
        self.last_usage = 1 - float(dead.float().mean())
        codebook = self.model.vquantizer.codebook.weight
        if dead.any():
            latents = self.recent_latents
            picks = torch.randint(latents.shape[0], (int(dead.sum()),), device=latents.device)
            replacement = latents[picks] + 0.01 * torch.randn_like(latents[picks])
            codebook.data[dead] = replacement.to(codebook)
            self.dist.broadcast(codebook.data)
            # Moments of the old codewords would drag the new ones back.
            state = optimizer.state.get(codebook, {})
            for key in ("exp_avg", "exp_avg_sq"):
                if key in state:
                    state[key][dead] = 0
            logger.debug("step %d: restarted %d dead codewords", step, int(dead.sum()))
        self.usage.zero_()
        return {"usage": self.last_usage}
