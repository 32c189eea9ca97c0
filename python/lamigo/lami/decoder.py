"""The receiver's showtime (Fig. 4): captions -> conditions -> LaMI sampling -> VQGAN decode."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from lamigo.errors import Cancelled, ConfigError, MessageError
from lamigo.lami.sampler import lami_sample
from lamigo.lami.settings import DecoderSettings
from lamigo.message import GOMessage, ReceivedMessage
from lamigo.models.conditions import ConditionBuilder, message_conditions

logger = logging.getLogger(__name__)

__all__ = ["LaMIDecoder", "DecodeResult", "ShowtimeTimings"]


class ReceiverModels(Protocol):
    """The parts of a `lamigo.zoo.sets.ModelSet` the receiver uses."""

    vqgan: nn.Module
    denoiser: nn.Module
    conditions: ConditionBuilder


@dataclass(frozen=True)
class ShowtimeTimings:
    """Wall-clock seconds of each receiver stage for one batch."""

    text_encoding: float
    denoising: float
    vqgan_decode: float

    @property
    def total(self) -> float:
        """Seconds of the three stages together."""
        return self.text_encoding + self.denoising + self.vqgan_decode


@dataclass(frozen=True)
class DecodeResult:
    """Regenerated images [B, 3, H, W] in [0, 1] and index maps [B, h', w'], on the decoder's
    device, with the stage timings of the batch."""

    images: torch.Tensor
    indices: torch.Tensor
    timings: ShowtimeTimings


class _GraphedSteps:
    """A CUDA-graphed denoiser whose every call starts a new graph step, so each replay may
    reuse the previous step's output memory (the sampler has consumed those logits)."""

    def __init__(self, compiled: Callable[..., torch.Tensor]) -> None:
        self.compiled = compiled
        self.codebook_size: int = compiled.codebook_size

    def __call__(
        self, indices: torch.Tensor, r: torch.Tensor, cond: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        torch.compiler.cudagraph_mark_step_begin()
        return self.compiled(indices, r, cond)


class LaMIDecoder:
    """Regenerates batches of GO messages of one geometry with latent mixture integration.

    Each message of a batch is conditioned on its own caption as if it were decoded alone (no
    padding from the others' captions) and draws its own random numbers, so its image does not
    depend on what it was batched with.

    Args:
        models: a ModelSet-like object with ``vqgan``, ``denoiser`` and ``conditions``.
        settings: steps, re-noising, guidance, temperatures and seed (default: the defaults
            of `DecoderSettings`).
        bf16: run every stage under bfloat16 autocast (CUDA only).
        compile: wrap the denoiser and VQGAN decoder in ``torch.compile`` (CUDA only); each new
            batch size or geometry compiles once.
        cuda_graphs: with ``compile``, replay the denoiser as a CUDA graph ("reduce-overhead").
        portable_random: the sampler draws from CPU generators, so a GPU regenerates the tokens
            the CPU does with the same seed (slower; for checking a device against the CPU).
    """

    def __init__(
        self,
        models: ReceiverModels,
        settings: DecoderSettings | None = None,
        *,
        bf16: bool = False,
        compile: bool = False,
        cuda_graphs: bool = False,
        portable_random: bool = False,
    ) -> None:
        self.models = models
        self.device = next(models.denoiser.parameters()).device
        if (bf16 or compile) and self.device.type != "cuda":
            raise ConfigError("bf16 autocast and torch.compile are CUDA options; the models are on "
                              f"{self.device}")
        if cuda_graphs and not compile:
            raise ConfigError("CUDA graphs come with torch.compile: set compile as well")
        self.settings = settings or DecoderSettings()
        self.bf16 = bf16
        self._compiled = compile
        self.portable_random = portable_random
        self._denoiser: Callable[..., torch.Tensor] = models.denoiser
        self._decode_latents: Callable[[torch.Tensor], torch.Tensor] = models.vqgan.decode_latents
        if compile:
            # Default inductor mode: max-autotune would tune every matmul shape of every
            # batch size and geometry, minutes of start-up for the 1B-parameter denoiser.
            mode = "reduce-overhead" if cuda_graphs else None
            compiled = torch.compile(models.denoiser, mode=mode, dynamic=False)
            self._denoiser = _GraphedSteps(compiled) if cuda_graphs else compiled
            self._decode_latents = torch.compile(models.vqgan.decode_latents, dynamic=False)

    @property
    def codebook_size(self) -> int:
        """K, the number of codewords the denoiser predicts over."""
        return self.models.denoiser.codebook_size

    def decode(
        self,
        indices: np.ndarray | torch.Tensor,
        mask: np.ndarray | torch.Tensor,
        captions: Sequence[str],
        *,
        seed: int | None = None,
        plain: bool = False,
        progress: bool = False,
        stop: Callable[[], bool] | None = None,
        settings: DecoderSettings | None = None,
    ) -> DecodeResult:
        """Regenerate a batch: received `indices` [B, h', w'] (any value where masked), `mask`
        [B, h', w'] (True = regenerate: policy mask united with lost tokens) and one caption
        per message. `settings` replace the decoder's for this batch, and `seed` their seed;
        ``plain`` is the "without LaMI" ablation. `stop` is asked before every layer of the models (before every step only
        when compiled): once it returns True the decode ends with `lamigo.errors.Cancelled`,
        so a service shutting down waits for one layer, not for a whole batch."""
        indices = torch.as_tensor(indices, dtype=torch.long, device=self.device)
        mask = torch.as_tensor(mask, dtype=torch.bool, device=self.device)
        if indices.dim() != 3 or len(captions) != indices.shape[0]:
            raise ConfigError(
                f"need index maps [B, h', w'] and B captions, got {tuple(indices.shape)} and "
                f"{len(captions)} captions"
            )

        settings = settings or self.settings
        if seed is not None:
            settings = settings.replace(seed=seed)
        with self._stoppable(stop):
            with self._timed() as text_time, self._autocast():
                cond, uncond = message_conditions(self.models.conditions, list(captions))
            with self._timed() as denoise_time, self._autocast():
                sampled = lami_sample(
                    self._denoiser, indices, mask, cond, uncond if settings.guided_steps else None, settings,
                    plain=plain, progress=progress, stop=stop, portable_random=self.portable_random,
                )
            if stop is not None and stop():
                raise Cancelled("decoding stopped before the VQGAN decoder")
            with self._timed() as vqgan_time, self._autocast(), torch.inference_mode():
                # The sampler only yields valid indices, so decode_indices' range check (a
                # device sync) is skipped.
                codewords = self.models.vqgan.vquantizer.embed(sampled)
                images = self._decode_latents(codewords).float().clamp_(0, 1)
        timings = ShowtimeTimings(text_time(), denoise_time(), vqgan_time())
        logger.info(
            "decoded %d image(s) %s: text %.3f s, %d denoising steps %.3f s, VQGAN %.3f s",
            len(captions), tuple(images.shape[-2:]), timings.text_encoding, settings.steps,
            timings.denoising, timings.vqgan_decode,
        )
        return DecodeResult(images=images, indices=sampled, timings=timings)

    def decode_messages(
        self,
        messages: Sequence[GOMessage | ReceivedMessage],
        *,
        seed: int | None = None,
        plain: bool = False,
        progress: bool = False,
        stop: Callable[[], bool] | None = None,
        settings: DecoderSettings | None = None,
    ) -> DecodeResult:
        """Regenerate a batch of GO messages of one geometry: each a `lamigo.message.GOMessage`
        (nothing lost) or a `lamigo.message.ReceivedMessage`, whose lost tokens are united with
        its policy mask. `seed`, `plain`, `stop` and `settings` as in `decode`."""
        if not messages:
            raise MessageError("no messages to decode")
        received = [m if isinstance(m, ReceivedMessage) else ReceivedMessage.whole(m) for m in messages]
        messages = [r.message for r in received]
        geometry = messages[0].geometry
        if any(message.geometry != geometry for message in messages):
            raise MessageError("a batch must hold messages of one geometry")
        if geometry.codebook_size != self.codebook_size:
            raise MessageError(
                f"messages use a codebook of {geometry.codebook_size} entries, the model "
                f"{self.codebook_size}"
            )
        masks = np.stack([r.regenerate for r in received])
        indices = np.stack([np.asarray(m.indices, dtype=np.int64) for m in messages])
        captions = [m.caption for m in messages]
        return self.decode(indices, masks, captions, seed=seed, plain=plain, progress=progress, stop=stop,
                           settings=settings)

    @contextlib.contextmanager
    def _stoppable(self, stop: Callable[[], bool] | None) -> Iterator[None]:
        """Ask `stop` before the forward of every module of the models while the block runs: one
        forward pass of a large message takes seconds on a CPU, one layer a fraction of that.
        Compiled models are left alone (a hook would break their graphs); the sampler still asks
        before every step."""
        if stop is None or self._compiled:
            yield
            return

        def check(module: nn.Module, args: Any) -> None:
            if stop():
                raise Cancelled(f"decoding stopped before {type(module).__name__}")

        roots = (self.models.denoiser, self.models.vqgan)
        handles = [module.register_forward_pre_hook(check) for root in roots for module in root.modules()]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.bf16:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def _timed(self) -> Iterator[Callable[[], float]]:
        """Time a block; the yielded callable gives its seconds once the block has ended."""
        elapsed = 0.0

        def seconds() -> float:
            return elapsed

        self._synchronize()
        start = time.perf_counter()
        yield seconds
        self._synchronize()
        elapsed = time.perf_counter() - start

    def _synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
