"""The highest codec setting whose cost fits a budget, where cost is not monotonic in the setting.

libjpeg can make quality 1 larger than quality 2, and OpenJPEG's rate control misses its target
by a few bytes either way, so a plain bisection can stop below the best fitting setting or find
none at all. `highest_fitting` bisects for the boundary and then tries every setting within
`window` above it (the first `window` when bisection found none that fits): exact for any
non-monotonicity no wider than the window, at a fraction of an exhaustive search's encodes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

S = TypeVar("S")
R = TypeVar("R")

# bench/bench_classical.py, the six bundled photos at 256x256: a window of 8 picks what the
# exhaustive search picks in all 138 JPEG and 138 JPEG-with-restarts searches (budgets 1,000 to
# 12,000 bytes in steps of 500) with 12.5 encodes instead of 100, and what a window of 32 picks in
# all 30 JPEG 2000 searches (budgets 1,000 to 12,000 in steps of 2,750) with 19 encodes instead of 42.
DEFAULT_WINDOW = 8


def highest_fitting(settings: Sequence[S], trial: Callable[[S], R], cost: Callable[[R], int], budget: int,
                    window: int | None = DEFAULT_WINDOW) -> tuple[S, R] | None:
    """The last of `settings` (ordered by increasing quality) whose `cost(trial(setting))` is at
    most `budget`, with its trial result; None when none that the search tries fits.

    `window=None` tries every setting (exhaustive, exact for any order of costs)."""
    results: dict[int, R] = {}

    def fits(index: int) -> bool:
        if index not in results:
            results[index] = trial(settings[index])
        return cost(results[index]) <= budget

    if window is None:
        candidates = range(len(settings))
    else:
        low, high, boundary = 0, len(settings) - 1, -1
        while low <= high:
            middle = (low + high) // 2
            if fits(middle):
                boundary, low = middle, middle + 1
            else:
                high = middle - 1
        # From the boundary (or the first setting) on: the next `window` settings may fit too.
        candidates = range(max(boundary, 0), min(len(settings), boundary + 1 + window))
    best = max((index for index in candidates if fits(index)), default=None)
    return None if best is None else (settings[best], results[best])
