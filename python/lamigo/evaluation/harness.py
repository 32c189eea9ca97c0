"""The evaluation harness: runs experiments on a set of images and writes, per experiment, a CSV
of per-image results, a CSV of per-condition means (with FID), a plot, and one report.md.

Runs are deterministic for a seed (every image is decoded on its own with that seed, and each
channel draws from a seed derived from the seed, the noise setup, the rate and the image, so
LaMI-GO at every tau/T and every classical baseline meet the same channel realisation) and
resumable: rows already in an experiment's CSV are not run again.

A message lost entirely (its control block, a classical file's header block, a classical file
that cannot fit its budget at all, or one no decoder can read) counts as a mid-grey image in every mean and in FID,
for LaMI-GO and the baselines alike; the `received` column says which arrived.
"""

from __future__ import annotations

import csv
import json
import logging
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from lamigo.coding import DEFAULT_INDEX_CODER, DEFAULT_TEXT_CODER
from lamigo.coding.prior import IndexPrior
from lamigo.errors import ConfigError
from lamigo.evaluation.experiments import CONDITION_FIELDS, Condition, Experiment, cell_text, condition_key
from lamigo.evaluation.quality import psnr, ssim
from lamigo.evaluation.report import write_plots, write_report
from lamigo.evaluation.tasks import TaskOptions
from lamigo.images import DEFAULT_SIZE, IMAGE_SUFFIXES, image_files, parse_size
from lamigo.lami.settings import DecoderSettings
from lamigo.message import BandwidthReport, GOMessage, ReceivedMessage, bandwidth_report
from lamigo.zoo.sets import ModelSet

logger = logging.getLogger(__name__)

__all__ = [
    "EvalConfig",
    "EvalImage",
    "EvalResult",
    "QualityMetrics",
    "TrialContext",
    "METRICS",
    "RESULT_FIELDS",
    "load_eval_images",
    "run_evaluation",
    "run_trial",
]

PHOTOS_DATA = "photos:"
QUICK_IMAGES = 2

METRICS = ("psnr", "ssim", "st-lpips", "lpips", "fid")
DEFAULT_METRICS = ("psnr", "ssim", "st-lpips", "fid")
KB = 1000  # bytes per KB in every table

RESULT_FIELDS = (
    "image", "received", "total_kb", "header_kb", "mask_kb", "text_kb", "indices_kb", "air_kb",
    "codec_setting", "packets_lost", "tokens_regenerated", "tokens_lost", "psnr", "ssim", "st_lpips", "lpips",
    "text_s", "denoise_s", "vqgan_s", "decode_s",
)
MEAN_FIELDS = RESULT_FIELDS[2:]
SUMMARY_FIELDS = (*CONDITION_FIELDS, "images", "received", "lost", *MEAN_FIELDS, "fid", "fid_samples")
RUN_FILE = "run.json"


@dataclass(frozen=True)
class EvalImage:
    """One evaluation image, already fitted to the evaluation size, with its caption."""

    name: str
    image: np.ndarray
    caption: str


