"""Packetize a GO message and reassemble it, with and without losses."""

import numpy as np
import pytest

from lamigo.coding import IndexPrior
from lamigo.errors import ConfigError, MessageIdError
from lamigo.link import (
    OVERHEAD,
    BitFlipChannel,
    LinkConfig,
    PacketKind,
    Reassembler,
    noise_setup,
    packetize,
    token_groups,
)
from lamigo.link.packet import Packet


def receive(packets, prior=None):
    reassembler = Reassembler(prior)
    messages = []
    for packet in packets:
        messages += reassembler.push(packet.to_bytes() if isinstance(packet, Packet) else packet)
    messages += reassembler.flush()
    return messages, reassembler


def receive_one(packets, prior=None):
    messages, _ = receive(packets, prior)
    assert len(messages) == 1
    return messages[0]


@pytest.mark.parametrize("policy", ["none", "prm", "pdm", "ebm"])
@pytest.mark.parametrize("index_coder", ["fixed", "huffman", "range", "image-huffman"])
@pytest.mark.parametrize("interleaver", ["none", "block", "random"])
def test_lossless_link_delivers_the_message(policy, index_coder, interleaver, build_message):
    msg = build_message(policy, index_coder)
    packets = packetize(msg, 1, LinkConfig(interleaver=interleaver, interleaver_seed=9))
    received = receive_one(packets)
    np.testing.assert_array_equal(received.message.mask, msg.mask)
    np.testing.assert_array_equal(received.message.indices, msg.indices)
    assert not received.lost.any()
    assert received.message.caption == msg.caption
    assert received.message.policy.name == policy
    assert received.link.packets_lost == 0 and received.link.tokens_lost == 0
    assert received.link.tokens_masked_by_policy == int(msg.mask.sum())


@pytest.mark.parametrize("max_payload", [24, 40, 105, 1500])
def test_every_payload_fits(max_payload, build_message, caption):
    msg = build_message(caption=caption * 3)
    packets = packetize(msg, 2, LinkConfig(max_payload=max_payload))
    assert all(len(packet.payload) <= max_payload for packet in packets)
    assert all(len(packet.to_bytes()) <= max_payload + OVERHEAD for packet in packets)
    assert receive_one(packets).message.caption == msg.caption


def test_control_copies_spread_over_the_stream(build_message):
    packets = packetize(build_message(), 3, LinkConfig(control_copies=3))
    positions = [p.seq for p in packets if p.kind == PacketKind.CONTROL]
    assert len(positions) % 3 == 0 and positions[0] == 0
    assert max(positions) > len(packets) // 2


def test_a_lost_index_packet_costs_exactly_its_tokens(build_message):
    msg = build_message()
    config = LinkConfig(interleaver="random", max_payload=40)
    packets = packetize(msg, 4, config)
    index_packets = [p for p in packets if p.kind == PacketKind.INDICES]
    dropped = index_packets[2]
    received = receive_one([p for p in packets if p is not dropped])

    sent_positions = np.flatnonzero(~msg.mask)
    groups = token_groups(sent_positions.size, len(index_packets), "random", 0)
    expected_lost = np.zeros(msg.mask.size, dtype=bool)
    expected_lost[sent_positions[groups[dropped.group]]] = True
    np.testing.assert_array_equal(received.lost.ravel(), expected_lost)
    assert received.link.tokens_lost == groups[dropped.group].size
    assert received.link.index_groups_lost == 1 and received.link.packets_lost == 1
    keep = ~received.regenerate
    np.testing.assert_array_equal(received.message.indices[keep], msg.indices[keep])
    assert (received.message.indices[received.lost] == 0).all()  # the placeholder


def test_a_lost_caption_chunk_drops_its_words_only(build_message, caption):
    msg = build_message(caption=caption, text_coder="utf8")
    packets = packetize(msg, 5, LinkConfig(max_payload=24))
    text_packets = [p for p in packets if p.kind == PacketKind.TEXT]
    assert len(text_packets) >= 3
    received = receive_one([p for p in packets if p is not text_packets[1]])
    words = received.message.caption.split()
    assert 0 < len(words) < len(caption.split())
    assert set(words) <= set(caption.split())
    assert received.link.caption_chunks_lost == 1


