"""Link-layer packet format (version 1).

A packet is a 15-byte header, a payload and a CRC-32 trailer, all big-endian::

    version u8 | kind u8 | flags u8 | message_id u16 | seq u16 | count u16 | group u16
    | payload_length u16 | header CRC-16 u16 || payload || CRC-32 (header + payload)

The header has its own CRC-16 (CRC-CCITT), checked on every packet: a packet whose header is
damaged cannot be placed in its message, so it is dropped and becomes an erasure. The CRC-32
trailer covers the whole packet; whether a mismatch drops the packet is the sender's choice, set
in the ``PAYLOAD_CRC`` flag (which the header CRC protects), like UDP-Lite's checksum coverage:

* flag set (erasure setups, the default): a damaged payload makes the packet an erasure, never a
  guess;
* flag clear (the paper's bit-flip setups 2 and 4): the packet is kept with its bit errors, so a
  flipped bit of a fixed-length code changes one token. The parser still reports the mismatch in
  ``Packet.damaged`` so the receiver can count damaged packets.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

import crcmod.predefined

from lamigo.errors import PacketError

PACKET_VERSION = 1
_HEADER = struct.Struct(">BBBHHHHH")
_HEADER_CRC = struct.Struct(">H")
_TRAILER = struct.Struct(">I")
HEADER_SIZE = _HEADER.size + _HEADER_CRC.size
TRAILER_SIZE = _TRAILER.size
OVERHEAD = HEADER_SIZE + TRAILER_SIZE
MAX_PAYLOAD = 0xFFFF
MAX_PACKETS = 0xFFFF

crc16 = crcmod.predefined.mkCrcFun("crc-ccitt-false")
crc32 = crcmod.predefined.mkCrcFun("crc-32")


class PacketKind(enum.IntEnum):
    """What a packet carries."""

    CONTROL = 0  #: a Reed-Solomon protected chunk of the control block (geometry, policy, mask)
    TEXT = 1  #: an independently coded group of caption words
    INDICES = 2  #: an independently coded group of codebook indices


class PacketFlags(enum.IntFlag):
    PAYLOAD_CRC = 1  #: the receiver drops the packet when the CRC-32 trailer does not match


_KNOWN_FLAGS = int(PacketFlags.PAYLOAD_CRC)
_KINDS = frozenset(int(kind) for kind in PacketKind)


@dataclass(frozen=True)
class Packet:
    """One link-layer packet of message `message_id`: number `seq` of `count`, carrying group
    `group` of its `kind` (the control chunk, caption chunk or token group number)."""

    message_id: int
    seq: int
    count: int
    kind: PacketKind
    group: int
    payload: bytes
    payload_crc: bool = True
    #: set by the parser when the CRC-32 did not match but the sender had cleared PAYLOAD_CRC
    damaged: bool = False

    def __post_init__(self) -> None:
        for name in ("message_id", "seq", "count", "group"):
            value = getattr(self, name)
            if not 0 <= value <= 0xFFFF:
                raise PacketError(f"packet {name} {value} does not fit 16 bits")
        if self.count < 1 or self.seq >= self.count:
            raise PacketError(f"packet number {self.seq} outside a message of {self.count} packets")
        if len(self.payload) > MAX_PAYLOAD:
            raise PacketError(f"payload of {len(self.payload)} bytes exceeds {MAX_PAYLOAD}")

    def to_bytes(self) -> bytes:
        """The packet as sent on the air."""
        flags = PacketFlags.PAYLOAD_CRC if self.payload_crc else 0
        header = _HEADER.pack(
            PACKET_VERSION, self.kind, flags, self.message_id, self.seq, self.count, self.group,
            len(self.payload),
        )
        body = header + _HEADER_CRC.pack(crc16(header)) + self.payload
        return body + _TRAILER.pack(crc32(body))

    @classmethod
    def from_bytes(cls, data: bytes) -> "Packet":
        """Parse a received packet. Raises PacketError (and nothing else) when it is truncated,
        of another version, inconsistent, or fails a CRC that applies to it."""
        data = bytes(data)
        if len(data) < OVERHEAD:
            raise PacketError(f"packet of {len(data)} bytes is shorter than the {OVERHEAD}-byte minimum")
        header = data[: _HEADER.size]
        (stored_header_crc,) = _HEADER_CRC.unpack_from(data, _HEADER.size)
        if crc16(header) != stored_header_crc:
            raise PacketError("packet header fails its CRC-16")
        version, kind, flags, message_id, seq, count, group, length = _HEADER.unpack(header)
        if version != PACKET_VERSION:
            raise PacketError(f"packet version {version} is not supported (expected {PACKET_VERSION})")
        if kind not in _KINDS:
            raise PacketError(f"unknown packet kind {kind}")
        if flags & ~_KNOWN_FLAGS:
            raise PacketError(f"unknown packet flags 0x{flags:02x}")
        if len(data) != OVERHEAD + length:
            raise PacketError(
                f"packet announces a {length}-byte payload but carries {len(data) - OVERHEAD}"
            )
        (stored_crc,) = _TRAILER.unpack_from(data, HEADER_SIZE + length)
        payload_crc = bool(flags & PacketFlags.PAYLOAD_CRC)
        damaged = crc32(data[: HEADER_SIZE + length]) != stored_crc
        if damaged and payload_crc:
            raise PacketError("packet fails its CRC-32")
        return cls(
            message_id=message_id, seq=seq, count=count, kind=PacketKind(kind), group=group,
            payload=data[HEADER_SIZE : HEADER_SIZE + length], payload_crc=payload_crc,
            damaged=damaged,
        )
