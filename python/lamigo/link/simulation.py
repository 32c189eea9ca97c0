"""One GO message over a simulated link: packetize, pass the packets through a channel,
reassemble. The one link simulation of `lamigo simulate` and `lamigo eval`."""

from __future__ import annotations

from dataclasses import dataclass

from lamigo.coding.prior import IndexPrior
from lamigo.link.auth import LinkKey
from lamigo.link.channel import Channel
from lamigo.link.packetizer import LinkConfig, packetize
from lamigo.link.reassembler import Reassembler
from lamigo.message import GOMessage, ReceivedMessage

__all__ = ["LinkRun", "PacketTally", "simulate_link"]


@dataclass(frozen=True)
class PacketTally:
    """What the link did to one stream of packets (a GO message's or a classical file's).

    Attributes:
        packets: the packets as sent.
        packets_dropped: erased by the channel.
        packets_rejected: refused by the receiver (a failed CRC, a damaged header).
        bits_flipped: by the channel.
    """

    packets: tuple[bytes, ...]
    packets_dropped: int
    packets_rejected: int
    bits_flipped: int

    @property
    def bytes_on_air(self) -> int:
        return sum(len(packet) for packet in self.packets)

    @property
    def packets_lost(self) -> int:
        return self.packets_dropped + self.packets_rejected


@dataclass(frozen=True)
class LinkRun(PacketTally):
    """What became of one message on the link; `received` is the message as reassembled, or
    None when its control block was lost."""

    received: ReceivedMessage | None


def simulate_link(message: GOMessage, channel: Channel, config: LinkConfig, prior: IndexPrior | None = None,
                  message_id: int = 0, key: LinkKey | None = None) -> LinkRun:
    """Send `message` as packets through `channel` (a fresh one: its statistics are this
    message's) and reassemble what arrives; with `key`, every packet is authenticated."""
    packets = tuple(packet.to_bytes(key) for packet in packetize(message, message_id, config, prior))
    reassembler = Reassembler(prior, key=key)
    received = [done for data in channel(packets) for done in reassembler.push(data)]
    received += reassembler.flush()
    return LinkRun(packets=packets, packets_dropped=channel.stats.packets_dropped,
                   packets_rejected=reassembler.stats.packets_rejected,
                   bits_flipped=channel.stats.bits_flipped, received=received[0] if received else None)
