"""Link-layer packet format (version 2).

A packet is a 19-byte header, a payload, an optional authentication tag and a CRC-32 trailer,
all big-endian::

    version u8 | kind u8 | flags u8 | message_id u16 | message tag u32 | seq u16 | count u16
    | group u16 | payload_length u16 | header CRC-16 u16 || payload || [auth tag] || CRC-32

The message tag (a CRC-32 of the message's coded content, also inside its control block) ties
a packet to one message beyond the 16-bit id: two messages that share an id never mix.

The header has its own CRC-16 (CRC-CCITT), checked on every packet: a packet whose header is
damaged cannot be placed in its message, so it is dropped and becomes an erasure. The CRC-32
trailer covers the whole packet; whether a mismatch drops the packet is the sender's choice, set
in the ``PAYLOAD_CRC`` flag (which the header CRC protects), like UDP-Lite's checksum coverage:

* flag set (erasure setups, the default): a damaged payload makes the packet an erasure, never a
  guess;
* flag clear (the paper's bit-flip setups 2 and 4): the packet is kept with its bit errors, so a
  flipped bit of a fixed-length code changes one token. The parser still reports the mismatch in
  ``Packet.damaged`` so the receiver can count damaged packets.

With a link key (`lamigo.link.auth`) the ``AUTH`` flag is set and a truncated HMAC of header and
payload precedes the CRC-32; a receiver holding the key checks it before reading anything else.
A keyed sender that stamps its packets (`lamigo.link.replay.PacketSealer`) also sets the
``COUNTED`` flag (only ever with ``AUTH``) and writes a replay stamp between payload and tag,
covered by the HMAC, which a receiver's replay window checks (`lamigo.link.replay`)::

    header || payload || sender u16 | counter u64 || auth tag (8) || CRC-32

Packets without a key, and keyed packets without a stamp, are byte for byte as before.

Version 1 (no message tag) is refused with a message that says so.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

import crcmod.predefined

from typing import Any

from lamigo.errors import MessageIdError, PacketError
from lamigo.link.auth import AUTH_TAG_BYTES, LinkKey

PACKET_VERSION = 2
_HEADER = struct.Struct(">BBBHIHHHH")
_HEADER_CRC = struct.Struct(">H")
_TRAILER = struct.Struct(">I")
_STAMP = struct.Struct(">HQ")
STAMP_SIZE = _STAMP.size
HEADER_SIZE = _HEADER.size + _HEADER_CRC.size
TRAILER_SIZE = _TRAILER.size
OVERHEAD = HEADER_SIZE + TRAILER_SIZE
MAX_PAYLOAD = 0xFFFF
MAX_PACKETS = 0xFFFF
MAX_MESSAGE_ID = 0xFFFF

crc16 = crcmod.predefined.mkCrcFun("crc-ccitt-false")
crc32 = crcmod.predefined.mkCrcFun("crc-32")


class PacketKind(enum.IntEnum):
    """What a packet carries."""

    CONTROL = 0  #: a Reed-Solomon protected chunk of the control block (geometry, policy, mask)
    TEXT = 1  #: an independently coded group of caption words
    INDICES = 2  #: an independently coded group of codebook indices
    CLASSICAL_HEADER = 3  #: a chunk of a classical file's header block, protected as CONTROL is
    CLASSICAL_DATA = 4  #: a run of a classical file's bytes after its header (`lamigo.link.classical`)


class PacketFlags(enum.IntFlag):
    PAYLOAD_CRC = 1  #: the receiver drops the packet when the CRC-32 trailer does not match
    AUTH = 2  #: an authentication tag precedes the CRC-32 (`lamigo.link.auth`)
    COUNTED = 4  #: a replay stamp (sender, counter) precedes the authentication tag (`lamigo.link.replay`)


_KNOWN_FLAGS = int(PacketFlags.PAYLOAD_CRC | PacketFlags.AUTH | PacketFlags.COUNTED)
# Plain ints for the parser, which meets every packet (IntFlag arithmetic cost more than the CRCs).
_PAYLOAD_CRC, _AUTH, _COUNTED = int(PacketFlags.PAYLOAD_CRC), int(PacketFlags.AUTH), int(PacketFlags.COUNTED)
_KINDS = {int(kind): kind for kind in PacketKind}


def check_message_id(value: Any) -> int:
    """`value` as a message id (what a packet header carries: 0..65535); MessageIdError, the
    one error for a bad id wherever it comes from (options, PDU metadata, the wire)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_MESSAGE_ID:
        raise MessageIdError(f"message id {value!r} is not an integer in 0..{MAX_MESSAGE_ID}")
    return int(value)


