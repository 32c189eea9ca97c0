"""Replay protection on a keyed link: an authenticated counter in each packet, a window per sender.

A link key (`lamigo.link.auth`) stops forgery, not replay: anyone can record genuine packets and
send them again, and without more a replayed control block comes out as a new, fully lost
message, or a burst of replays evicts a live one. So a keyed sender stamps every packet
(`PacketSealer`) with its sender id (u16) and a counter (u64) that only grows, covered by the
packet's HMAC (byte layout in `lamigo.link.packet`). The counter's top 32 bits are the sender's
start time (Unix seconds, its epoch), the low 32 the packets it sent since, so a restarted sender
goes on above everything it sent before.

A receiver keeps one sliding window of `WINDOW` counters per sender id (`ReplayWindow`, as IPsec
and DTLS do): a counter above the window's top moves it up; one inside it is accepted once; one
below it, or seen before, is a replay, dropped and counted by the collector. Packets arriving
out of order by fewer than `WINDOW` packets are accepted. Keyed packets without a stamp (a
sender before stamps existed) are accepted unless the window requires stamps.

What it cannot do: a receiver that restarts has no windows, so it takes one replay of each
packet it has not seen; senders sharing a key need distinct sender ids (a random one by
default). Simulations (`lamigo.link.simulation`, `lamigo.link.classical.simulate_file`) send
keyed packets without stamps: nothing replays there.
"""

from __future__ import annotations

import secrets
import time

from lamigo.errors import ConfigError
from lamigo.link.auth import LinkKey
from lamigo.link.packet import Packet

__all__ = ["WINDOW", "PacketSealer", "ReplayWindow"]

WINDOW = 1024  #: counters below a sender's highest that are still accepted (once each)
_EPOCH_SHIFT = 32


class PacketSealer:
    """A keyed sender: each packet to bytes, authenticated and stamped with the next counter.

    Args:
        key: the link key.
        sender: this sender's id (0..65535); random when None.
        epoch: the counter's top 32 bits; the current Unix time in seconds when None.
    """

    def __init__(self, key: LinkKey, sender: int | None = None, epoch: int | None = None) -> None:
        sender = secrets.randbelow(1 << 16) if sender is None else sender
        epoch = int(time.time()) if epoch is None else epoch
        if not 0 <= sender < 1 << 16 or not 0 <= epoch < 1 << 32:
            raise ConfigError(f"sender id {sender} must fit 16 bits and epoch {epoch} 32 bits")
        self.key = key
        self.sender = sender
        self._next = epoch << _EPOCH_SHIFT

    def seal(self, packet: Packet) -> bytes:
        """`packet` as sent on the air, with the next counter."""
        counter, self._next = self._next, self._next + 1
        return packet.to_bytes(self.key, (self.sender, counter))


class ReplayWindow:
    """Which stamped packets a receiver has seen, one window per sender.

    Args:
        require_stamp: refuse keyed packets without a replay stamp too.
    """

    def __init__(self, require_stamp: bool = False) -> None:
        self.require_stamp = require_stamp
        self._senders: dict[int, list[int]] = {}  # sender -> [highest counter, bitmap of the WINDOW below it]

    def accept(self, packet: Packet) -> bool:
        """Whether `packet` is new (and then it is seen); False for a replay."""
        if packet.stamp is None:
            return not self.require_stamp
        sender, counter = packet.stamp
        window = self._senders.get(sender)
        if window is None:
            self._senders[sender] = [counter, 1]
            return True
        highest, seen = window
        if counter > highest:
            shift = counter - highest
            window[0], window[1] = counter, ((seen << shift) | 1) & ((1 << WINDOW) - 1) if shift < WINDOW else 1
            return True
        behind = highest - counter
        if behind >= WINDOW or seen >> behind & 1:
            return False
        window[1] = seen | 1 << behind
        return True

