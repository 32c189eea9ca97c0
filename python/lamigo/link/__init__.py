"""Link layer: GO messages as CRC-protected, interleaved packets, erasure-aware reassembly and
the paper's channel simulations. Pure Python and numpy: no GNU Radio here."""

from lamigo.link.channel import (
    NOISE_SETUPS,
    BitFlipChannel,
    Channel,
    ChannelStats,
    NoiseSetup,
    PacketErasureChannel,
    noise_setup,
)
from lamigo.link.interleave import INTERLEAVERS, seeded_permutation, token_groups
from lamigo.link.packet import HEADER_SIZE, OVERHEAD, Packet, PacketKind
from lamigo.link.packetizer import DEFAULT_PAYLOAD, LinkConfig, packetize
from lamigo.link.reassembler import (
    LinkStats,
    ReassemblerStats,
    Reassembler,
    ReceivedMessage,
    assemble,
)

__all__ = [
    "DEFAULT_PAYLOAD",
    "HEADER_SIZE",
    "INTERLEAVERS",
    "NOISE_SETUPS",
    "OVERHEAD",
    "BitFlipChannel",
    "Channel",
    "ChannelStats",
    "LinkConfig",
    "LinkStats",
    "NoiseSetup",
    "Packet",
    "PacketErasureChannel",
    "PacketKind",
    "Reassembler",
    "ReassemblerStats",
    "ReceivedMessage",
    "assemble",
    "noise_setup",
    "packetize",
    "seeded_permutation",
    "token_groups",
]
