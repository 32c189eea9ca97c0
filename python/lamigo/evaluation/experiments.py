"""The paper's experiments as named sweeps. Each experiment is a list of conditions (one point
of the sweep, a `Condition`) run on every evaluation image; see `lamigo.evaluation.harness` for
how a condition is run."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from lamigo.classical import BASELINES
from lamigo.errors import ConfigError
from lamigo.evaluation.store import cell_text
from lamigo.lami.sampler import PAPER_STEP_SETTINGS
from lamigo.lami.settings import RENOISE_SCOPES
from lamigo.masking import DEFAULT_ORDER, MaskingPolicy, policy_from_options
from lamigo.message import CODEC_NAME

__all__ = ["Condition", "Experiment", "EXPERIMENTS", "CONDITION_FIELDS", "cell_text", "condition_key",
           "condition_slug", "parse_step_settings", "select_experiments"]

PDM_RATIO = 0.25  # the 2x2 pattern of eq. 15


@dataclass(frozen=True)
class Condition:
    """One point of a sweep. The fields are the condition columns of the CSVs; those a condition
    leaves None stay empty there. Two experiments with an equal condition share its trials."""

    policy: str | None = None
    ratio: float | None = None
    order: str | None = None
    codec: str = CODEC_NAME  # or a classical baseline (`lamigo.classical.BASELINES`) at the LaMI-GO message's bytes
    sampling: str | None = None  # "lami", or "plain" Paella sampling from noise
    setup: int | None = None  # noise setup (`lamigo.link.NOISE_SETUPS`); None: no link
    rate: float | None = None  # its PER or BER
    tau: int | None = None
    steps: int | None = None
    renoise_scope: str | None = None  # None: the run's decoder settings decide
    cfg_steps: int | None = None

    def __post_init__(self) -> None:
        if self.policy == "pdm" and self.ratio != PDM_RATIO:
            raise ConfigError(f"PDM's pre-shared 2x2 pattern masks a ratio of {PDM_RATIO} only")

    def as_row(self) -> dict[str, object]:
        """The condition columns and their values."""
        return dataclasses.asdict(self)

    @property
    def key(self) -> tuple[str, ...]:
        """The condition as the CSV cells it is written as (what a resumed run matches)."""
        return condition_key(self.as_row())

    def slug(self, keys: Sequence[str]) -> str:
        """The folder name of its received images in an experiment told apart by `keys`."""
        return condition_slug(keys, self.as_row())

    def masking_policy(self, seed: int) -> MaskingPolicy:
        """The transmitter's policy (PRM with `seed`)."""
        return policy_from_options(self.policy, self.ratio, seed, order=self.order or DEFAULT_ORDER)


# Every column a condition may set, in CSV order.
CONDITION_FIELDS = tuple(field.name for field in dataclasses.fields(Condition))


def condition_key(row: Mapping[str, object]) -> tuple[str, ...]:
    """A condition's columns, of a `Condition.as_row()` or a CSV row, as CSV cells."""
    return tuple(cell_text(row.get(name)) for name in CONDITION_FIELDS)


def condition_slug(keys: Sequence[str], row: Mapping[str, object]) -> str:
    """The folder name of a condition's received images, of a `Condition.as_row()` or a CSV row."""
    text = "_".join(f"{key}-{cell_text(row.get(key))}" for key in keys)
    return re.sub(r"[^A-Za-z0-9._-]", "", text) or "default"

QUICK_STEPS = ((4, 8),)
PER_RATES = (0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5)
BER_RATES = (1e-5, 1e-4, 1e-3, 1e-2)


def _lami(policy: str, ratio: float, tau: int, steps: int, **extra) -> Condition:
    # EBM always states its order, so equal conditions of different experiments are one key.
    order = {"order": DEFAULT_ORDER} if policy == "ebm" else {}
    return Condition(**{"policy": policy, "ratio": ratio, "tau": tau, "steps": steps, "sampling": "lami",
                        **order, **extra})


def _steps(quick: bool) -> tuple[tuple[int, int], ...]:
    return QUICK_STEPS if quick else PAPER_STEP_SETTINGS


def _policies(quick: bool) -> list[Condition]:
    tau, steps = PAPER_STEP_SETTINGS[0]
    conditions = [_lami("none", 0.0, tau, steps)]  # VQGAN alone: the upper bound (Table I)
    for policy in ("prm", "pdm", "ebm"):
        conditions += [_lami(policy, 0.25, tau, steps) for tau, steps in _steps(quick)]
    return conditions


