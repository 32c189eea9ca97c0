"""The classical baselines LaMI-GO is compared with, by name: `jpeg` (what most people send),
`jpeg-rst` (JPEG with a restart marker every MCU row) and `jpeg2000`. Each encodes at a setting,
says which leading bytes a link must protect, and receives a file with lost bytes without
raising. `encode_at_budget` gives each its best: the highest setting whose bytes on air fit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from lamigo.classical import jpeg, jpeg2000
from lamigo.classical.received import Received
from lamigo.classical.search import DEFAULT_WINDOW, highest_fitting
from lamigo.registry import WireRegistry

# Wire ids name the codec of a classical file where a link carries one beside GO messages.
BASELINES: WireRegistry = WireRegistry("classical codec", 255)


class Baseline:
    """A classical codec with a scalar setting, higher meaning better quality and more bytes."""

    name: ClassVar[str]
    wire_id: ClassVar[int]
    setting_name: ClassVar[str]

    def settings(self, budget: int) -> Sequence[int]:
        """The settings worth trying for a file of at most `budget` bytes, increasing quality."""
        raise NotImplementedError

    def encode(self, image: np.ndarray, setting: int) -> bytes:
        raise NotImplementedError

    def header_length(self, data: bytes) -> int | None:
        """How many leading bytes the decoder cannot lose; None for a malformed file."""
        raise NotImplementedError

    def receive(self, data: bytes, lost: np.ndarray, shape: tuple[int, int]) -> Received:
        """The best-effort image of `data` of which the bytes under the boolean mask `lost` never
        arrived (their values are unknown); never raises."""
        raise NotImplementedError

    def decode(self, data: bytes, shape: tuple[int, int]) -> np.ndarray:
        """The image of `data` received whole (a perfect link)."""
        return self.receive(data, np.zeros(len(data), bool), shape).image


@BASELINES.register
class Jpeg(Baseline):
    name, wire_id, setting_name = "jpeg", 1, "quality"
    restart_rows = False

    def settings(self, budget: int) -> Sequence[int]:
        return range(1, 101)

    def encode(self, image: np.ndarray, setting: int) -> bytes:
        return jpeg.encode(image, setting, self.restart_rows)

    def header_length(self, data: bytes) -> int | None:
        return jpeg.header_length(data)

    def receive(self, data: bytes, lost: np.ndarray, shape: tuple[int, int]) -> Received:
        return jpeg.receive(data, lost, shape)


@BASELINES.register
class JpegRestart(Jpeg):
    name, wire_id = "jpeg-rst", 2
    restart_rows = True


@BASELINES.register
class Jpeg2000(Baseline):
    name, wire_id, setting_name = "jpeg2000", 3, "target bytes"

    def settings(self, budget: int) -> Sequence[int]:
        # Targets above the budget too: OpenJPEG undershoots, and the dropped COM segment frees bytes.
        return range(1, 2 * max(1, budget) + 1)

    def encode(self, image: np.ndarray, setting: int) -> bytes:
        return jpeg2000.encode(image, setting)

    def header_length(self, data: bytes) -> int | None:
        return jpeg2000.header_length(data)

    def receive(self, data: bytes, lost: np.ndarray, shape: tuple[int, int]) -> Received:
        return jpeg2000.receive(data, lost, shape)


def get_baseline(name: str) -> Baseline:
    """The baseline called `name`; ConfigError listing the choices for an unknown one."""
    return BASELINES.lookup(name)()


@dataclass(frozen=True)
class Encoded:
    """A baseline's file at a budget: `header_bytes` leading bytes must be protected."""

    codec: str
    setting: int
    data: bytes
    header_bytes: int
    bytes_on_air: int


def encode_at_budget(codec: str, image: np.ndarray, budget: int, bytes_on_air: Callable[[bytes], int] = len,
                     window: int | None = DEFAULT_WINDOW) -> Encoded | None:
    """The file of `codec` at its highest setting whose `bytes_on_air(file)` is at most `budget`
    (the link's headers and protection included when the caller's function counts them; the
    file's own length by default); None when not even the lowest setting fits."""
    baseline = get_baseline(codec)
    found = highest_fitting(baseline.settings(budget), lambda setting: baseline.encode(image, setting),
                            bytes_on_air, budget, window)
    if found is None:
        return None
    setting, data = found
    return Encoded(codec, setting, data, baseline.header_length(data), bytes_on_air(data))
