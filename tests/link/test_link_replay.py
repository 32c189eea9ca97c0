"""Replay protection on a keyed link (lamigo.link.replay), and what forged control-only messages
can still do without a key."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lamigo.errors import PacketError
from lamigo.link import LinkConfig, LinkKey, Packet, PacketKind, PacketSealer, Reassembler, ReplayWindow, packetize
from lamigo.link.packet import STAMP_SIZE
from lamigo.link.replay import WINDOW

KEY = LinkKey(bytes(range(32)))
CONFIG = LinkConfig(max_payload=60)


def _packet(seq: int = 0) -> Packet:
    return Packet(message_id=1, tag=2, seq=seq, count=WINDOW * 4, kind=PacketKind.INDICES, group=seq, payload=b"x")


def test_a_stamp_travels_authenticated_and_only_on_keyed_packets():
    packet = _packet()
    data = packet.to_bytes(KEY, (513, 1 << 40))
    assert len(data) == len(packet.to_bytes(KEY)) + STAMP_SIZE
    assert Packet.from_bytes(data, KEY).stamp == (513, 1 << 40)
    assert Packet.from_bytes(packet.to_bytes(KEY), KEY).stamp is None  # unstamped keyed bytes as before
    with pytest.raises(PacketError, match="stamp"):
        packet.to_bytes(None, (1, 1))
    altered = bytearray(data)
    altered[-16] ^= 1  # the counter's last byte: the HMAC covers it
    with pytest.raises(PacketError, match="authentication"):
        Packet.from_bytes(bytes(altered), KEY)


def test_the_window_takes_each_counter_once_and_reordering_within_it():
    window = ReplayWindow()
    sealed = [dataclasses.replace(_packet(n), stamp=(7, 100 + n)) for n in range(WINDOW + 10)]
    assert window.accept(sealed[5]) and window.accept(sealed[2])  # out of order: both new
    assert not window.accept(sealed[5]) and not window.accept(sealed[2])
    assert window.accept(sealed[-1])  # far ahead
    assert not window.accept(sealed[3])  # now behind the window: too old to tell, refused
    assert window.accept(sealed[-2])
    other = dataclasses.replace(sealed[2], stamp=(8, 102))  # another sender has its own window
    assert window.accept(other)
    unstamped = _packet()
    assert window.accept(unstamped) and not ReplayWindow(require_stamp=True).accept(unstamped)


def test_a_restarted_sender_counts_on_above_its_last_session():
    first, later = PacketSealer(KEY, sender=3, epoch=1000), PacketSealer(KEY, sender=3, epoch=1001)
    window = ReplayWindow()
    for sealer in (first, later):
        for seq in range(3):
            assert window.accept(Packet.from_bytes(sealer.seal(_packet(seq)), KEY))
    assert not window.accept(Packet.from_bytes(first.seal(_packet(9)), KEY))  # old epoch: below the window


def test_replayed_packets_are_dropped_and_counted_and_no_message_comes_out_twice(build_message):
    """Regression: replayed control packets (with the link key) evicted a live message and each
    came out again as a new, fully lost message."""
    message = build_message()
    sealer = PacketSealer(KEY)  # one sender: its counters go on from message to message
    sent = [sealer.seal(packet) for packet in packetize(message, 1, CONFIG)]
    reassembler = Reassembler(key=KEY, max_in_flight=4)
    completed = [done for data in sent for done in reassembler.push(data)]
    (received,) = completed
    live = [sealer.seal(packet) for packet in packetize(build_message(seed=4), 2, CONFIG)]
    controls = [data for data in sent if Packet.from_bytes(data, KEY).kind == PacketKind.CONTROL]
    for data in live[:len(live) // 2]:
        completed += reassembler.push(data)
    reassembler.collector.done.clear()  # even with the first message forgotten by its late-packet memory
    for _ in range(16):
        for data in controls:
            completed += reassembler.push(data)
    for data in live[len(live) // 2:]:
        completed += reassembler.push(data)
    completed += reassembler.flush()
    assert [m.message_id for m in completed] == [1, 2] and not completed[1].lost.any()
    assert reassembler.stats.replayed == 16 * len(controls)
    np.testing.assert_array_equal(received.message.indices, message.indices)


def test_without_a_key_control_only_messages_cannot_evict_a_message_holding_index_packets(build_message):
    """Regression: 16 forged control packets (no key) evicted a live message: it lost 153 of its
    192 tokens."""
    genuine = packetize(build_message(), 1, CONFIG)
    half = len(genuine) // 2
    reassembler = Reassembler(max_in_flight=4)
    completed = [done for packet in genuine[:half] for done in reassembler.push(packet.to_bytes())]
    for number in range(16):  # control copies of other (valid) messages, each under its own id
        forged = packetize(build_message(seed=10 + number), 100 + number, CONFIG)
        completed += [done for packet in forged if packet.kind == PacketKind.CONTROL
                      for done in reassembler.push(packet.to_bytes())]
    completed += [done for packet in genuine[half:] for done in reassembler.push(packet.to_bytes())]
    mine = [m for m in completed if m.message_id == 1]
    assert len(mine) == 1 and not mine[0].lost.any()
    assert reassembler.stats.messages_evicted > 0  # the control-only ones pushed out each other

