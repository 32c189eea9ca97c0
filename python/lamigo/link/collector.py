"""The receive state machine every link receiver shares: packets collected by message.

Packets belong together when message id, tag and packet count agree (`Key`), so two messages
(or files) never mix, and a packet claiming another count cannot poison a message. Each message
in flight holds its packets by sequence number and the vote over the copies of its protected
block (`lamigo.link.protected_block`: a GO control block, a classical header block). A message
completes when all its packets arrived, when none arrived for `timeout` seconds, `max_age`
seconds after its first packet, when it is evicted to make room, or on `flush`.

Bounded whatever arrives:

* at most `max_in_flight` messages holding data packets, and apart from them at most
  `max_in_flight` holding only protected-block packets, of at most `max_bytes` payload bytes
  each. When a message finds no room among its kind, one without a valid protected block (junk)
  is dropped first, else the least recently active of its kind completes early: a flood of
  forged or replayed control copies pushes out only messages like itself, never one holding
  index packets;
* completed messages are remembered (at most `remember`), so their late packets are counted and
  ignored instead of starting a new message; one is forgotten once no packet of it arrived for
  `timeout` seconds, so a transmitter that restarts its ids is heard again;
* with a replay window (`lamigo.link.replay`, keyed links only) a packet whose authenticated
  counter was seen before is dropped and counted.

The GO reassembler (`lamigo.link.reassembler`) and the classical file receiver
(`lamigo.link.classical`) are built on it; what a completed message becomes is theirs.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from lamigo.errors import ConfigError
from lamigo.link.packet import Packet, PacketKind
from lamigo.link.protected_block import ProtectedBlock
from lamigo.link.replay import ReplayWindow

__all__ = ["DEFAULT_MAX_AGE", "DEFAULT_MAX_IN_FLIGHT", "DEFAULT_REMEMBER", "DEFAULT_TIMEOUT", "Gathered", "Key",
           "PacketCollector", "ReassemblerStats"]

logger = logging.getLogger(__name__)

DEFAULT_MAX_AGE = 30.0  # seconds: far longer than any message takes on a 1 Mbit/s link
DEFAULT_TIMEOUT = 2.0  # seconds without a packet before a message completes with what it has
DEFAULT_MAX_IN_FLIGHT = 16  # messages (or classical files) held at once
DEFAULT_REMEMBER = 1024  # completed messages whose late packets are recognised

Key = tuple[int, int, int]  # message id, tag, packet count
Block = TypeVar("Block")


@dataclass
class ReassemblerStats:
    """Counts over a receiver's lifetime."""

    packets_accepted: int = 0
    packets_rejected: int = 0  #: failed to parse (CRC, truncation, version, authentication, ...)
    duplicates: int = 0
    late: int = 0  #: packets of messages already completed
    over_limit: int = 0  #: packets beyond a message's byte limit
    replayed: int = 0  #: authenticated packets whose counter was seen before (keyed links)
    copies_refused: int = 0  #: decodable protected-block copies beyond the bound of their chunk
    messages_completed: int = 0
    messages_failed: int = 0  #: completed without a valid protected block, or refused by the limits
    messages_evicted: int = 0  #: completed early to stay within max_in_flight
    junk_dropped: int = 0  #: held no valid protected block when room was needed


@dataclass
class Gathered(Generic[Block]):
    """What arrived of one message: its packets by sequence number and its block vote."""

    key: Key
    first_arrival: float
    last_arrival: float
    vote: ProtectedBlock[Block]
    packets: dict[int, Packet] = field(default_factory=dict)
    payload_bytes: int = 0
    holds_data: bool = False  #: a packet other than the protected block's arrived

    @property
    def message_id(self) -> int:
        return self.key[0]

    @property
    def count(self) -> int:
        return self.key[2]

    @property
    def block(self) -> Block | None:
        return self.vote.block


