"""A GO message as a receiver holds it: what arrived, which tokens were lost, what the link did.

One type from the antenna to the decoder: the link's reassembler makes it, the service wire
format carries it (`lamigo.service.wire`), and the LaMI decoder regenerates every token that
its policy masked or the link lost."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from lamigo.errors import ConfigError, MessageError
from lamigo.message.format import GOMessage

__all__ = ["LinkStats", "ReceivedMessage"]

_MAX_COUNT = 1 << 32  # any count a link reports fits 32 bits; more is a forged header


@dataclass(frozen=True)
class LinkStats:
    """What happened to one message on the link."""

    packets_expected: int
    packets_received: int
    packets_damaged: int  #: received with bit errors (only when the sender disabled the CRC)
    index_groups_lost: int
    caption_chunks_lost: int
    tokens_sent: int  #: tokens the transmitter sent (not masked by its policy)
    tokens_masked_by_policy: int  #: tokens masked by the policy
    tokens_lost: int  #: sent tokens lost with their packets

    @property
    def packets_lost(self) -> int:
        return self.packets_expected - self.packets_received

    def as_dict(self) -> dict[str, int]:
        """The counts, `packets_lost` included (as the blocks' metadata and the wire carry them)."""
        return {**asdict(self), "packets_lost": self.packets_lost}

    @classmethod
    def from_dict(cls, values: Any) -> LinkStats:
        """Read the counts back from the wire: MessageError unless each is an integer in range."""
        if not isinstance(values, dict):
            raise MessageError(f"link statistics must be an object, got {type(values).__name__}")
        counts = {}
        for item in fields(cls):
            value = values.get(item.name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < _MAX_COUNT:
                raise MessageError(f"link statistic {item.name}={value!r} is not a count")
            counts[item.name] = value
        stats = cls(**counts)
        if stats.packets_received > stats.packets_expected:
            raise MessageError(f"link statistics: {stats.packets_received} of {stats.packets_expected} "
                               "packets received")
        return stats


@dataclass(eq=False)
class ReceivedMessage:
    """A GO message as received.

    `message` holds every token that arrived; where `lost` is True (a sent token lost on the
    link) it holds the placeholder 0. `link` is None for a message that did not cross a link
    (sent whole). `info` carries the sender's own plain fields (a source name, say)."""

    message_id: int
    message: GOMessage
    lost: np.ndarray
    link: LinkStats | None = None
    info: dict[str, str | int | float | bool] = field(default_factory=dict)

    def __post_init__(self) -> None:
        shape = self.message.geometry.latent_shape
        self.lost = np.asarray(self.lost, dtype=bool)
        if self.lost.shape != shape:
            raise ConfigError(f"lost-token map {self.lost.shape} must have the latent shape {shape}")
        # A position the policy masked was never sent, so it cannot be lost.
        self.lost = self.lost & ~self.message.mask
        if self.link is not None and self.link.tokens_lost != int(self.lost.sum()):
            raise MessageError(f"message {self.message_id}: link statistics say {self.link.tokens_lost} "
                               f"tokens lost, the lost-token map holds {int(self.lost.sum())}")

    @classmethod
    def whole(cls, message: GOMessage, message_id: int = 0, **info: str | int | float | bool) -> ReceivedMessage:
        """A message that arrived complete (or never crossed a link)."""
        return cls(message_id, message, np.zeros(message.geometry.latent_shape, dtype=bool), None, info)

    @property
    def regenerate(self) -> np.ndarray:
        """Positions the decoder must regenerate: masked by the policy or lost."""
        return self.message.mask | self.lost