def test_losing_all_but_one_control_copy_is_harmless(build_message):
    msg = build_message()
    packets = packetize(msg, 6, LinkConfig(control_copies=3))
    first_control = next(p for p in packets if p.kind == PacketKind.CONTROL)
    kept = [p for p in packets if p.kind != PacketKind.CONTROL or p is first_control]
    np.testing.assert_array_equal(receive_one(kept).message.indices, msg.indices)


def test_losing_every_control_copy_loses_the_message_without_raising(build_message):
    packets = packetize(build_message(), 7)
    messages, reassembler = receive([p for p in packets if p.kind != PacketKind.CONTROL])
    assert messages == []
    assert reassembler.stats.messages_failed == 1


def test_bit_flips_with_fixed_length_coding_change_single_tokens(build_message):
    setup = noise_setup(2)
    msg = build_message(index_coder=setup.index_coder, text_coder=setup.text_coder)
    packets = [p.to_bytes() for p in packetize(msg, 8, setup.link_config())]
    channel = BitFlipChannel(0.002, seed=3)
    received = receive_one(channel(packets))
    assert received.link.packets_received == len(packets)
    assert not received.lost.any()
    wrong = int((received.message.indices != msg.indices).sum())
    assert 0 < wrong <= channel.stats.bits_flipped


def test_huffman_prior_must_match_on_both_ends(build_message):
    msg = build_message()
    prior = IndexPrior.from_indices(msg.indices, msg.geometry.codebook_size)
    packets = packetize(msg, 9, prior=prior)
    np.testing.assert_array_equal(receive_one(packets, prior).message.indices, msg.indices)
    messages, reassembler = receive(packets, prior=None)
    assert messages == [] and reassembler.stats.messages_failed == 1


def test_fully_masked_message_and_empty_caption(build_message):
    msg = build_message(policy="prm", ratio=1.0, caption="")
    packets = packetize(msg, 10)
    assert {p.kind for p in packets} == {PacketKind.CONTROL}
    received = receive_one(packets)
    assert received.message.mask.all() and received.message.caption == "" and received.link.tokens_sent == 0


def test_a_lossy_message_keeps_what_arrived(build_message):
    msg = build_message()
    packets = packetize(msg, 11)
    lost_index_packet = next(p for p in packets if p.kind == PacketKind.INDICES)
    received = receive_one([p for p in packets if p is not lost_index_packet])
    go = received.message
    np.testing.assert_array_equal(go.mask, msg.mask)
    # Only the tokens that arrived are the sent ones; the decoder regenerates `lost`.
    arrived = ~received.regenerate
    np.testing.assert_array_equal(go.indices[arrived], msg.indices[arrived])
    assert (go.indices[received.lost] == 0).all()  # the placeholder
    assert received.lost.any() and not (received.lost & msg.mask).any()


def test_messages_sharing_an_id_never_mix(build_message):
    """Regression: a reused id mixed two images, reported as nothing lost."""
    first, second = build_message(seed=1), build_message(seed=2)
    a, b = packetize(first, 7), packetize(second, 7)
    assert a[0].tag != b[0].tag
    messages, _ = receive([p for pair in zip(a, b) for p in pair])
    assert len(messages) == 2
    for received, sent in zip(sorted(messages, key=lambda m: m.message.caption), [first, second]):
        assert not received.lost.any()
    got = {tuple(m.message.indices.ravel()) for m in messages}
    assert got == {tuple(first.indices.ravel()), tuple(second.indices.ravel())}


def test_assemble_needs_the_control_block(build_message):
    packets = [p for p in packetize(build_message(), 12) if p.kind != PacketKind.CONTROL]
    messages, reassembler = receive(packets)
    assert messages == [] and reassembler.stats.messages_failed == 1


@pytest.mark.parametrize(
    "bad", [dict(max_payload=10), dict(interleaver="zigzag"), dict(control_copies=0), dict(interleaver_seed=-1)]
)
def test_bad_link_config(bad):
    with pytest.raises(ConfigError):
        LinkConfig(**bad)


def test_message_id_must_fit_16_bits(build_message):
    with pytest.raises(MessageIdError):
        packetize(build_message(), 1 << 16)
