"""The evaluation harness: runs experiments on a set of images and writes, per experiment, a CSV
of per-image results, a CSV of per-condition means (with FID), a plot, and one report.md.

Runs are deterministic for a seed (every image is decoded on its own with that seed; each trial,
`lamigo.evaluation.trial`, meets the channel realisation of its image, noise setup and rate) and
resumable: rows already in an experiment's CSV (`lamigo.evaluation.store`) are not run again.
The LaMI-GO decodes run in this process, or on running decoder services
(`lamigo.evaluation.remote`) with the same rows.

A message lost entirely counts as a mid-grey image in every mean and in FID, for LaMI-GO and the
baselines alike; the `received` column says which arrived.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from lamigo.coding.prior import IndexPrior
from lamigo.errors import ConfigError
from lamigo.evaluation.data import EvalImage, load_eval_images
from lamigo.evaluation.experiments import CONDITION_FIELDS, Condition, Experiment, condition_key
from lamigo.evaluation.quality import QualityMetrics
from lamigo.evaluation.remote import DEFAULT_DECODER_TIMEOUT, DecoderAddress, RemoteDecoders, remote_trials
from lamigo.evaluation.report import write_plots, write_report
from lamigo.evaluation.store import ResultCSV, cell_text, mean_of, spread_of
from lamigo.evaluation.tasks import TaskOptions
from lamigo.evaluation.trial import RESULT_FIELDS, TrialContext, run_trial
from lamigo.images import DEFAULT_SIZE, parse_size
from lamigo.lami.settings import DecoderSettings
from lamigo.zoo.sets import ModelSet

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_METRICS",
    "EvalConfig",
    "EvalResult",
    "METRICS",
    "QUICK_IMAGES",
    "run_evaluation",
]

QUICK_IMAGES = 2

METRICS = ("psnr", "ssim", "st-lpips", "lpips", "fid")
DEFAULT_METRICS = ("psnr", "ssim", "st-lpips", "fid")

MEAN_FIELDS = RESULT_FIELDS[RESULT_FIELDS.index("received") + 1:]
SPREAD_FIELDS = ("psnr", "ssim", "st_lpips", "lpips")  #: their spread over the realisations: NAME_spread
SUMMARY_FIELDS = (*CONDITION_FIELDS, "images", "realisations", "received", "lost", *MEAN_FIELDS,
                  *(f"{name}_spread" for name in SPREAD_FIELDS), "fid", "fid_samples")
RUN_FILE = "run.json"


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
        realisations: channel realisations per image and condition over a link (each of its own
            seed, `lamigo.link.channel.realisation_seed`); the summary gives the means over all
            and the spread over the realisations (NAME_spread).
        decoders: running decoder services to decode on (`lamigo serve`, with the model set
            and bf16 of this run); none: decode in this process.
        decoder_timeout: seconds to wait for a service to answer.
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
    realisations: int = 1
    decoders: Sequence[DecoderAddress] = ()
    decoder_timeout: float = DEFAULT_DECODER_TIMEOUT

    def __post_init__(self) -> None:
        unknown = [name for name in self.metrics if name not in METRICS]
        if unknown:
            raise ConfigError(f"unknown metric(s) {', '.join(unknown)}; choose from {', '.join(METRICS)}")
        if "lpips" in self.metrics and self.lpips_weights is None:
            raise ConfigError("the lpips metric needs --lpips-weights DIR (torchvision's AlexNet "
                              "and LPIPS's alex.pth); ST-LPIPS needs no files")
        if not 1 <= self.realisations <= 1000:
            raise ConfigError(f"realisations must be 1 to 1000, got {self.realisations}")
        if not self.decoder_timeout > 0:
            raise ConfigError(f"--decoder-timeout must be positive, got {self.decoder_timeout}")
        if not 0 <= self.seed < 2**32:
            raise ConfigError(f"seed must be a 32-bit unsigned integer, got {self.seed}")


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


def _local_trials(ctx: TrialContext, todo: Sequence[tuple[Condition, EvalImage, int]]):
    """Run `todo` (condition, image, channel realisation) in this process, in order: (condition,
    image, (row, received image))."""
    for condition, item, realisation in todo:
        trial = (*condition.key, item.name, str(realisation))
        if trial not in ctx.done:
            ctx.done[trial] = run_trial(ctx, item, condition, realisation)
        yield condition, item, ctx.done[trial]


def _run_experiment(config: EvalConfig, ctx: TrialContext, experiment: Experiment,
                    items: Sequence[EvalImage], decoders: RemoteDecoders | None) -> tuple[list[dict], int]:
    """Run the rows of `experiment` not yet in its CSV; return every row of this run's images
    and how many were run now."""
    from lamigo.images import save_image

    out = config.out
    store = ResultCSV(out / f"{experiment.name}.csv", (*CONDITION_FIELDS, *RESULT_FIELDS))
    rows = store.read()
    done = {(*condition_key(row), row["image"], row["realisation"] or "0") for row in rows}
    conditions = experiment.conditions(config.quick, config.steps)
    planned = [(condition, item, realisation) for condition in conditions for item in items
               for realisation in range(config.realisations if condition.setup else 1)]
    todo = [(condition, item, realisation) for condition, item, realisation in planned
            if (*condition.key, item.name, str(realisation)) not in done]
    logger.info("%s: %d of %d rows to run", experiment.name, len(todo), len(planned))
    if not store.path.is_file():
        store.write()
    trials = remote_trials(ctx, todo, decoders) if decoders is not None else _local_trials(ctx, todo)
    for condition, item, (row, image) in tqdm(trials, desc=experiment.name, unit="image", total=len(todo)):
        save_image(image, out / "images" / experiment.name / condition.slug(experiment.keys) / image_file(row))
        # one row at a time: an interrupted run resumes here
        rows.append(store.append({**condition.as_row(), **row}))
    names = {item.name for item in items}
    keys = {condition.key for condition in conditions}
    return [row for row in rows if row["image"] in names and condition_key(row) in keys
            and int(row["realisation"] or 0) < config.realisations], len(todo)


def image_file(row: dict) -> str:
    """The file name of a row's received image: NAME.png, NAME~rN.png for realisation N > 0."""
    realisation = int(cell_text(row.get("realisation")) or 0)
    return f"{row['image']}.png" if realisation == 0 else f"{row['image']}~r{realisation}.png"


