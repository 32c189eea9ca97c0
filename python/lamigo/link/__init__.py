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
from lamigo.link.auth import AUTH_TAG_BYTES, LinkKey, write_link_key
from lamigo.link.interleave import INTERLEAVERS, seeded_permutation, token_groups
from lamigo.link.packet import HEADER_SIZE, OVERHEAD, Packet, PacketKind, check_message_id
from lamigo.link.packetizer import DEFAULT_PAYLOAD, LinkConfig, packetize
from lamigo.link.collector import ReassemblerStats
from lamigo.link.reassembler import Reassembler, assemble
from lamigo.link.replay import PacketSealer, ReplayWindow

__all__ = [
    "AUTH_TAG_BYTES",
    "DEFAULT_PAYLOAD",
    "HEADER_SIZE",
    "INTERLEAVERS",
    "NOISE_SETUPS",
    "OVERHEAD",
    "BitFlipChannel",
    "Channel",
    "ChannelStats",
    "LinkConfig",
    "LinkKey",
    "NoiseSetup",
    "Packet",
    "PacketErasureChannel",
    "PacketKind",
    "PacketSealer",
    "Reassembler",
    "ReassemblerStats",
    "ReplayWindow",
    "assemble",
    "check_message_id",
    "noise_setup",
    "packetize",
    "seeded_permutation",
    "token_groups",
    "write_link_key",
]
