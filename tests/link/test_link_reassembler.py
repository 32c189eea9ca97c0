import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lamigo.errors import ConfigError, PacketError
from lamigo.link import LinkConfig, LinkKey, Packet, PacketKind, Reassembler, packetize
from lamigo.link.control import encode_link_control
from lamigo.link.fec import protect_control
from lamigo.message import VERSION, Geometry, ReceiverLimits


def push_all(reassembler, packets):
    completed = []
    for packet in packets:
        completed += reassembler.push(packet if isinstance(packet, bytes) else packet.to_bytes())
    return completed + reassembler.flush()


def _huge_control(geometry, policy):
    """Control packets of a message claiming `geometry`, written byte by byte as an attacker
    would (no mask is ever built on this side)."""
    from lamigo.coding.wire import Writer

    out = Writer()
    out.raw(b"LG")
    out.u8(VERSION)
    out.u8(0x11)  # huffman, huffman
    out.u8({"prm": 1, "ebm": 3}[policy])
    for value in (geometry.height, geometry.width, geometry.latent_height, geometry.latent_width,
                  geometry.codebook_size):
        out.varint(value)
    out.u16(0)
    if policy == "prm":
        out.varint(1)
        out.u32(0)
    else:
        out.varint(4)
        out.raw(bytes(4))
    block = encode_link_control(5, out.getvalue(), "block", 0, 1, [])
    return [Packet(message_id=1, tag=5, seq=0, count=2, kind=PacketKind.CONTROL, group=group, payload=chunk)
            for group, chunk in enumerate(protect_control(block, 105))]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture(scope="module")
def packets(build_message):
    return [p.to_bytes() for p in packetize(build_message(), 1, LinkConfig(max_payload=60))]


def test_any_order_with_duplicates_completes_once(build_message, packets):
    shuffled = [packets[i] for i in np.random.default_rng(0).permutation(len(packets))]
    reassembler = Reassembler()
    completed = []
    for data in shuffled + shuffled[:5]:
        completed += reassembler.push(data)
    assert len(completed) == 1
    np.testing.assert_array_equal(completed[0].message.indices, build_message().indices)
    assert reassembler.in_flight == 0
    # Duplicates after completion are late packets of a finished message, not a new message.
    assert reassembler.stats.late == 5
    assert reassembler.flush() == []


def test_duplicates_while_in_flight_are_ignored(packets):
    reassembler = Reassembler()
    for data in packets[:3] + packets[:3]:
        assert reassembler.push(data) == []
    assert reassembler.stats.duplicates == 3
    assert reassembler.stats.packets_accepted == 3


def test_timeout_completes_an_incomplete_message(clock, packets):
    reassembler = Reassembler(timeout=2.0, clock=clock)
    missing = next(i for i, data in enumerate(packets) if i > 0 and data[1] == PacketKind.INDICES)
    for i, data in enumerate(packets):
        if i != missing:
            assert reassembler.push(data) == []
    clock.now = 1.9
    assert reassembler.expire() == []
    clock.now = 2.0
    (message,) = reassembler.expire()
    assert message.link.packets_lost == 1 and message.link.tokens_lost > 0
    assert message.lost.sum() == message.link.tokens_lost


def test_timeout_counts_from_the_latest_packet(clock, packets):
    reassembler = Reassembler(timeout=2.0, clock=clock)
    reassembler.push(packets[0])
    clock.now = 1.5
    reassembler.push(packets[1])
    clock.now = 3.0
    assert reassembler.expire() == []
    clock.now = 3.5
    assert len(reassembler.expire()) == 1


def test_in_flight_messages_are_bounded(build_message, clock):
    reassembler = Reassembler(max_in_flight=2, clock=clock)
    completed = []
    for message_id in range(5):
        first_packets = packetize(build_message(seed=message_id), message_id)[:2]
        for packet in first_packets:
            clock.now += 0.1
            completed += reassembler.push(packet.to_bytes())
        assert reassembler.in_flight <= 2
    assert reassembler.stats.messages_evicted == 3
    # Evicted messages hold their control block, so they are delivered with their losses.
    assert [m.message_id for m in completed] == [0, 1, 2]
    assert all(m.lost.all() == (~m.message.mask).all() for m in completed)


def test_remembered_ids_are_bounded(build_message):
    reassembler = Reassembler(remember=2)
    for message_id in range(4):
        for packet in packetize(build_message(), message_id):
            reassembler.push(packet.to_bytes())
    assert [message_id for message_id, _, _ in reassembler._done] == [2, 3]


def test_late_packets_are_ignored_until_the_id_falls_silent(build_message, clock, packets):
    reassembler = Reassembler(timeout=2.0, clock=clock)
    for data in packets:
        reassembler.push(data)
    clock.now = 1.5
    assert reassembler.push(packets[0]) == [] and reassembler.stats.late == 1
    clock.now = 3.0  # within the timeout of the last late packet: still late
    assert reassembler.push(packets[1]) == [] and reassembler.stats.late == 2
    # A transmitter that restarted its ids after a pause is heard again.
    clock.now = 6.0
    restarted = packetize(build_message(seed=9), 1, LinkConfig(max_payload=60))
    completed = []
    for packet in restarted:
        completed += reassembler.push(packet.to_bytes())
    (message,) = completed
    np.testing.assert_array_equal(message.message.indices, build_message(seed=9).indices)


