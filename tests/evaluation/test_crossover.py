"""Where LaMI-GO overtakes a baseline (lamigo.evaluation.crossover)."""

import pytest

from lamigo.evaluation.crossover import crossovers


def _rows(lami: dict, jpeg: dict, metric: str = "psnr") -> list[dict]:
    rows = [{"codec": "lami-go", "setup": 1, "rate": rate, "tau": 4, "steps": 8, metric: value}
            for rate, value in lami.items()]
    rows.append({"codec": "lami-go", "setup": 1, "rate": 0.1, "tau": 28, "steps": 32, metric: 0.0})  # other tau/T
    return rows + [{"codec": "jpeg", "setup": 1, "rate": rate, "tau": None, "steps": None, metric: value}
                   for rate, value in jpeg.items()]


def test_crossover_is_interpolated_on_a_log_rate_scale():
    found = crossovers(_rows({0.01: 20.0, 0.1: 19.0, 1.0: 18.0}, {0.01: 26.0, 0.1: 17.0, 1.0: 10.0}), (4, 8))
    (psnr,) = [c for c in found if c.metric == "psnr"]
    # Advantage -6 at 0.01, +2 at 0.1: three quarters of the way in log rate.
    assert psnr.rate == pytest.approx(10 ** (-2 + 0.75))
    assert psnr.baseline == "jpeg" and psnr.setup == 1 and "between 0.01 and 0.1" in psnr.verdict


def test_lower_is_better_metrics_and_the_two_extremes():
    (always,) = crossovers(_rows({0.01: 0.2, 0.1: 0.3}, {0.01: 0.4, 0.1: 0.5}, "st_lpips"), (4, 8))
    assert always.rate is None and "every rate" in always.verdict
    (never,) = crossovers(_rows({0.01: 0.5, 0.1: 0.2}, {0.01: 0.4, 0.1: 0.1}, "st_lpips"), (4, 8))
    assert never.rate is None and "jpeg better" in never.verdict
    # LaMI-GO ahead, then behind, then ahead again: the crossover is the last one.
    (late,) = crossovers(_rows({0.01: 20, 0.1: 10, 1.0: 9}, {0.01: 10, 0.1: 12, 1.0: 8}), (4, 8))
    assert 0.1 < late.rate < 1.0
