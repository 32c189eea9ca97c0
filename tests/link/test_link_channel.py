import numpy as np
import pytest

from lamigo.errors import ConfigError
from lamigo.link import HEADER_SIZE, BitFlipChannel, PacketErasureChannel, noise_setup

PACKETS = [bytes(range(i, i + 120)) for i in range(100)] * 20


def flipped_bits(sent: bytes, received: bytes) -> int:
    diff = np.frombuffer(sent, np.uint8) ^ np.frombuffer(received, np.uint8)
    return int(np.unpackbits(diff).sum())


def test_erasure_channel_drops_packets_at_the_per():
    channel = PacketErasureChannel(0.1, seed=0)
    received = channel(PACKETS)
    assert 0.08 < 1 - len(received) / len(PACKETS) < 0.12
    assert channel.stats.packets_dropped == len(PACKETS) - len(received)
    assert all(packet in PACKETS for packet in received)


def test_erasure_channel_extremes():
    assert PacketErasureChannel(0.0)(PACKETS) == PACKETS
    assert PacketErasureChannel(1.0)(PACKETS) == []


def test_bit_flip_channel_flips_at_the_ber_and_spares_headers():
    channel = BitFlipChannel(0.01, seed=0)
    received = channel(PACKETS)
    assert [len(packet) for packet in received] == [len(packet) for packet in PACKETS]
    assert all(r[:HEADER_SIZE] == s[:HEADER_SIZE] for s, r in zip(PACKETS, received))
    flips = sum(flipped_bits(s, r) for s, r in zip(PACKETS, received))
    exposed_bits = sum(8 * (len(packet) - HEADER_SIZE) for packet in PACKETS)
    assert flips == channel.stats.bits_flipped
    assert 0.008 < flips / exposed_bits < 0.012


def test_bit_flip_channel_can_hit_whole_packets():
    received = BitFlipChannel(0.05, seed=1, protected_bytes=0)(PACKETS)
    assert any(r[:HEADER_SIZE] != s[:HEADER_SIZE] for s, r in zip(PACKETS, received))


def test_same_seed_same_channel():
    assert BitFlipChannel(0.02, seed=4)(PACKETS) == BitFlipChannel(0.02, seed=4)(PACKETS)


@pytest.mark.parametrize("rate", [-0.1, 1.5])
def test_rates_outside_unit_interval_are_config_errors(rate):
    with pytest.raises(ConfigError):
        PacketErasureChannel(rate)
    with pytest.raises(ConfigError):
        BitFlipChannel(rate)


@pytest.mark.parametrize(
    ("number", "interleaved", "coder", "channel_type"),
    [
        (1, True, "image-huffman", PacketErasureChannel),
        (2, True, "fixed", BitFlipChannel),
        (3, False, "image-huffman", PacketErasureChannel),
        (4, False, "fixed", BitFlipChannel),
    ],
)
def test_the_papers_four_setups(number, interleaved, coder, channel_type):
    setup = noise_setup(number)
    config = setup.link_config()
    assert (config.interleaver != "none") == interleaved
    assert setup.index_coder == coder
    assert isinstance(setup.channel(0.1), channel_type)
    # Erasure setups drop damaged packets; bit-flip setups pass the errors through.
    assert config.payload_crc == (channel_type is PacketErasureChannel)


def test_unknown_setup():
    with pytest.raises(ConfigError, match="setup"):
        noise_setup(5)