def _summarise(config: EvalConfig, experiment: Experiment, rows: list[dict], fid_scorer) -> list[dict]:
    """Per-condition means, and FID over the images (lost ones mid-grey; cached in the summary
    CSV)."""
    from lamigo.images import load_image

    out = config.out
    store = ResultCSV(out / f"{experiment.name}_summary.csv", SUMMARY_FIELDS)
    cached = {condition_key(row): row for row in store.read()}
    summary = []
    conditions = experiment.conditions(config.quick, config.steps)
    for condition in tqdm(conditions, desc=f"{experiment.name} summary", unit="condition",
                          disable=fid_scorer is None):
        key = condition.key
        group = [row for row in rows if condition_key(row) == key]
        received = [row for row in group if row["received"] == "1"]
        entry = condition.as_row()
        entry.update(images=len({row["image"] for row in group}),
                     realisations=len({row["realisation"] for row in group}), received=len(received),
                     lost=len(group) - len(received))
        entry.update({name: mean_of(group, name) for name in MEAN_FIELDS})
        entry.update({f"{name}_spread": spread_of(group, name) for name in SPREAD_FIELDS})
        if fid_scorer is not None and group:
            previous = cached.get(key, {})
            if previous.get("fid") and previous.get("received") == str(len(received)) \
                    and previous.get("images") == str(entry["images"]) \
                    and previous.get("realisations") == str(entry["realisations"]):
                entry.update(fid=float(previous["fid"]), fid_samples=int(previous["fid_samples"]))
            else:
                folder = out / "images" / experiment.name / condition.slug(experiment.keys)
                try:
                    images = [load_image(folder / image_file(row)) for row in group]
                    entry["fid"], entry["fid_samples"] = fid_scorer.score(images)
                except ConfigError as err:
                    logger.warning("%s %s: no FID: %s", experiment.name, key, err)
        summary.append(entry)
    store.write(summary)
    return summary


@dataclass(frozen=True)
class EvalResult:
    """What `run_evaluation` wrote: the report, and per experiment (rows run now, rows total)."""

    report: Path
    rows: dict[str, tuple[int, int]]


def run_evaluation(config: EvalConfig, models: ModelSet, prior: IndexPrior | None) -> EvalResult:
    """Run `config`'s experiments with `models`, resuming from what `config.out` holds."""
    device = next(models.denoiser.parameters()).device
    if config.bf16 and device.type != "cuda" and not config.decoders:
        raise ConfigError(f"bf16 decoding needs CUDA; the models are on {device}")
    with contextlib.ExitStack() as stack:
        decoders = None
        if config.decoders:  # first, so that a service that is not there fails the run at once
            decoders = stack.enter_context(RemoteDecoders(config.decoders, models.name, config.bf16, config.size,
                                                          config.decoder_timeout))
        return _evaluate(config, models, prior, decoders)


def _evaluate(config: EvalConfig, models: ModelSet, prior: IndexPrior | None,
              decoders: RemoteDecoders | None) -> EvalResult:
    device = next(models.denoiser.parameters()).device
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
    ctx = TrialContext(models, prior, metrics, config.seed, config.size, config.decoder, config.bf16)
    tasks = None
    if any(experiment.downstream for experiment in config.experiments):
        from lamigo.evaluation.task_report import run_tasks
        from lamigo.evaluation.tasks import build_tasks

        tasks = build_tasks(config.tasks)  # before any decoding: a missing package or folder fails at once
    summaries, counts, sections = {}, {}, {}
    for experiment in config.experiments:
        rows, run_now = _run_experiment(config, ctx, experiment, items, decoders)
        counts[experiment.name] = (run_now, len(rows))
        summaries[experiment.name] = _summarise(config, experiment, rows, fid_scorer)
        write_plots(config.out, experiment, summaries[experiment.name], items)
        if experiment.downstream:
            sections[experiment.name] = run_tasks(config.out, experiment, summaries[experiment.name], items, *tasks)
    report = write_report(config, models.name, str(device), items, summaries, fid_scorer, sections)
    return EvalResult(report, counts)