@dataclass
class EvalConfig:
    """What `run_evaluation` runs and where it writes.

    Args:
        data: a folder of images, or "photos:" for the bundled scikit-image photos.
        out: the output folder (reused to resume).
        experiments: the sweeps to run.
        quick: the small sweeps on the first `QUICK_IMAGES` images.
        seed: masking, sampling and channel seed.
        size: (height, width) every image is fitted to.
        metrics: names from `METRICS`.
        lpips_weights: folder with standard LPIPS's files (needed for "lpips").
        fid_patch: side of the square patches FID is computed on; None for whole images.
        max_images: use at most this many images (None: all, or `QUICK_IMAGES` when `quick`).
        bf16: decode under bfloat16 autocast (CUDA only).
        decoder: the LaMI decoder's settings; a condition's tau/T, and its re-noising scope and
            guided steps where it sets them, replace theirs, and `seed` replaces their seed.
        tasks: what the downstream tasks of a `downstream` experiment may use.
        steps: run LaMI-GO only at these (tau, T); None: at every setting the sweeps name.
    """

    data: str
    out: Path
    experiments: Sequence[Experiment]
    quick: bool = False
    seed: int = 0
    size: tuple[int, int] = parse_size(DEFAULT_SIZE)
    metrics: Sequence[str] = DEFAULT_METRICS
    lpips_weights: Path | None = None
    fid_patch: int | None = 64
    max_images: int | None = None
    bf16: bool = False
    decoder: DecoderSettings = DecoderSettings()
    tasks: TaskOptions = TaskOptions()
    steps: Sequence[tuple[int, int]] | None = None

    def __post_init__(self) -> None:
        unknown = [name for name in self.metrics if name not in METRICS]
        if unknown:
            raise ConfigError(f"unknown metric(s) {', '.join(unknown)}; choose from {', '.join(METRICS)}")
        if "lpips" in self.metrics and self.lpips_weights is None:
            raise ConfigError("the lpips metric needs --lpips-weights DIR (torchvision's AlexNet "
                              "and LPIPS's alex.pth); ST-LPIPS needs no files")
        if not 0 <= self.seed < 2**32:
            raise ConfigError(f"seed must be a 32-bit unsigned integer, got {self.seed}")