def _ratio(quick: bool) -> list[Condition]:
    return [_lami("prm", ratio, tau, steps) for ratio in (0.25, 0.35) for tau, steps in _steps(quick)]


def _ebm_order(quick: bool) -> list[Condition]:
    tau, steps = PAPER_STEP_SETTINGS[0]
    return [_lami("ebm", 0.25, tau, steps, order=order) for order in ("lowest", "highest")]


def _bandwidth(quick: bool) -> list[Condition]:
    tau, steps = QUICK_STEPS[0] if quick else PAPER_STEP_SETTINGS[-1]
    conditions = []
    for ratio in (0.25, 0.35):
        conditions.append(_lami("prm", ratio, tau, steps))
        # The baselines get the bytes of the LaMI-GO message of the same image and ratio.
        conditions += [Condition(codec=codec, ratio=ratio) for codec in BASELINES]
    return conditions


def _per(quick: bool) -> list[Condition]:
    tau, steps = PAPER_STEP_SETTINGS[0]
    per_rates = (0.2,) if quick else PER_RATES
    ber_rates = (1e-2,) if quick else BER_RATES
    conditions = []
    for setup in (1, 2, 3, 4):
        rates = per_rates if setup in (1, 3) else ber_rates
        for rate in rates:
            # Every baseline at the LaMI-GO message's bytes on air, through the same channel realisation.
            conditions.append(_lami("prm", 0.25, tau, steps, setup=setup, rate=rate))
            conditions += [Condition(codec=codec, policy="prm", ratio=0.25, setup=setup, rate=rate)
                           for codec in BASELINES]
    if not quick:  # Table VIII (setup 3, PER 10%) and Fig. 16 (PER 50%) against the steps
        for setup, rate in ((3, 0.1), (1, 0.5)):
            conditions += [_lami("prm", 0.25, tau, steps, setup=setup, rate=rate)
                           for tau, steps in PAPER_STEP_SETTINGS[1:]]
    return conditions


def _tasks(quick: bool) -> list[Condition]:
    """Downstream tasks (Tables V, VI, VIII): the VQGAN's own reconstruction (nothing masked),
    every policy at tau/T 4/8 and 194/200 (quick: 4/8), PRM over setup 3 at PER 10 %, and the
    classical baselines at the same bytes without and with that link."""
    tau, steps = PAPER_STEP_SETTINGS[0]
    settings = QUICK_STEPS if quick else (PAPER_STEP_SETTINGS[0], PAPER_STEP_SETTINGS[-1])
    conditions = [_lami("none", 0.0, tau, steps)]
    for policy in ("prm", "pdm", "ebm"):
        conditions += [_lami(policy, 0.25, tau, steps) for tau, steps in settings]
    conditions += [_lami("prm", 0.25, tau, steps, setup=3, rate=0.1) for tau, steps in settings]
    conditions += [Condition(codec=codec, ratio=0.25) for codec in BASELINES]
    conditions += [Condition(codec=codec, policy="prm", ratio=0.25, setup=3, rate=0.1) for codec in BASELINES]
    return conditions


def _showtime(quick: bool) -> list[Condition]:
    return [_lami("ebm", 0.25, tau, steps) for tau, steps in _steps(quick)]


