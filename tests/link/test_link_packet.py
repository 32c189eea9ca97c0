import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lamigo.errors import MessageIdError, PacketError
from lamigo.link.auth import AUTH_TAG_BYTES, LinkKey
from lamigo.link.packet import (
    HEADER_SIZE,
    OVERHEAD,
    PACKET_VERSION,
    Packet,
    PacketKind,
    check_message_id,
    crc16,
    crc32,
)

KEY = LinkKey(bytes(range(32)))


def make_packet(**changes) -> Packet:
    fields = dict(message_id=513, tag=0xDEADBEEF, seq=3, count=9, kind=PacketKind.INDICES, group=1,
                  payload=b"tokens")
    return Packet(**{**fields, **changes})


def reseal(header_fields: tuple, payload: bytes) -> bytes:
    """A packet with arbitrary header values but valid CRCs (to reach the checks behind them);
    the fields after version, kind, flags and message id are seq, count, group, length."""
    version, kind, flags, message_id, *rest = header_fields
    header = struct.pack(">BBBHIHHHH", version, kind, flags, message_id, 7, *rest)
    body = header + struct.pack(">H", crc16(header)) + payload
    return body + struct.pack(">I", crc32(body))


@pytest.mark.parametrize("kind", list(PacketKind))
@pytest.mark.parametrize("payload_crc", [True, False])
def test_round_trip(kind, payload_crc):
    packet = make_packet(kind=kind, payload_crc=payload_crc)
    data = packet.to_bytes()
    assert len(data) == OVERHEAD + len(packet.payload)
    assert Packet.from_bytes(data) == packet


def test_empty_payload_round_trips():
    packet = make_packet(payload=b"")
    assert Packet.from_bytes(packet.to_bytes()) == packet


def test_payload_bit_error_drops_packet_when_crc_enforced():
    data = bytearray(make_packet().to_bytes())
    data[HEADER_SIZE] ^= 0x10
    with pytest.raises(PacketError, match="CRC-32"):
        Packet.from_bytes(bytes(data))


def test_payload_bit_error_passes_marked_damaged_without_payload_crc():
    data = bytearray(make_packet(payload_crc=False).to_bytes())
    data[HEADER_SIZE] ^= 0x10
    packet = Packet.from_bytes(bytes(data))
    assert packet.damaged
    assert packet.payload[0] == ord("t") ^ 0x10


def test_header_bit_error_always_drops_packet():
    data = bytearray(make_packet(payload_crc=False).to_bytes())
    data[4] ^= 0x01  # message id
    with pytest.raises(PacketError, match="header"):
        Packet.from_bytes(bytes(data))


@pytest.mark.parametrize(
    ("header_fields", "payload", "message"),
    [
        ((PACKET_VERSION + 1, 2, 1, 1, 0, 1, 0, 2), b"ab", "version"),
        ((PACKET_VERSION, 9, 1, 1, 0, 1, 0, 2), b"ab", "kind"),
        ((PACKET_VERSION, 2, 0x80, 1, 0, 1, 0, 2), b"ab", "flags"),
        ((PACKET_VERSION, 2, 1, 1, 0, 1, 0, 5), b"ab", "payload"),
        ((PACKET_VERSION, 2, 1, 1, 4, 3, 0, 2), b"ab", "outside"),
        ((PACKET_VERSION, 2, 1, 1, 0, 0, 0, 2), b"ab", "outside"),
    ],
)
def test_inconsistent_headers_are_rejected(header_fields, payload, message):
    with pytest.raises(PacketError, match=message):
        Packet.from_bytes(reseal(header_fields, payload))


@pytest.mark.parametrize("cut", [0, 1, HEADER_SIZE - 1, HEADER_SIZE, OVERHEAD, OVERHEAD + 3])
def test_truncated_packets_are_rejected(cut):
    with pytest.raises(PacketError):
        Packet.from_bytes(make_packet().to_bytes()[:cut])


def test_fields_must_fit_the_header():
    with pytest.raises(MessageIdError):
        make_packet(message_id=1 << 16)
    with pytest.raises(PacketError):
        make_packet(seq=9)
    with pytest.raises(PacketError):
        make_packet(tag=1 << 32)


@pytest.mark.parametrize("value", [-1, 1 << 16, 2**63, True, 1.0, "1", None])
def test_one_message_id_check(value):
    with pytest.raises(MessageIdError, match="not an integer in 0..65535"):
        check_message_id(value)


