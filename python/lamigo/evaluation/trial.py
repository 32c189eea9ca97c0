"""One trial of `lamigo eval`: one image under one condition (`lamigo.evaluation.experiments`),
sent as a GO message or a classical file, without a link or through a noise setup's channel,
received, and measured; its result row and the image that arrived.

Every channel draws from a seed derived from the run's seed, the noise setup, the rate and the
image (`lamigo.link.channel.realisation_seed`), so LaMI-GO at every tau/T and every classical
baseline meet the same channel realisation; a run of several realisations draws them apart.
A message lost entirely (its control block, a classical file's header block, a classical file
that cannot fit its budget at all, or one no decoder can read) is a mid-grey image, measured
like any other; the `received` column says which arrived."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from lamigo.coding import DEFAULT_INDEX_CODER, DEFAULT_TEXT_CODER
from lamigo.coding.prior import IndexPrior
from lamigo.evaluation.data import EvalImage
from lamigo.evaluation.experiments import Condition
from lamigo.evaluation.quality import QualityMetrics
from lamigo.lami.settings import DecoderSettings
from lamigo.message import CODEC_NAME, BandwidthReport, GOMessage, ReceivedMessage, pack_with_report
from lamigo.zoo.sets import ModelSet

if TYPE_CHECKING:
    from lamigo.lami.decoder import ShowtimeTimings

logger = logging.getLogger(__name__)

__all__ = ["KB", "RESULT_FIELDS", "LaMITrial", "TrialContext", "finish_trial", "prepare_lami", "run_trial"]

KB = 1000  # bytes per KB in every table

RESULT_FIELDS = (
    "image", "realisation", "received", "total_kb", "header_kb", "mask_kb", "text_kb", "indices_kb", "air_kb",
    "codec_setting", "packets_lost", "tokens_regenerated", "tokens_lost", "psnr", "ssim", "st_lpips", "lpips",
    "text_s", "denoise_s", "vqgan_s", "decode_s",
)


@dataclass
class TrialContext:
    """What every trial of a run shares."""

    models: ModelSet
    prior: IndexPrior | None
    metrics: QualityMetrics
    seed: int  #: masking, sampling and channel seed
    size: tuple[int, int]  #: (height, width) every image is sent at
    decoder: DecoderSettings  #: a condition's settings replace theirs, and `seed` their seed
    bf16: bool
    # Trials by (condition, image): experiments that share a condition run it once.
    done: dict[tuple[str, ...], tuple[dict, np.ndarray | None]] = field(default_factory=dict)


def _transmit(ctx: TrialContext, item: EvalImage, condition: Condition) -> tuple[GOMessage, BandwidthReport]:
    """The GO message of `item` under `condition`, and the byte report of packing it."""
    from lamigo.lami.transmitter import Transmitter
    from lamigo.link import NOISE_SETUPS

    setup = NOISE_SETUPS[condition.setup] if condition.setup else None
    coders = (setup.index_coder, setup.text_coder) if setup else (DEFAULT_INDEX_CODER, DEFAULT_TEXT_CODER)
    transmitter = Transmitter(ctx.models, condition.masking_policy(ctx.seed), *coders,
                              ctx.size, ctx.prior)
    message = transmitter.encode(item.image, item.caption)
    _, report = pack_with_report(message, ctx.prior)
    return message, report


def _channel(ctx: TrialContext, item: EvalImage, condition: Condition, realisation: int):
    """The channel of the condition's noise setup and rate for `item`'s `realisation`: the same
    (packets lost, bits flipped) for LaMI-GO at any tau/T and for every baseline."""
    from lamigo.link import NOISE_SETUPS

    return NOISE_SETUPS[condition.setup].realisation(condition.rate, ctx.seed, item.name, realisation)


def _over_the_link(ctx: TrialContext, item: EvalImage, condition: Condition, message: GOMessage,
                   row: dict) -> ReceivedMessage | None:
    """Send `message` through the condition's noise setup; the message as received, or None
    when its control block was lost."""
    from lamigo.link import NOISE_SETUPS
    from lamigo.link.simulation import simulate_link

    link = simulate_link(message, _channel(ctx, item, condition, row["realisation"]), NOISE_SETUPS[condition.setup].link_config(),
                         ctx.prior)
    row.update(air_kb=link.bytes_on_air / KB, packets_lost=link.packets_lost)
    if link.received is not None:
        row["tokens_lost"] = link.received.link.tokens_lost
    return link.received


@dataclass(frozen=True)
class LaMITrial:
    """A LaMI-GO trial up to its decode: the message as received (None when lost entirely),
    the settings to decode it with, and whether to sample plain Paella (the ablation)."""

    received: ReceivedMessage | None
    settings: DecoderSettings
    plain: bool

    def record_decode(self, row: dict, timings: ShowtimeTimings) -> None:
        """Fill `row`'s decode columns: tokens regenerated and the stage seconds."""
        row.update(tokens_regenerated=int(self.received.regenerate.sum()),
                   text_s=timings.text_encoding, denoise_s=timings.denoising,
                   vqgan_s=timings.vqgan_decode, decode_s=timings.total)