class PacketCollector(Generic[Block]):
    """Collects parsed (and authenticated) packets of up to `max_in_flight` messages.

    Args:
        block_kind: the packet kind that carries the protected block.
        parse_block: reads a message's joined block bytes (CRC checked) given its tag; raises
            MessageError when the block is malformed, refused, or of another tag.
        max_bytes: payload bytes held per message; more are counted and dropped.
        timeout: seconds without a new packet after which a message completes.
        max_age: seconds after its first packet by which a message completes in any case
            (default `DEFAULT_MAX_AGE`, or `timeout` if longer).
        max_in_flight: messages held at once of each kind: holding data packets, holding only
            protected-block packets.
        remember: completed messages whose late packets are recognised.
        replay: the replay window of a keyed link (None: no replay check).
        clock: time source in seconds (tests pass a fake one).
    """

    def __init__(
        self,
        block_kind: PacketKind,
        parse_block: Callable[[bytes, int], Block],
        *,
        max_bytes: int,
        timeout: float = DEFAULT_TIMEOUT,
        max_age: float | None = None,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        remember: int = DEFAULT_REMEMBER,
        replay: ReplayWindow | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        max_age = max(DEFAULT_MAX_AGE, timeout) if max_age is None else max_age
        if timeout <= 0 or max_age < timeout or max_in_flight < 1 or remember < 0 or max_bytes < 1:
            raise ConfigError("need timeout > 0, max_age >= timeout, max_in_flight >= 1, remember >= 0 and "
                              "max_bytes >= 1")
        self.block_kind = block_kind
        self.parse_block = parse_block
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.max_age = max_age
        self.max_in_flight = max_in_flight
        self.remember = remember
        self.replay = replay
        self.clock = clock
        self.stats = ReassemblerStats()
        self._in_flight: OrderedDict[Key, Gathered[Block]] = OrderedDict()  # least recently active first
        self.done: OrderedDict[Key, float] = OrderedDict()  #: completed message -> its latest packet

    @property
    def in_flight(self) -> int:
        """Messages currently being collected."""
        return len(self._in_flight)

    def add(self, packet: Packet) -> list[Gathered[Block]]:
        """Take one packet; return the messages it completed (whole, or evicted to make room)."""
        if self.replay is not None and not self.replay.accept(packet):
            self.stats.replayed += 1
            return []
        now = self.clock()
        key = (packet.message_id, packet.tag, packet.count)
        completed: list[Gathered[Block]] = []
        entry = self._in_flight.get(key)
        if entry is None:
            if self._is_late(key, now):
                self.stats.late += 1
                return []
            completed += self._make_room(packet.kind != self.block_kind)
            tag = packet.tag
            entry = self._in_flight[key] = Gathered(key, now, now, ProtectedBlock(lambda data: self.parse_block(data, tag)))
        if packet.seq in entry.packets:
            self.stats.duplicates += 1
            return completed
        if entry.payload_bytes + len(packet.payload) > self.max_bytes:
            self.stats.over_limit += 1
            return completed
        self.stats.packets_accepted += 1
        entry.packets[packet.seq] = packet
        entry.payload_bytes += len(packet.payload)
        entry.last_arrival = now
        self._in_flight.move_to_end(key)
        if packet.kind == self.block_kind:
            refused = entry.vote.copies_refused
            entry.vote.add(packet.group, packet.payload)
            self.stats.copies_refused += entry.vote.copies_refused - refused
        elif not entry.holds_data:
            completed += self._make_room(True)
            entry.holds_data = True
        if len(entry.packets) == packet.count:
            completed.append(self._take(key))
        return completed

    def expire(self) -> list[Gathered[Block]]:
        """The messages that waited `timeout` seconds for their next packet or `max_age`
        seconds since their first, completed."""
        now = self.clock()
        stale = [key for key, entry in self._in_flight.items()
                 if now - entry.last_arrival >= self.timeout or now - entry.first_arrival >= self.max_age]
        return [self._take(key) for key in stale]

    def flush(self) -> list[Gathered[Block]]:
        """Every message in flight, completed now (end of a transmission)."""
        return [self._take(key) for key in list(self._in_flight)]

    def _make_room(self, data: bool) -> list[Gathered[Block]]:
        """Room for one more message holding data packets (`data`) or only protected-block
        packets; the messages completed to make it."""
        mates = [key for key, entry in self._in_flight.items() if entry.holds_data == data]
        if len(mates) < self.max_in_flight:
            return []
        junk = next((key for key in mates if self._in_flight[key].block is None), None)
        if junk is not None:
            del self._in_flight[junk]
            self._remember(junk, self.clock())
            self.stats.junk_dropped += 1
            logger.debug("dropped message %d (tag %08x): no valid protected block", junk[0], junk[1])
            return []
        self.stats.messages_evicted += 1
        return [self._take(mates[0])]

    def _is_late(self, key: Key, now: float) -> bool:
        """Whether a packet belongs to a recently completed message (which it then keeps
        recent)."""
        last = self.done.pop(key, None)
        if last is None or now - last >= self.timeout:
            return False
        self._remember(key, now)
        return True

    def _remember(self, key: Key, now: float) -> None:
        self.done[key] = now
        while len(self.done) > self.remember:
            self.done.popitem(last=False)

    def _take(self, key: Key) -> Gathered[Block]:
        entry = self._in_flight.pop(key)
        self._remember(key, self.clock())
        return entry