def test_a_packet_claiming_another_count_cannot_poison_a_message(build_message):
    """Regression: one packet claiming count=65535 made the real packets "inconsistent"."""
    packets = packetize(build_message(), 1)
    forged = dataclasses.replace(packets[1], count=65535, seq=70)
    completed = push_all(Reassembler(), [forged, *packets])
    assert len(completed) == 1 and not completed[0].lost.any()


def test_a_forged_control_copy_arriving_first_is_outvoted(build_message):
    """Regression: the first control packet to arrive was believed, forged or not."""
    genuine, other = build_message(seed=1), build_message(seed=2, ratio=0.5)
    packets = packetize(genuine, 3, LinkConfig(control_copies=3))
    forged_control = packetize(other, 3, LinkConfig(control_copies=3))[0]
    # The attacker copies the genuine tag into its own control block (no link key in use).
    tag = packets[0].tag
    block = forged_control.payload
    forged = dataclasses.replace(packets[0], payload=block)
    assert forged.tag == tag
    (received,) = push_all(Reassembler(), [forged, *packets])
    np.testing.assert_array_equal(received.message.mask, genuine.mask)
    np.testing.assert_array_equal(received.message.indices, genuine.indices)


def test_junk_is_evicted_before_messages_with_a_control_block(build_message, clock):
    """Regression: 16 foreign-id packets per real packet evicted the real message."""
    reassembler = Reassembler(max_in_flight=4, clock=clock)
    packets = packetize(build_message(), 1, LinkConfig(max_payload=60))
    index_packet = next(p for p in packets if p.kind == PacketKind.INDICES)
    completed = []
    for number, packet in enumerate(packets):
        completed += reassembler.push(packet.to_bytes())
        for junk_id in range(16):  # index packets of messages whose control never comes
            junk = dataclasses.replace(index_packet, message_id=100 + junk_id, tag=number)
            completed += reassembler.push(junk.to_bytes())
    assert len(completed) == 1 and not completed[0].lost.any()
    assert reassembler.stats.junk_dropped > 0 and reassembler.stats.messages_evicted == 0


def test_a_message_completes_by_its_deadline(build_message, clock):
    """A sender trickling packets cannot hold a message open forever."""
    reassembler = Reassembler(timeout=2.0, max_age=5.0, clock=clock)
    packets = packetize(build_message(), 1, LinkConfig(max_payload=40))
    completed = []
    for packet in packets[:-1]:
        clock.now += 1.0
        completed += reassembler.push(packet.to_bytes())
        if completed:
            break
    assert len(completed) == 1 and clock.now == 5.0 + 1.0


def test_a_message_holds_at_most_its_byte_limit(build_message):
    packets = packetize(build_message(), 1, LinkConfig(max_payload=40))
    limit = sum(len(p.payload) for p in packets) // 2
    reassembler = Reassembler(limits=ReceiverLimits(max_message_bytes=limit))
    push_all(reassembler, packets)
    assert reassembler.stats.over_limit > 0
    assert reassembler.stats.packets_accepted < len(packets)


@pytest.mark.parametrize("policy", ["prm", "ebm"])
def test_a_huge_geometry_is_refused_before_any_mask(policy, build_message, masks_read):
    """Regression: one 73-byte packet claiming a 4096x4096 latent cost 24 s and 1.97 GB
    (bench/bench_attacks.py times it now)."""
    huge = Geometry(16384, 16384, 4096, 4096, 512)
    reassembler = Reassembler()
    push_all(reassembler, _huge_control(huge, policy))
    assert masks_read == []  # refused from the geometry, before any policy read a mask
    assert reassembler.stats.messages_failed == 1 and reassembler.stats.messages_completed == 0


def test_the_limits_refuse_another_codebook(build_message):
    packets = packetize(build_message(), 1)
    reassembler = Reassembler(limits=ReceiverLimits(codebook_size=1024))
    assert push_all(reassembler, packets) == []
    assert reassembler.stats.messages_failed == 1


def test_authentication_drops_forged_packets(build_message):
    key = LinkKey(b"0123456789abcdef")
    packets = packetize(build_message(), 1)
    reassembler = Reassembler(key=key)
    assert push_all(reassembler, [p.to_bytes() for p in packets]) == []  # unsigned
    assert reassembler.stats.packets_rejected == len(packets)
    (received,) = push_all(reassembler, [p.to_bytes(key) for p in packets])
    assert not received.lost.any()


def test_garbage_is_counted_and_ignored(packets):
    reassembler = Reassembler()
    assert reassembler.push(b"\x00" * 40) == []
    assert reassembler.push(packets[0][:-1]) == []
    assert reassembler.stats.packets_rejected == 2


