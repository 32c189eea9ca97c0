"""The VQGAN's objective: reconstruction (L1 + MSE), a perceptual loss and a patch-based
adversarial loss after a warm-up (taming's VQGAN recipe), plus codebook and commitment losses,
a k-means initialisation of the codebook on encoder outputs, and restarts of dead codes."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lamigo.errors import ConfigError
from lamigo.models.vqgan import VQGAN, VQGANConfig
from lamigo.training.discriminator import PatchDiscriminator, hinge_discriminator_loss
from lamigo.training.distributed import Distributed, unwrap

__all__ = ["VQGANLosses", "VQGANTask", "kmeans"]

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


@dataclass(frozen=True)
class VQGANLosses:
    """Weights of the VQGAN's objective beyond reconstruction (taming's VQGAN recipe)."""

    perceptual: float = 1.0  #: ST-LPIPS (AlexNet, from the stlpips-pytorch wheel); 0 turns it off
    adversarial: float = 0.8  #: PatchGAN hinge loss, scaled adaptively as taming does; 0 turns it off
    adversarial_start: int = 1000  #: the step the discriminator starts (a warm-up without it)
    discriminator_lr: float = 2e-4

    def __post_init__(self) -> None:
        if self.perceptual < 0 or self.adversarial < 0 or self.adversarial_start < 0 or self.discriminator_lr <= 0:
            raise ConfigError("loss weights and the adversarial start must be >= 0, the discriminator's lr > 0")


class VQGANTask:
    """Trains a VQGAN, from scratch or from given weights.

    Loss = L1 + MSE of the reconstruction + `losses.perceptual` x ST-LPIPS
    + lambda x `losses.adversarial` x hinge generator loss (from step `losses.adversarial_start`;
    lambda balances its gradient at the decoder's last layer against the reconstruction's, as
    taming does) + ||sg(z) - e||^2 + beta ||z - sg(e)||^2 (VQ-VAE).
    Every `restart_every` steps, codewords that no latent chose in that window are moved onto
    random recent latents, so the whole codebook stays in use.

    With `freeze_encoder` only the decoder learns: the encoder and the codebook keep the given
    weights, so the tokens of every image stay exactly what they were (a decoder fine-tune, as
    Stable Diffusion's VAE decoders were), and a denoiser trained on them stays valid.
    """

    kind = "vqgan"

    def __init__(
        self,
        config: VQGANConfig,
        dist: Distributed,
        losses: VQGANLosses = VQGANLosses(),
        initial_weights: dict[str, torch.Tensor] | None = None,
        freeze_encoder: bool = False,
        commitment: float = 0.25,
        restart_every: int = 100,
        seed: int = 0,
    ) -> None:
        if freeze_encoder and initial_weights is None:
            raise ConfigError("freezing the encoder needs trained weights to start from (--init-from)")
        torch.manual_seed(seed)
        self.model = VQGAN(config)
        if initial_weights is not None:
            self.model.load_state_dict(initial_weights)
        self.initialised = initial_weights is not None
        self.frozen = (self.model.in_block, self.model.down_blocks, self.model.vquantizer) if freeze_encoder else ()
        for part in self.frozen:
            part.requires_grad_(False)
        self.crop_multiple = config.downscale
        self.dist = dist
        self.losses = losses
        self.commitment = commitment
        self.restart_every = restart_every
        self.seed = seed
        self.usage = torch.zeros(config.codebook_size, dtype=torch.long, device=dist.device)
        self.recent_latents: torch.Tensor | None = None
        self.last_usage = float("nan")
        self.perceptual = None
        if losses.perceptual:
            from lamigo.evaluation.perceptual import load_st_lpips

            self.perceptual = load_st_lpips(dist.device).requires_grad_(False)
        self.discriminator = None
        if losses.adversarial:
            self.discriminator = PatchDiscriminator().to(dist.device)
            self.discriminator_optimizer = torch.optim.Adam(
                self.discriminator.parameters(), lr=losses.discriminator_lr, betas=(0.5, 0.9))
        self.last_pair: tuple[torch.Tensor, torch.Tensor] | None = None
        self.step = 0

    def config_dict(self) -> dict:
        return dataclasses.asdict(self.model.config)

    def extra_state(self) -> dict:
        """The discriminator and its optimizer, for checkpoints."""
        if self.discriminator is None:
            return {}
        return {"discriminator": self.discriminator.state_dict(),
                "discriminator_optimizer": self.discriminator_optimizer.state_dict()}

    def load_extra_state(self, state: dict, step: int) -> None:
        self.step = step
        if self.discriminator is not None and "discriminator" in state:
            self.discriminator.load_state_dict(state["discriminator"])
            self.discriminator_optimizer.load_state_dict(state["discriminator_optimizer"])

    @staticmethod
    def _flat(latents: torch.Tensor) -> torch.Tensor:
        return latents.permute(0, 2, 3, 1).reshape(-1, latents.shape[1])

    @torch.no_grad()
    def initialize(self, batches: list[torch.Tensor]) -> None:
        """Codebook = k-means centres of the encoder's outputs on the first batches (a fresh
        model only: given weights keep their codebook)."""
        if self.initialised:
            return
        self.model.to(self.dist.device).train()
        points = torch.cat([self._flat(self.model.encode_latents(images)) for images in batches])
        centres = kmeans(points.cpu(), self.model.codebook_size, seed=self.seed)
        codebook = self.model.vquantizer.codebook.weight
        codebook.copy_(centres.to(codebook))
        self.dist.broadcast(codebook.data)
        logger.info("codebook initialised by k-means on %d encoder outputs", points.shape[0])

    def _adversarial_active(self) -> bool:
        return self.discriminator is not None and self.step >= self.losses.adversarial_start

    def loss(self, model: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        for part in self.frozen:
            part.eval()  # frozen batch-norm statistics: the tokens must not drift
        reconstruction, latents, codewords = model(images)
        l1 = F.l1_loss(reconstruction, images)
        mse = F.mse_loss(reconstruction, images)
        metrics: dict[str, float] = {}
        reconstruction_loss = l1 + mse
        if self.perceptual is not None:
            perceptual = self.perceptual(reconstruction, images).mean()
            reconstruction_loss = reconstruction_loss + self.losses.perceptual * perceptual
            metrics["st_lpips"] = float(perceptual.detach())
        loss = reconstruction_loss
        if self._adversarial_active():
            # Batch statistics, as in the discriminator's own step (taming does the same): its
            # running statistics lag far behind early on and would score another network.
            generator_loss = -self.discriminator(reconstruction).mean()
            last_layer = unwrap(model).out_block[0].weight
            (rec_grad,) = torch.autograd.grad(reconstruction_loss, last_layer, retain_graph=True)
            (gan_grad,) = torch.autograd.grad(generator_loss, last_layer, retain_graph=True)
            balance = (rec_grad.norm() / (gan_grad.norm() + 1e-4)).clamp(0, 1e4).detach()
            loss = loss + self.losses.adversarial * balance * generator_loss
            metrics |= {"g_adv": float(generator_loss.detach()), "adv_weight": float(balance)}
        if not self.frozen:
            codebook_loss = F.mse_loss(codewords, latents.detach())
            commitment_loss = F.mse_loss(latents, codewords.detach())
            loss = loss + codebook_loss + self.commitment * commitment_loss
            metrics["vq"] = float(codebook_loss.detach())
            with torch.no_grad():
                flat = self._flat(latents.detach())
                indices = torch.cdist(flat, unwrap(model).vquantizer.codebook.weight).argmin(dim=1)
                self.usage += torch.bincount(indices, minlength=self.usage.numel())
                self.recent_latents = flat
            metrics["usage"] = self.last_usage
        if self.discriminator is not None:
            # Float32: the discriminator's own step runs outside the loss's autocast.
            self.last_pair = (images.detach(), reconstruction.detach().float())
        psnr = -10 * torch.log10(mse.detach().clamp_min(1e-10))
        return loss, {"loss": float(loss.detach()), "l1": float(l1.detach()), "psnr": float(psnr)} | metrics

    def _train_discriminator(self) -> dict[str, float]:
        real, fake = self.last_pair
        loss = hinge_discriminator_loss(self.discriminator(real), self.discriminator(fake.clamp(0, 1)))
        self.discriminator_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        for parameter in self.discriminator.parameters():
            if parameter.grad is not None:
                parameter.grad = self.dist.all_reduce_sum(parameter.grad) / self.dist.world_size
        self.discriminator_optimizer.step()
        return {"d_loss": float(loss.detach())}

    def after_step(self, step: int, optimizer: torch.optim.Optimizer) -> dict[str, float]:
        self.step = step
        metrics = self._train_discriminator() if self._adversarial_active() and self.last_pair else {}
        if self.frozen or step % self.restart_every or self.recent_latents is None:
            return metrics
        with torch.no_grad():
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
        return metrics | {"usage": self.last_usage}