def test_a_version_1_packet_is_named_as_such():
    header = struct.pack(">BBBHHHHH", 1, 2, 1, 1, 0, 1, 0, 2)
    body = header + struct.pack(">H", crc16(header)) + b"ab"
    with pytest.raises(PacketError, match="version 1 is not supported .*before message tags"):
        Packet.from_bytes(body + struct.pack(">I", crc32(body)))


def test_authenticated_packets_round_trip_and_cost_their_tag():
    packet = make_packet()
    data = packet.to_bytes(KEY)
    assert len(data) == len(packet.to_bytes()) + AUTH_TAG_BYTES
    assert Packet.from_bytes(data, KEY) == packet
    assert Packet.from_bytes(data) == packet  # a receiver without the key still reads it


@pytest.mark.parametrize("forge", ["unsigned", "other key", "edited payload", "edited header"])
def test_a_receiver_with_the_key_drops_what_the_key_did_not_sign(forge):
    packet = make_packet()
    if forge == "unsigned":
        data = packet.to_bytes()
    elif forge == "other key":
        data = packet.to_bytes(LinkKey(b"k" * 32))
    else:  # an attacker edits a signed packet and fixes both CRCs
        signed = bytearray(packet.to_bytes(KEY))
        signed[HEADER_SIZE if forge == "edited payload" else 4] ^= 1
        header = bytes(signed[: HEADER_SIZE - 2])
        signed[HEADER_SIZE - 2 : HEADER_SIZE] = struct.pack(">H", crc16(header))
        signed[-4:] = struct.pack(">I", crc32(bytes(signed[:-4])))
        data = bytes(signed)
    with pytest.raises(PacketError, match="authenticat"):
        Packet.from_bytes(data, KEY)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_parser_raises_only_packet_error_on_random_bytes(data):
    with pytest.raises(PacketError):  # random bytes pass both CRCs one time in 2**48
        Packet.from_bytes(data)


def _mostly(common: list[int], top: int):
    """One of `common` three times in four, else any value up to `top`."""
    return st.one_of(st.sampled_from(common), st.sampled_from(common), st.sampled_from(common), st.integers(0, top))


@settings(max_examples=400, deadline=None)
@given(version=_mostly([PACKET_VERSION], 255), kind=_mostly([int(kind) for kind in PacketKind], 255),
       flags=_mostly([0, 1, 2, 3], 255), message_id=st.integers(0, 0xFFFF), seq=_mostly([0, 1, 8], 0xFFFF),
       count=_mostly([0, 1, 9], 0xFFFF), group=st.integers(0, 0xFFFF), payload=st.binary(min_size=10, max_size=60),
       length_delta=st.one_of(st.just(0), st.just(0), st.integers(-8, 8).filter(bool), st.integers(0, 0xFFFF)))
def test_headers_behind_valid_crcs_parse_only_to_consistent_packets(version, kind, flags, message_id, seq, count,
                                                                    group, payload, length_delta):
    """Random header fields with both CRCs valid reach every check behind them; what parses has
    a known kind, a number inside its message and its own payload, and sends the same again."""
    length = (len(payload) - (AUTH_TAG_BYTES if flags & 2 else 0) + length_delta) % 0x10000
    data = reseal((version, kind, flags, message_id, seq, count, group, length), payload)
    try:
        packet = Packet.from_bytes(data)
    except PacketError:
        return
    assert version == PACKET_VERSION and packet.kind in set(PacketKind) and 0 <= packet.seq < packet.count
    assert (packet.message_id, packet.tag, packet.seq, packet.count, packet.group) == (message_id, 7, seq, count,
                                                                                          group)
    assert len(packet.payload) == length and payload.startswith(packet.payload) and not packet.damaged
    if not flags & 2:  # unauthenticated: the very bytes that came (flags and all) are sent again
        assert packet.to_bytes() == data
    again = Packet.from_bytes(packet.to_bytes())
    assert (again.kind, again.seq, again.count, again.group, again.payload) == (packet.kind, seq, count, group,
                                                                                  packet.payload)


@settings(max_examples=300, deadline=None)
@given(
    payload=st.binary(max_size=120),
    payload_crc=st.booleans(),
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 255)), max_size=4),
    keep=st.one_of(st.none(), st.integers(0, 140)),
)
def test_parser_survives_mutated_and_truncated_packets(payload, payload_crc, edits, keep):
    data = bytearray(make_packet(payload=payload, payload_crc=payload_crc).to_bytes())
    for position, xor in edits:
        data[position % len(data)] ^= xor
    if keep is not None:
        data = data[:keep]
    try:
        packet = Packet.from_bytes(bytes(data))
    except PacketError:
        return
    # Anything accepted with CRC enforcement is the original packet.
    if packet.payload_crc:
        assert packet.payload == payload and not packet.damaged
