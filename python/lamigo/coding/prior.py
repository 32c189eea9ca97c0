"""The pre-shared index statistics: how often each codeword occurs. Transmitter and receiver
hold the same table (it ships beside the model weights); the Huffman and range coders derive
their codes from it, and every message carries a 16-bit fingerprint of it so a receiver with a
different table refuses the message instead of decoding garbage."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lamigo.errors import ConfigError, WeightsError

PRIOR_TENSOR = "index_counts"


@dataclass(frozen=True, eq=False)
class IndexPrior:
    """Occurrence counts of each of the K codewords; every count is at least 1."""

    counts: np.ndarray
    digest: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        counts = np.ascontiguousarray(self.counts, dtype=np.int64)
        if counts.ndim != 1 or counts.size < 2:
            raise ConfigError(f"index prior needs a 1-D table of at least 2 counts, got {counts.shape}")
        if (counts < 1).any():
            raise ConfigError("index prior counts must all be >= 1 (smooth with from_indices)")
        counts.setflags(write=False)
        object.__setattr__(self, "counts", counts)
        object.__setattr__(self, "digest", hashlib.sha256(counts.astype("<i8").tobytes()).digest())

    @property
    def codebook_size(self) -> int:
        return int(self.counts.size)

    @property
    def fingerprint(self) -> int:
        """16 bits of the table's hash, carried in every message that depends on it."""
        return int.from_bytes(self.digest[:2], "big")

    @property
    def probabilities(self) -> np.ndarray:
        return self.counts / self.counts.sum()

    @classmethod
    def uniform(cls, codebook_size: int) -> "IndexPrior":
        return cls(np.ones(codebook_size, dtype=np.int64))

    @classmethod
    def from_counts(cls, counts: np.ndarray) -> "IndexPrior":
        """Observed counts plus one (Laplace smoothing keeps every codeword codable)."""
        return cls(np.asarray(counts, dtype=np.int64) + 1)

    @classmethod
    def from_indices(cls, indices: np.ndarray, codebook_size: int) -> "IndexPrior":
        """The prior of observed indices; negative entries (masked positions) are skipped."""
        flat = np.asarray(indices).ravel()
        return cls.from_counts(np.bincount(flat[flat >= 0], minlength=codebook_size)[:codebook_size])

    def save(self, path: str | Path) -> None:
        from safetensors.numpy import save_file

        save_file({PRIOR_TENSOR: np.array(self.counts)}, str(path))

    @classmethod
    def load(cls, path: str | Path) -> "IndexPrior":
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        path = Path(path)
        if not path.is_file():
            raise WeightsError(f"index prior not found: expected {path}")
        try:
            tensors = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as err:
            raise WeightsError(f"{path} is not a readable safetensors file: {err}") from err
        if PRIOR_TENSOR not in tensors:
            raise WeightsError(f"{path} has no tensor named {PRIOR_TENSOR!r}")
        return cls(tensors[PRIOR_TENSOR])