def prepare_lami(ctx: TrialContext, item: EvalImage, condition: Condition, row: dict) -> LaMITrial:
    """Send `item` as a GO message under `condition` (filling `row`'s byte and link columns):
    what is left is to decode it, here (`run_trial`) or on a decoder service
    (`lamigo.evaluation.remote`)."""
    message, report = _transmit(ctx, item, condition)
    row.update(total_kb=report.total_bytes / KB, header_kb=report.header_bytes / KB,
               mask_kb=report.mask_bytes / KB, text_kb=report.text_bytes / KB,
               indices_kb=report.index_bytes / KB)
    received = _over_the_link(ctx, item, condition, message, row) if condition.setup else ReceivedMessage.whole(message)
    settings = ctx.decoder.replace(
        steps=condition.steps, renoise=condition.tau, seed=ctx.seed,
        **{name: getattr(condition, name) for name in ("renoise_scope", "cfg_steps")
           if getattr(condition, name) is not None},
    )
    return LaMITrial(received, settings, condition.sampling == "plain")


def _run_lami(ctx: TrialContext, item: EvalImage, condition: Condition, row: dict) -> np.ndarray | None:
    from lamigo.lami import LaMIDecoder
    from lamigo.images import to_uint8

    trial = prepare_lami(ctx, item, condition, row)
    if trial.received is None:
        return None
    decoder = LaMIDecoder(ctx.models, trial.settings, bf16=ctx.bf16)
    result = decoder.decode_messages([trial.received], plain=trial.plain)
    trial.record_decode(row, result.timings)
    return to_uint8(result.images)[0]


def _run_classic(ctx: TrialContext, item: EvalImage, condition: Condition, row: dict) -> np.ndarray | None:
    """A classical baseline (`lamigo.classical`) at its best within the bytes of the LaMI-GO
    (PRM) message of the same image and ratio: without a link, the file within the message's
    bytes; over a noise setup, the file's bytes on air (link headers, CRCs and its protected,
    repeated header block) within the message's bytes on air, through the same channel
    realisation. None when it cannot fit or its header block was lost."""
    from lamigo.classical import encode_at_budget, get_baseline
    from lamigo.link import NOISE_SETUPS, packetize
    from lamigo.link.classical import send_at_budget, simulate_file

    message, report = _transmit(ctx, item, Condition(policy="prm", ratio=condition.ratio, setup=condition.setup))
    shape = item.image.shape[:2]
    if not condition.setup:
        encoded = encode_at_budget(condition.codec, item.image, report.total_bytes)
    else:
        config = NOISE_SETUPS[condition.setup].link_config()
        budget = sum(len(packet.to_bytes()) for packet in packetize(message, 0, config, ctx.prior))
        encoded = send_at_budget(condition.codec, item.image, budget, config)
    if encoded is None:
        logger.info("%s of %s cannot fit the LaMI-GO message's bytes", condition.codec, item.name)
        return None
    row.update(total_kb=len(encoded.data) / KB, header_kb=encoded.header_bytes / KB, codec_setting=encoded.setting)
    if not condition.setup:
        return get_baseline(condition.codec).decode(encoded.data, shape)
    run = simulate_file(encoded, shape, _channel(ctx, item, condition, row["realisation"]), config)
    row.update(air_kb=run.bytes_on_air / KB, packets_lost=run.packets_lost)
    return run.received.image if run.received.decoded_ok else None


def run_trial(ctx: TrialContext, item: EvalImage, condition: Condition,
              realisation: int = 0) -> tuple[dict, np.ndarray]:
    """One image under one condition (over a link, in the channel's `realisation`): its CSV row
    and the received image (mid-grey when the message was lost: `received` 0, measured like any
    other)."""
    row: dict = {"image": item.name, "realisation": realisation}
    runner = _run_lami if condition.codec == CODEC_NAME else _run_classic
    return finish_trial(ctx, item, row, runner(ctx, item, condition, row))


def finish_trial(ctx: TrialContext, item: EvalImage, row: dict, received: np.ndarray | None) -> tuple[dict, np.ndarray]:
    """Measure the image that arrived (None: lost, a mid-grey image) against `item`: the
    trial's row, completed, and its image."""
    from lamigo.classical.received import grey

    row["received"] = int(received is not None)
    image = received if received is not None else grey(item.image.shape[:2])
    row.update(ctx.metrics.measure(item.image, image))
    return row, image
