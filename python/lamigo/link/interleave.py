"""Token-to-packet assignment.

The sent tokens (the unmasked positions in raster order) are split into groups, one group per
index packet. Without interleaving a group is a contiguous run of tokens, so a lost packet erases
a band of the image. The interleavers scatter each group over the whole image instead, so a lost
packet leaves isolated holes whose neighbours arrived, which the LaMI decoder fills far better:

* ``"block"``: the classic block interleaver (write row by row, read column by column): group g
  takes tokens g, g + G, g + 2G, ...
* ``"random"``: a seeded pseudo-random permutation. It is computed with integer hashing rather
  than numpy's random generators, whose streams may change between numpy versions, so the
  transmitter and a receiver on another machine always agree.
"""

from __future__ import annotations

import numpy as np

from lamigo.errors import ConfigError

INTERLEAVERS = ("none", "block", "random")


def _splitmix64(values: np.ndarray) -> np.ndarray:
    """SplitMix64 finalizer: a bijective, well-mixed hash of uint64 values (wrapping arithmetic)."""
    z = values + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def seeded_permutation(count: int, seed: int) -> np.ndarray:
    """A permutation of range(count) that depends only on `count` and `seed`."""
    keys = np.arange(count, dtype=np.uint64) ^ _splitmix64(np.array([seed], dtype=np.uint64))
    return np.argsort(_splitmix64(keys), kind="stable")


def token_groups(count: int, n_groups: int, interleaver: str, seed: int = 0) -> list[np.ndarray]:
    """Split tokens 0..count-1 into `n_groups` groups of near-equal size (sizes differ by at most
    one); each group lists its token numbers in ascending order."""
    if interleaver not in INTERLEAVERS:
        raise ConfigError(f"unknown interleaver {interleaver!r}; choose one of {list(INTERLEAVERS)}")
    if count == 0:
        if n_groups:
            raise ConfigError(f"no tokens to spread over {n_groups} groups")
        return []
    if not 1 <= n_groups <= count:
        raise ConfigError(f"cannot split {count} tokens into {n_groups} groups")
    if interleaver == "block":
        return [np.arange(group, count, n_groups) for group in range(n_groups)]
    order = np.arange(count) if interleaver == "none" else seeded_permutation(count, seed)
    return [np.sort(part) for part in np.array_split(order, n_groups)]