def _image_paths(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise ConfigError(f"data folder {folder} not found (give a folder of images, or {PHOTOS_DATA})")
    paths = image_files(folder)
    if not paths:
        raise ConfigError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return paths


def load_eval_images(
    data: str, size: tuple[int, int], limit: int | None = None, models: ModelSet | None = None
) -> list[EvalImage]:
    """The evaluation images, fitted to `size`, with captions: for a folder, from `NAME.txt`
    beside each image, else from the model set's captioner, else empty (one warning for all);
    for "photos:", written by hand."""
    from lamigo.images import BUNDLED_PHOTOS, fit_image, load_image, to_tensor

    if data == PHOTOS_DATA:
        names = list(BUNDLED_PHOTOS)[:limit]
        return [EvalImage(name, fit_image(load_image(f"photo:{name}"), size), BUNDLED_PHOTOS[name])
                for name in names]
    items = []
    for path in _image_paths(Path(data).expanduser())[:limit]:
        image = fit_image(load_image(path), size)
        caption_file = path.with_suffix(".txt")
        if caption_file.is_file():
            caption = " ".join(caption_file.read_text(encoding="utf-8").split())
        elif models is not None and models.captioner is not None:
            (caption,) = models.captioner.caption(to_tensor(image))
        else:
            caption = ""
        items.append(EvalImage(path.stem, image, caption))
    uncaptioned = [item.name for item in items if not item.caption]
    if uncaptioned:
        logger.warning("%d of %d images have no NAME.txt and no captioner to caption them: they travel "
                       "with the empty caption (%s)", len(uncaptioned), len(items), ", ".join(uncaptioned))
    names = [item.name for item in items]
    if len(set(names)) != len(names):
        raise ConfigError(f"two images in {data} share a name (stem); rename one")
    return items


class QualityMetrics:
    """The per-image metrics of a run: PSNR, SSIM, ST-LPIPS and standard LPIPS as chosen."""

    def __init__(self, names: Sequence[str], device: str | torch.device = "cpu",
                 lpips_weights: Path | None = None) -> None:
        from lamigo.evaluation.perceptual import load_lpips, load_st_lpips

        self.names = tuple(names)
        self.st_lpips = load_st_lpips(device) if "st-lpips" in names else None
        self.lpips = load_lpips(lpips_weights, device) if "lpips" in names else None

    def measure(self, reference: np.ndarray, image: np.ndarray) -> dict[str, float]:
        """The chosen metrics of `image` against `reference` (uint8 RGB, same size)."""
        values = {}
        if "psnr" in self.names:
            values["psnr"] = psnr(reference, image)
        if "ssim" in self.names:
            values["ssim"] = ssim(reference, image)
        if self.st_lpips is not None:
            values["st_lpips"] = self.st_lpips.distance(reference, image)
        if self.lpips is not None:
            values["lpips"] = self.lpips.distance(reference, image)
        return values


def _stable_seed(*parts: object) -> int:
    return zlib.crc32("|".join(str(part) for part in parts).encode())


@dataclass
class TrialContext:
    """What every trial of a run shares."""

    models: ModelSet
    prior: IndexPrior | None
    config: EvalConfig
    metrics: QualityMetrics
    # Trials by (condition, image): experiments that share a condition run it once.
    done: dict[tuple[str, ...], tuple[dict, np.ndarray | None]] = field(default_factory=dict)


def _transmit(ctx: TrialContext, item: EvalImage, condition: Condition) -> tuple[GOMessage, BandwidthReport]:
    """The packed GO message of `item` under `condition`, parsed back with its byte report."""
    from lamigo.lami.transmitter import Transmitter
    from lamigo.link import NOISE_SETUPS

    setup = NOISE_SETUPS[condition.setup] if condition.setup else None
    coders = (setup.index_coder, setup.text_coder) if setup else (DEFAULT_INDEX_CODER, DEFAULT_TEXT_CODER)
    transmitter = Transmitter(ctx.models, condition.masking_policy(ctx.config.seed), *coders,
                              ctx.config.size, ctx.prior)
    data = transmitter.pack(transmitter.encode(item.image, item.caption))
    return bandwidth_report(data, ctx.prior)


def _channel(ctx: TrialContext, item: EvalImage, condition: Condition):
    """The channel of the condition's noise setup and rate for `item`: the same realisation
    (packets lost, bits flipped) for LaMI-GO at any tau/T and for every baseline."""
    from lamigo.link import NOISE_SETUPS

    seed = _stable_seed(ctx.config.seed, condition.setup, cell_text(condition.rate), item.name)
    return NOISE_SETUPS[condition.setup].channel(condition.rate, seed=seed)


def _over_the_link(ctx: TrialContext, item: EvalImage, condition: Condition, message: GOMessage,
                   row: dict) -> ReceivedMessage | None:
    """Send `message` through the condition's noise setup; the message as received, or None
    when its control block was lost."""
    from lamigo.link import NOISE_SETUPS
    from lamigo.link.simulation import simulate_link

    link = simulate_link(message, _channel(ctx, item, condition), NOISE_SETUPS[condition.setup].link_config(),
                         ctx.prior)
    row.update(air_kb=link.bytes_on_air / KB, packets_lost=link.packets_lost)
    if link.received is not None:
        row["tokens_lost"] = link.received.link.tokens_lost
    return link.received


def _run_lami(ctx: TrialContext, item: EvalImage, condition: Condition, row: dict) -> np.ndarray | None:
    from lamigo.lami import LaMIDecoder
    from lamigo.images import to_uint8

    message, report = _transmit(ctx, item, condition)
    row.update(total_kb=report.total_bytes / KB, header_kb=report.header_bytes / KB,
               mask_kb=report.mask_bytes / KB, text_kb=report.text_bytes / KB,
               indices_kb=report.index_bytes / KB)
    if condition.setup:
        message = _over_the_link(ctx, item, condition, message, row)
        if message is None:
            return None
    else:
        message = ReceivedMessage.whole(message)
    settings = ctx.config.decoder.replace(
        steps=condition.steps, renoise=condition.tau, seed=ctx.config.seed,
        **{name: getattr(condition, name) for name in ("renoise_scope", "cfg_steps")
           if getattr(condition, name) is not None},
    )
    decoder = LaMIDecoder(ctx.models, settings, bf16=ctx.config.bf16)
    result = decoder.decode_messages([message], plain=condition.sampling == "plain")
    timings = result.timings
    row.update(tokens_regenerated=int(message.regenerate.sum()),
               text_s=timings.text_encoding, denoise_s=timings.denoising,
               vqgan_s=timings.vqgan_decode, decode_s=timings.total)
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
    run = simulate_file(encoded, shape, _channel(ctx, item, condition), config)
    row.update(air_kb=run.bytes_on_air / KB, packets_lost=run.packets_lost)
    return run.received.image if run.received.decoded_ok else None


def run_trial(ctx: TrialContext, item: EvalImage, condition: Condition) -> tuple[dict, np.ndarray]:
    """One image under one condition: its CSV row and the received image (mid-grey when the
    message was lost: `received` 0, measured like any other)."""
    from lamigo.classical.received import grey

    row: dict = {"image": item.name}
    runner = _run_lami if condition.codec == "lami-go" else _run_classic
    received = runner(ctx, item, condition, row)
    row["received"] = int(received is not None)
    image = received if received is not None else grey(item.image.shape[:2])
    row.update(ctx.metrics.measure(item.image, image))
    return row, image


def _read_csv(path: Path, fields: Sequence[str]) -> list[dict]:
    """The rows of a CSV this harness wrote; ConfigError if its columns are not `fields`."""
    if not path.is_file():
        return []
    with path.open(newline="") as file:
        reader = csv.DictReader(file)
        if reader.fieldnames is not None and list(reader.fieldnames) != list(fields):
            raise ConfigError(f"{path} has other columns than this version writes; move it away "
                              "or use another --out")
        return list(reader)


def _write_csv(path: Path, fields: Sequence[str], rows: Sequence[dict]) -> None:
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=fields)
        writer.writeheader()
        writer.writerows({name: cell_text(row.get(name)) for name in fields} for row in rows)