@dataclass(frozen=True)
class Packet:
    """One link-layer packet of message `message_id` (with tag `tag`): number `seq` of `count`,
    carrying group `group` of its `kind` (the control chunk, caption chunk or token group)."""

    message_id: int
    tag: int
    seq: int
    count: int
    kind: PacketKind
    group: int
    payload: bytes
    payload_crc: bool = True
    #: set by the parser when the CRC-32 did not match but the sender had cleared PAYLOAD_CRC
    damaged: bool = False
    #: the authenticated replay stamp (sender, counter) of a stamped keyed packet, set by the parser
    stamp: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        check_message_id(self.message_id)
        if not 0 <= self.tag < 1 << 32:
            raise PacketError(f"packet tag {self.tag} does not fit 32 bits")
        for name in ("seq", "count", "group"):
            value = getattr(self, name)
            if not 0 <= value <= 0xFFFF:
                raise PacketError(f"packet {name} {value} does not fit 16 bits")
        if self.count < 1 or self.seq >= self.count:
            raise PacketError(f"packet number {self.seq} outside a message of {self.count} packets")
        if len(self.payload) > MAX_PAYLOAD:
            raise PacketError(f"payload of {len(self.payload)} bytes exceeds {MAX_PAYLOAD}")

    def to_bytes(self, key: LinkKey | None = None, stamp: tuple[int, int] | None = None) -> bytes:
        """The packet as sent on the air (authenticated with `key` when given, carrying the
        replay `stamp` (sender u16, counter u64) when given; a stamp needs a key)."""
        if stamp is not None and key is None:
            raise PacketError("a replay stamp is only sent on authenticated packets")
        flags = (_PAYLOAD_CRC if self.payload_crc else 0) | (_AUTH if key else 0) | (_COUNTED if stamp is not None else 0)
        header = _HEADER.pack(
            PACKET_VERSION, self.kind, flags, self.message_id, self.tag, self.seq, self.count,
            self.group, len(self.payload),
        )
        body = header + _HEADER_CRC.pack(crc16(header)) + self.payload
        if stamp is not None:
            try:
                body += _STAMP.pack(*stamp)
            except struct.error:
                raise PacketError(f"replay stamp {stamp} does not fit (sender u16, counter u64)") from None
        if key is not None:
            body += key.tag(body)
        return body + _TRAILER.pack(crc32(body))

    @classmethod
    def from_bytes(cls, data: bytes, key: LinkKey | None = None) -> "Packet":
        """Parse a received packet. Raises PacketError (and nothing else) when it is truncated,
        of another version, inconsistent, fails a CRC that applies to it, or (with `key`) is not
        authenticated by that key."""
        data = bytes(data)
        if data and data[0] != PACKET_VERSION:
            raise PacketError(f"packet version {data[0]} is not supported (expected {PACKET_VERSION}; "
                              "version 1 is the format before message tags: update the sender)")
        if len(data) < OVERHEAD:
            raise PacketError(f"packet of {len(data)} bytes is shorter than the {OVERHEAD}-byte minimum")
        if key is not None:  # before anything else: an unauthenticated packet is read no further
            end = len(data) - TRAILER_SIZE
            if end - AUTH_TAG_BYTES < HEADER_SIZE or not key.verify(data[: end - AUTH_TAG_BYTES],
                                                                    data[end - AUTH_TAG_BYTES : end]):
                raise PacketError("packet fails authentication with the link key")
        header = data[: _HEADER.size]
        (stored_header_crc,) = _HEADER_CRC.unpack_from(data, _HEADER.size)
        if crc16(header) != stored_header_crc:
            raise PacketError("packet header fails its CRC-16")
        _, kind, flags, message_id, tag, seq, count, group, length = _HEADER.unpack(header)
        if kind not in _KINDS:
            raise PacketError(f"unknown packet kind {kind}")
        if flags & ~_KNOWN_FLAGS:
            raise PacketError(f"unknown packet flags 0x{flags:02x}")
        auth = AUTH_TAG_BYTES if flags & _AUTH else 0
        if key is not None and not auth:
            raise PacketError("packet is not authenticated")
        counted = STAMP_SIZE if flags & _COUNTED else 0
        if counted and not auth:
            raise PacketError("packet carries a replay stamp without authentication")
        if len(data) != OVERHEAD + length + auth + counted:
            raise PacketError(
                f"packet announces a {length}-byte payload but carries {len(data) - OVERHEAD - auth - counted}"
            )
        (stored_crc,) = _TRAILER.unpack_from(data, len(data) - TRAILER_SIZE)
        payload_crc = bool(flags & _PAYLOAD_CRC)
        damaged = crc32(data[:-TRAILER_SIZE]) != stored_crc
        if damaged and payload_crc:
            raise PacketError("packet fails its CRC-32")
        if count < 1 or seq >= count:
            raise PacketError(f"packet number {seq} outside a message of {count} packets")
        return cls(
            message_id=message_id, tag=tag, seq=seq, count=count, kind=_KINDS[kind], group=group,
            payload=data[HEADER_SIZE : HEADER_SIZE + length], payload_crc=payload_crc,
            damaged=damaged, stamp=_STAMP.unpack_from(data, HEADER_SIZE + length) if counted else None,
        )