def _renoising(quick: bool) -> list[Condition]:
    """Both readings of the re-noising (`DecoderSettings.renoise_scope`), each guided at every
    step and only in the first 5/8 of them (Paella's demos guide 20 of 32), beside plain
    sampling, on the same PRM messages: at tau/T 4/8 and 28/32 (quick: 4/8)."""
    conditions = []
    for tau, steps in PAPER_STEP_SETTINGS[:1 if quick else 2]:
        conditions.append(_lami("prm", 0.25, tau, steps, sampling="plain"))
        for cfg_steps in (None, steps * 5 // 8):
            conditions += [_lami("prm", 0.25, tau, steps, renoise_scope=scope, cfg_steps=cfg_steps)
                           for scope in RENOISE_SCOPES]
    return conditions


def _lami_vs_plain(quick: bool) -> list[Condition]:
    tau, steps = PAPER_STEP_SETTINGS[0]
    return [_lami("pdm", 0.25, tau, steps, sampling=sampling) for sampling in ("lami", "plain")]


@dataclass(frozen=True)
class Experiment:
    """One named sweep.

    Attributes:
        name: the name on the command line and of its files.
        title: what it measures.
        paper: the paper's tables and figures it reproduces.
        keys: the condition columns that tell its conditions apart.
        x: the column its plot puts on the x axis; series: the column (or columns) that tell its
            lines apart.
    """

    name: str
    title: str
    paper: str
    keys: tuple[str, ...]
    x: str
    series: str | tuple[str, ...] | None
    sweep_fn: Callable[[bool], list[Condition]]
    downstream: bool = False  # also run the downstream tasks (`lamigo.evaluation.tasks`) on its images

    def conditions(self, quick: bool, steps: Sequence[tuple[int, int]] | None = None) -> list[Condition]:
        """The conditions of the full sweep, or of the small `quick` one; with `steps`, LaMI-GO
        only at those (tau, T) (the baselines are kept: they take no steps)."""
        conditions = self.sweep_fn(quick)
        if steps is None:
            return conditions
        return [condition for condition in conditions
                if condition.steps is None or (condition.tau, condition.steps) in steps]


EXPERIMENTS: dict[str, Experiment] = {
    experiment.name: experiment
    for experiment in (
        Experiment("policies", "Masking policies PRM, PDM and EBM against tau/T", "Table IV (and I, II)",
                   ("policy", "ratio", "tau", "steps"), "steps", "policy", _policies),
        Experiment("ratio", "PRM masking ratio 0.25 against 0.35", "Fig. 8-9",
                   ("ratio", "tau", "steps"), "steps", "ratio", _ratio),
        Experiment("ebm-order", "EBM masking the lowest- or the highest-distance tokens", "Table III",
                   ("order",), "order", None, _ebm_order),
        Experiment("bandwidth", "LaMI-GO against the classical baselines (JPEG, JPEG with restart markers, "
                   "JPEG 2000) at the same bytes per image",
                   "Table VII", ("codec", "ratio", "tau", "steps"), "ratio", "codec", _bandwidth),
        Experiment("per", "Packet erasures (setups 1, 3) and bit flips (setups 2, 4) on the link, LaMI-GO "
                   "against the classical baselines at the same bytes on air",
                   "Fig. 10-12, 16, Tables VIII-IX", ("codec", "setup", "rate", "tau", "steps"), "rate",
                   ("codec", "setup"), _per),
        Experiment("tasks", "Downstream tasks on the received images (detection, depth, edges): LaMI-GO, "
                   "the VQGAN alone and the classical baselines at the same bytes, without and over setup 3 "
                   "at PER 10 %", "Tables V, VI, VIII", ("codec", "policy", "setup", "rate", "tau", "steps"),
                   "steps", ("codec", "policy", "setup"), _tasks, downstream=True),
        Experiment("showtime", "Receiver showtime per image and its stages (EBM)", "Table X",
                   ("tau", "steps"), "steps", None, _showtime),
        Experiment("lami-vs-plain", "LaMI against plain Paella sampling from noise (PDM)", "Fig. 13",
                   ("sampling",), "sampling", None, _lami_vs_plain),
        Experiment("renoising", "Re-noising all tokens (eq. 13 as written) or only the masked ones, "
                   "guidance at every step or the first 5/8, and plain sampling (PRM)",
                   "eq. 12-13, Algorithm 2", ("sampling", "renoise_scope", "cfg_steps", "tau", "steps"),
                   "steps", ("sampling", "renoise_scope", "cfg_steps"), _renoising),
    )
}


def parse_step_settings(text: str) -> tuple[tuple[int, int], ...]:
    """"4/8,28/32" -> ((4, 8), (28, 32)); ConfigError unless each is TAU/T with 0 <= TAU <= T."""
    settings = []
    for item in (part.strip() for part in text.split(",")):
        match = re.fullmatch(r"(\d+)/(\d+)", item)
        if match is None or not 0 <= int(match[1]) <= int(match[2]) or int(match[2]) == 0:
            raise ConfigError(f"steps must be TAU/T pairs such as 4/8,28/32 (0 <= TAU <= T), got {text!r}")
        settings.append((int(match[1]), int(match[2])))
    return tuple(dict.fromkeys(settings))


def select_experiments(names: str | None) -> list[Experiment]:
    """The experiments named in a comma-separated list (all when None), in registry order."""
    if names is None:
        return list(EXPERIMENTS.values())
    wanted = [name.strip() for name in names.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in EXPERIMENTS]
    if unknown or not wanted:
        raise ConfigError(f"unknown experiment(s) {', '.join(unknown) or repr(names)}; choose from "
                          f"{', '.join(EXPERIMENTS)}")
    return [experiment for name, experiment in EXPERIMENTS.items() if name in wanted]