def test_bad_arguments():
    with pytest.raises(ConfigError):
        Reassembler(timeout=0)
    with pytest.raises(ConfigError):
        Reassembler(timeout=5, max_age=4)


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_reassembler_never_crashes_on_a_damaged_stream(packets, data):
    """Any mix of lost, reordered, duplicated, truncated, bit-flipped and made-up packets gives
    at most one message, with consistent bookkeeping, and never raises."""
    stream = data.draw(st.lists(st.sampled_from(range(len(packets))), max_size=3 * len(packets)))
    damaged = []
    for index in stream:
        packet = bytearray(packets[index])
        action = data.draw(st.sampled_from(["keep", "truncate", "flip", "garbage"]))
        if action == "truncate":
            packet = packet[: data.draw(st.integers(0, len(packet) - 1))]
        elif action == "flip":
            position = data.draw(st.integers(0, len(packet) - 1))
            packet[position] ^= data.draw(st.integers(1, 255))
        elif action == "garbage":
            packet = data.draw(st.binary(max_size=80))
        damaged.append(bytes(packet))
    clock = FakeClock()
    reassembler = Reassembler(clock=clock, timeout=1.0)
    completed = []
    # After a pause of `timeout` between packets that parse, the message has completed and its
    # id is forgotten: a later packet starts it anew.
    pauses, last_heard = 0, None
    for packet in damaged:
        clock.now += data.draw(st.sampled_from([0.0, 0.5, 1.5]))
        completed += reassembler.push(packet)
        try:
            Packet.from_bytes(packet)
        except PacketError:
            continue
        pauses += last_heard is not None and clock.now - last_heard >= reassembler.timeout
        last_heard = clock.now
    completed += reassembler.flush()
    assert len(completed) <= 1 + pauses
    for message in completed:
        assert message.link.packets_received <= message.link.packets_expected
        indices, mask = message.message.indices, message.message.mask
        assert (indices[mask] == -1).all() and (indices[message.lost] == 0).all()
        assert (indices[~mask] >= 0).all()
        assert message.link.tokens_lost == int(message.lost.sum())


@pytest.fixture(scope="module")
def two_unchecked_messages(build_message):
    """Two interleaved messages whose payloads reach the decoders even when damaged."""
    config = LinkConfig(max_payload=40, payload_crc=False)
    first = packetize(build_message(index_coder="huffman", text_coder="huffman"), 1, config)
    second = packetize(build_message(index_coder="range", text_coder="range", seed=2), 2, config)
    return first + second


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_damaged_payloads_with_valid_crcs_never_crash_the_decoders(two_unchecked_messages, data):
    """Payload bytes rewritten, cut or replaced behind valid headers and CRCs (what the CRC
    cannot catch): every coder and the control block decoder fail only as erasures."""
    order = data.draw(st.permutations(range(len(two_unchecked_messages))))
    repeats = data.draw(st.lists(st.sampled_from(order), max_size=10))
    reassembler = Reassembler()
    completed, heard = [], set()
    for index in list(order) + repeats:
        packet = two_unchecked_messages[index]
        payload = bytearray(packet.payload)
        action = data.draw(st.sampled_from(["keep", "drop", "cut", "edit", "replace"]))
        if action == "drop":
            continue
        if action == "cut":
            payload = payload[: data.draw(st.integers(0, len(payload)))]
        elif action == "edit" and payload:
            for position, xor in data.draw(st.lists(st.tuples(st.integers(0, 999), st.integers(1, 255)), max_size=6)):
                payload[position % len(payload)] ^= xor
        elif action == "replace":
            payload = bytearray(data.draw(st.binary(max_size=60)))
        resealed = dataclasses.replace(packet, payload=bytes(payload))
        heard.add(packet.message_id)
        completed += reassembler.push(resealed.to_bytes())
    completed += reassembler.flush()
    assert len(completed) + reassembler.stats.messages_failed == len(heard)
    for message in completed:
        received = message.message
        assert ((received.indices >= 0) == ~received.mask).all()
        assert (received.indices < received.geometry.codebook_size).all()
        assert isinstance(received.caption, str)


def test_forged_control_copies_cost_linear_time_and_the_next_message_arrives(build_message, rs_decodes):
    """Regression: N forged control copies of one message and group were each retried with every
    copy so far (O(N^2) Reed-Solomon decodes: 200 packets, 8.5 s)."""
    rng = np.random.default_rng(0)
    reassembler = Reassembler()
    for seq in range(400):
        junk = Packet(message_id=5, tag=9, seq=seq, count=65535, kind=PacketKind.CONTROL, group=0,
                      payload=rng.integers(0, 256, 105, dtype=np.uint8).tobytes())
        reassembler.push(junk.to_bytes())
    assert rs_decodes[0] <= 2 * 400
    (received,) = push_all(reassembler, packetize(build_message(), 6))
    np.testing.assert_array_equal(received.message.indices, build_message().indices)