def _check_run(out: Path, manifest: dict) -> None:
    """Refuse to mix results of different models, data, sizes, seeds or metrics in one folder."""
    path = out / RUN_FILE
    if path.is_file():
        previous = json.loads(path.read_text())
        differing = [key for key in manifest if key != "images" and previous.get(key) != manifest[key]]
        if differing:
            raise ConfigError(f"{out} holds results of another run ({', '.join(differing)} differ: "
                              f"{ {key: previous.get(key) for key in differing} }); use another --out")
    path.write_text(json.dumps(manifest, indent=2) + "\n")


def _run_experiment(ctx: TrialContext, experiment: Experiment, items: Sequence[EvalImage]) -> tuple[list[dict], int]:
    """Run the rows of `experiment` not yet in its CSV; return every row of this run's images
    and how many were run now."""
    out = ctx.config.out
    path = out / f"{experiment.name}.csv"
    fields = (*CONDITION_FIELDS, *RESULT_FIELDS)
    rows = _read_csv(path, fields)
    done = {(*condition_key(row), row["image"]) for row in rows}
    conditions = experiment.conditions(ctx.config.quick, ctx.config.steps)
    todo = [(condition, item) for condition in conditions for item in items
            if (*condition.key, item.name) not in done]
    logger.info("%s: %d of %d rows to run", experiment.name, len(todo), len(conditions) * len(items))
    if not path.is_file():
        _write_csv(path, fields, [])
    for condition, item in tqdm(todo, desc=experiment.name, unit="image"):
        trial = (*condition.key, item.name)
        if trial not in ctx.done:
            ctx.done[trial] = run_trial(ctx, item, condition)
        row, image = ctx.done[trial]
        row = {**condition.as_row(), **row}
        from lamigo.images import save_image

        save_image(image, out / "images" / experiment.name / condition.slug(experiment.keys) / f"{item.name}.png")
        with path.open("a", newline="") as file:  # one row at a time: an interrupted run resumes here
            csv.DictWriter(file, fieldnames=fields).writerow({name: cell_text(row.get(name)) for name in fields})
        rows.append({name: cell_text(row.get(name)) for name in fields})
    names = {item.name for item in items}
    keys = {condition.key for condition in conditions}
    return [row for row in rows if row["image"] in names and condition_key(row) in keys], len(todo)


