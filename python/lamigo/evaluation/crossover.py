"""Where LaMI-GO overtakes each classical baseline on the link: per noise setup, baseline and
metric, the lowest PER (or BER) from which LaMI-GO's mean is better at every measured rate.

Between the last rate where the baseline is better (or equal) and the first from which LaMI-GO
stays better, the crossover is interpolated linearly in the metric's difference on a log scale
of the rate (the plots' x axis)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from lamigo.evaluation.store import cell_number
from lamigo.message import CODEC_NAME

__all__ = ["HIGHER_IS_BETTER", "Crossover", "crossovers"]

#: the metrics compared, and whether a higher value is better
HIGHER_IS_BETTER = {"psnr": True, "ssim": True, "st_lpips": False, "lpips": False, "fid": False}


@dataclass(frozen=True)
class Crossover:
    """`rate`: the interpolated crossover (None when LaMI-GO is better at every rate or at none
    of the highest ones); `verdict`: the finding in words."""

    setup: int
    baseline: str
    metric: str
    rate: float | None
    verdict: str

    def as_row(self) -> dict[str, object]:
        return {"setup": self.setup, "baseline": self.baseline, "metric": self.metric,
                "crossover_rate": self.rate, "verdict": self.verdict}


def crossovers(summary: Sequence[dict], tau_steps: tuple[int, int]) -> list[Crossover]:
    """The crossovers in the summary rows of the `per` experiment, LaMI-GO at `tau_steps`."""
    lami, baselines = {}, {}
    for row in summary:
        setup, rate = cell_number(row.get("setup")), cell_number(row.get("rate"))
        if setup is None or rate is None:
            continue
        if row.get("codec") == CODEC_NAME:
            if (cell_number(row.get("tau")), cell_number(row.get("steps"))) == tuple(map(float, tau_steps)):
                lami[(int(setup), rate)] = row
        else:
            baselines.setdefault((int(setup), str(row["codec"])), {})[rate] = row
    found = []
    for (setup, baseline), by_rate in sorted(baselines.items()):
        for metric, higher in HIGHER_IS_BETTER.items():
            points = []
            for rate in sorted(by_rate):
                ours = cell_number(lami.get((setup, rate), {}).get(metric))
                theirs = cell_number(by_rate[rate].get(metric))
                if ours is not None and theirs is not None:
                    points.append((rate, (ours - theirs) if higher else (theirs - ours)))
            if points:
                found.append(_crossover(setup, baseline, metric, points))
    return found


def _crossover(setup: int, baseline: str, metric: str, points: list[tuple[float, float]]) -> Crossover:
    """`points`: (rate, LaMI-GO's advantage), increasing rates."""
    first, last = points[0][0], points[-1][0]
    if all(advantage > 0 for _, advantage in points):
        return Crossover(setup, baseline, metric, None, f"LaMI-GO better at every rate ({first:g} to {last:g})")
    if points[-1][1] <= 0:
        return Crossover(setup, baseline, metric, None, f"{baseline} better or equal at the highest rate ({last:g})")
    start = max(index for index, (_, advantage) in enumerate(points) if advantage <= 0) + 1
    (low, before), (high, after) = points[start - 1], points[start]
    fraction = -before / (after - before) if after != before else 0.0
    rate = math.exp(math.log(low) + fraction * (math.log(high) - math.log(low))) if low > 0 else \
        low + fraction * (high - low)
    return Crossover(setup, baseline, metric, rate,
                     f"LaMI-GO better from {rate:.3g} (between {low:g} and {high:g}) up to {last:g}")