def _summarise(ctx: TrialContext, experiment: Experiment, rows: list[dict], fid_scorer) -> list[dict]:
    """Per-condition means, and FID over the images (lost ones mid-grey; cached in the summary
    CSV)."""
    from lamigo.images import load_image

    out = ctx.config.out
    path = out / f"{experiment.name}_summary.csv"
    cached = {condition_key(row): row for row in _read_csv(path, SUMMARY_FIELDS)}
    summary = []
    conditions = experiment.conditions(ctx.config.quick, ctx.config.steps)
    for condition in tqdm(conditions, desc=f"{experiment.name} summary", unit="condition",
                          disable=fid_scorer is None):
        key = condition.key
        group = [row for row in rows if condition_key(row) == key]
        received = [row for row in group if row["received"] == "1"]
        entry = condition.as_row()
        entry.update(images=len(group), received=len(received), lost=len(group) - len(received))
        for name in MEAN_FIELDS:
            values = [float(row[name]) for row in group if row.get(name)]
            entry[name] = float(np.mean(values)) if values else None
        if fid_scorer is not None and group:
            previous = cached.get(key, {})
            if previous.get("fid") and previous.get("received") == str(len(received)) \
                    and previous.get("images") == str(len(group)):
                entry.update(fid=float(previous["fid"]), fid_samples=int(previous["fid_samples"]))
            else:
                folder = out / "images" / experiment.name / condition.slug(experiment.keys)
                try:
                    images = [load_image(folder / f"{row['image']}.png") for row in group]
                    entry["fid"], entry["fid_samples"] = fid_scorer.score(images)
                except ConfigError as err:
                    logger.warning("%s %s: no FID: %s", experiment.name, key, err)
        summary.append(entry)
    _write_csv(path, SUMMARY_FIELDS, summary)
    return summary


@dataclass(frozen=True)
class EvalResult:
    """What `run_evaluation` wrote: the report, and per experiment (rows run now, rows total)."""

    report: Path
    rows: dict[str, tuple[int, int]]


def run_evaluation(config: EvalConfig, models: ModelSet, prior: IndexPrior | None) -> EvalResult:
    """Run `config`'s experiments with `models`, resuming from what `config.out` holds."""
    device = next(models.denoiser.parameters()).device
    if config.bf16 and device.type != "cuda":
        raise ConfigError(f"bf16 decoding needs CUDA; the models are on {device}")
    config.out.mkdir(parents=True, exist_ok=True)
    limit = config.max_images if config.max_images is not None else QUICK_IMAGES if config.quick else None
    items = load_eval_images(config.data, config.size, limit, models)
    _check_run(config.out, {"model_set": models.name, "data": config.data, "bf16": config.bf16,
                            "size": list(config.size), "seed": config.seed,
                            "metrics": sorted(config.metrics), "fid_patch": config.fid_patch,
                            "images": [item.name for item in items]})
    metrics = QualityMetrics(config.metrics, device, config.lpips_weights)
    fid_scorer = None
    if "fid" in config.metrics:
        from lamigo.evaluation.fid import FIDScorer, InceptionFeatures

        patch = config.fid_patch if config.fid_patch and config.fid_patch < min(config.size) else None
        fid_scorer = FIDScorer([item.image for item in items], InceptionFeatures().to(device), patch)
    ctx = TrialContext(models, prior, config, metrics)
    tasks = None
    if any(experiment.downstream for experiment in config.experiments):
        from lamigo.evaluation.tasks import build_tasks, run_tasks

        tasks = build_tasks(config.tasks)  # before any decoding: a missing package or folder fails at once
    summaries, counts, sections = {}, {}, {}
    for experiment in config.experiments:
        rows, run_now = _run_experiment(ctx, experiment, items)
        counts[experiment.name] = (run_now, len(rows))
        summaries[experiment.name] = _summarise(ctx, experiment, rows, fid_scorer)
        write_plots(config.out, experiment, summaries[experiment.name], items)
        if experiment.downstream:
            sections[experiment.name] = run_tasks(config.out, experiment, summaries[experiment.name], items, *tasks)
    report = write_report(config, models.name, str(device), items, summaries, fid_scorer, sections)
    return EvalResult(report, counts)
