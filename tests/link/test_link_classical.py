"""A classical file over the same link as a GO message (lamigo.link.classical)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lamigo.classical import MID_GREY, encode_at_budget
from lamigo.errors import ConfigError
from lamigo.images import fit_image, load_image
from lamigo.link import Packet, PacketKind, Reassembler, noise_setup, packetize
from lamigo.link.classical import (
    file_bytes_on_air,
    packetize_file,
    receive_file,
    send_at_budget,
    simulate_file,
)
from lamigo.link.fec import protect_control
from lamigo.link.packet import HEADER_SIZE, TRAILER_SIZE
from lamigo.link.simulation import simulate_link
from lamigo.message import Geometry

SHAPE = (64, 64)


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return fit_image(load_image("photo:coffee"), SHAPE)


@pytest.fixture(scope="module")
def jpeg(image):
    return encode_at_budget("jpeg", image, 1500)


def _arrived_slots(packets, channel) -> dict[int, bytes]:
    # The header (protected from bit flips, CRC-16 checked) names the slot: seq is bytes 9-10.
    return {int.from_bytes(data[9:11], "big"): data for data in channel(packets)}


@pytest.mark.parametrize("setup_number, rate", [(1, 0.3), (2, 1e-2)])
def test_same_seed_same_packets_lost_and_bits_flipped(build_message, jpeg, setup_number, rate):
    """The GO message and the classical file it is compared with meet the same channel
    realisation: the same packet slots erased, the same bit positions flipped in each slot."""
    setup = noise_setup(setup_number)
    config = setup.link_config()
    big = Geometry(height=256, width=256, latent_height=64, latent_width=64, codebook_size=512)
    go_packets = [p.to_bytes() for p in packetize(build_message(geometry=big), 0, config)]
    file_packets = [p.to_bytes() for p in packetize_file(jpeg, SHAPE, 0, config)]
    go = _arrived_slots(go_packets, setup.channel(rate, seed=11))
    classical = _arrived_slots(file_packets, setup.channel(rate, seed=11))
    common = min(len(go_packets), len(file_packets))
    assert common >= 12
    if setup.erasures:
        lost_go = {slot for slot in range(common) if slot not in go}
        lost_file = {slot for slot in range(common) if slot not in classical}
        assert lost_go == lost_file and lost_go  # some lost, the same ones
    else:
        flipped = 0
        for slot in range(common):
            length = min(len(go_packets[slot]), len(file_packets[slot]))
            go_flips = np.frombuffer(go[slot][:length], np.uint8) ^ np.frombuffer(go_packets[slot][:length], np.uint8)
            file_flips = (np.frombuffer(classical[slot][:length], np.uint8)
                          ^ np.frombuffer(file_packets[slot][:length], np.uint8))
            assert np.array_equal(go_flips, file_flips)
            flipped += int(np.unpackbits(go_flips).sum())
        assert flipped > 0


def test_bytes_on_air_count_every_packet_and_fit_the_budget(image):
    setup = noise_setup(1)
    for codec in ("jpeg", "jpeg-rst", "jpeg2000"):
        encoded = send_at_budget(codec, image, 2500, setup.link_config())
        assert encoded is not None and encoded.bytes_on_air <= 2500
        packets = packetize_file(encoded, SHAPE, 0, setup.link_config())
        payload = sum(len(p.payload) for p in packets)
        assert encoded.bytes_on_air == file_bytes_on_air(encoded, SHAPE, setup.link_config()) \
            == payload + len(packets) * (HEADER_SIZE + TRAILER_SIZE)
        # The header travels in the protected block, each chunk three times; the rest once.
        header_chunks = [p.group for p in packets if p.kind == PacketKind.CLASSICAL_HEADER]
        assert sorted(header_chunks) == sorted(list(set(header_chunks)) * 3)
        data = b"".join(p.payload for p in sorted((p for p in packets if p.kind == PacketKind.CLASSICAL_DATA),
                                                   key=lambda p: p.group))
        assert data == encoded.data[encoded.header_bytes:]
        run = simulate_file(encoded, SHAPE, setup.channel(0.0, seed=0), setup.link_config())
        assert run.bytes_on_air == encoded.bytes_on_air
        assert run.received.decoded_ok and run.received.lost_bytes == 0 and not run.header_lost


@pytest.mark.parametrize("codec", ["jpeg", "jpeg-rst", "jpeg2000"])
def test_a_file_with_lost_packets_decodes_without_raising(image, codec):
    setup = noise_setup(1)
    encoded = send_at_budget(codec, image, 3000, setup.link_config())
    decoded = 0
    for seed in range(6):
        run = simulate_file(encoded, SHAPE, setup.channel(0.3, seed=seed), setup.link_config())
        assert run.received.image.shape == (*SHAPE, 3) and run.received.image.dtype == np.uint8
        assert run.as_dict()["packets_lost"] == run.packets_lost
        if not run.header_lost and run.packets_lost:  # data lost, the protected header arrived
            assert run.received.decoded_ok and run.received.lost_bytes > 0
            decoded += 1
    assert decoded >= 3


def test_a_lost_header_block_gives_grey_and_is_counted(jpeg):
    """Every copy of a header chunk lost: beyond its protection, nothing decodes."""
    config = noise_setup(1).link_config()
    packets = packetize_file(jpeg, SHAPE, 0, config)
    without_header = [p.to_bytes() for p in packets if not (p.kind == PacketKind.CLASSICAL_HEADER and p.group == 0)]
    assert receive_file(without_header) is None

    class DropHeaderChunk:  # a channel that erases every copy of header chunk 0
        from lamigo.link.channel import ChannelStats
        stats = ChannelStats()

        def __call__(self, sent):
            kept = [data for data in sent if Packet.from_bytes(data).kind != PacketKind.CLASSICAL_HEADER
                    or Packet.from_bytes(data).group != 0]
            self.stats.packets_dropped += len(sent) - len(kept)
            return kept

    run = simulate_file(jpeg, SHAPE, DropHeaderChunk(), config)
    assert run.header_lost and not run.received.decoded_ok
    assert (run.received.image == MID_GREY).all() and run.received.image.shape == (*SHAPE, 3)
    assert run.as_dict()["header_lost"] is True and run.packets_lost == 3


def test_header_bytes_lost_past_a_single_copy_are_still_received(jpeg):
    config = noise_setup(1).link_config()
    packets = packetize_file(jpeg, SHAPE, 0, config)
    first_copies = {p.group: p.seq for p in packets if p.kind == PacketKind.CLASSICAL_HEADER}
    arrived = receive_file([p.to_bytes() for p in packets if p.seq not in first_copies.values()])
    assert arrived is not None and not arrived.lost.any() and arrived.data == jpeg.data


def test_a_forged_header_block_claiming_a_huge_file_is_refused_before_allocating(jpeg):
    from lamigo.link.classical import _HeaderBlock

    block = _HeaderBlock(1, "jpeg", SHAPE, 2**31, 100, b"\xff\xd8").to_bytes()
    forged = [Packet(message_id=0, tag=1, seq=group, count=2, kind=PacketKind.CLASSICAL_HEADER, group=group,
                     payload=chunk).to_bytes() for group, chunk in enumerate(protect_control(block, 105))]
    assert receive_file(forged, max_file_bytes=1 << 20) is None


def test_the_go_reassembler_ignores_a_classical_file(build_message, jpeg):
    reassembler = Reassembler()
    packets = [p.to_bytes() for p in packetize_file(jpeg, SHAPE, 3, noise_setup(1).link_config())]
    assert [m for data in packets for m in reassembler.push(data)] + reassembler.flush() == []
    assert reassembler.stats.messages_failed == 1
    # ... and a GO message beside it still arrives.
    run = simulate_link(build_message(), noise_setup(1).channel(0.0, seed=0), noise_setup(1).link_config())
    assert run.received is not None


def test_jpeg2000_whose_first_data_packet_is_lost_still_decodes(image):
    """That packet holds the tile-part header (SOT): the receiver rebuilds it."""
    config = noise_setup(1).link_config()
    encoded = send_at_budget("jpeg2000", image, 3000, config)
    packets = packetize_file(encoded, SHAPE, 0, config)
    arrived = receive_file([p.to_bytes() for p in packets if not (p.kind == PacketKind.CLASSICAL_DATA and p.group == 0)])
    assert arrived.lost[encoded.header_bytes] and not arrived.lost[:encoded.header_bytes].any()
    received = arrived.receive()
    assert received.decoded_ok and received.image.shape == (*SHAPE, 3)


def test_slot_erasures_replay_losses_across_calls():
    from lamigo.link.channel import SlotErasureChannel

    channel = SlotErasureChannel(frozenset({1, 3}))
    assert channel([b"a", b"b"]) == [b"a"] and channel([b"c", b"d", b"e"]) == [b"c", b"e"]
    assert channel.stats.packets_in == 5 and channel.stats.packets_dropped == 2


def test_a_forged_header_block_under_another_tag_does_not_replace_the_file(jpeg):
    from lamigo.link.classical import _HeaderBlock

    genuine = [p.to_bytes() for p in packetize_file(jpeg, SHAPE, 0, noise_setup(1).link_config())]
    block = _HeaderBlock(1, "jpeg", SHAPE, 500, 100, b"\xff\xd8").to_bytes()
    forged = [Packet(message_id=0, tag=1, seq=group, count=2, kind=PacketKind.CLASSICAL_HEADER, group=group,
                     payload=chunk).to_bytes() for group, chunk in enumerate(protect_control(block, 105))]
    arrived = receive_file(forged + genuine)
    assert arrived is not None and arrived.data == jpeg.data and not arrived.lost.any()


def _forged_header(shape, file_bytes=500, tag=1, count=2, message_id=0):
    from lamigo.link.classical import _HeaderBlock

    block = _HeaderBlock(tag, "jpeg", shape, file_bytes, 100, b"\xff\xd8").to_bytes()
    return [Packet(message_id=message_id, tag=tag, seq=group, count=count, kind=PacketKind.CLASSICAL_HEADER,
                   group=group, payload=chunk) for group, chunk in enumerate(protect_control(block, 105))]


def test_a_header_claiming_a_huge_image_is_refused_before_anything_is_decoded():
    """Regression: one 70-byte header packet claiming 16384x16384 cost 7.4 s and 1.8 GB."""
    import tracemalloc

    from lamigo.link.classical import MAX_PIXELS, FileReceiver

    receiver = FileReceiver()
    tracemalloc.start()
    files = [done for packet in _forged_header((16384, 16384)) for done in receiver.push(packet.to_bytes())]
    files += receiver.flush()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    (file,) = files
    assert file.arrived is None and "pixels" in file.note and peak < 50 << 20
    assert receiver.stats.messages_failed == 1
    # The limit is a parameter, by default the largest image a sender sends.
    side = int(MAX_PIXELS ** 0.5)
    with pytest.raises(ConfigError, match="cannot send"):
        packetize_file(_tiny_jpeg(), (side + 32, side), 0)
    small = FileReceiver(max_pixels=32 * 32)
    (file,) = [done for packet in _forged_header((64, 64)) for done in small.push(packet.to_bytes())] + small.flush()
    assert file.arrived is None and "pixels" in file.note


def _tiny_jpeg():
    from lamigo.classical import Encoded, get_baseline

    data = get_baseline("jpeg").encode(np.zeros((32, 32, 3), np.uint8), 50)
    return Encoded("jpeg", 50, data, get_baseline("jpeg").header_length(data), len(data))


def test_bytes_per_file_files_in_flight_and_age_are_bounded():
    """Regression: data packets of one file were held without a cap (90 MB for one file)."""
    from lamigo.link.classical import FileReceiver

    now = [0.0]
    receiver = FileReceiver(max_file_bytes=20_000, max_in_flight=4, timeout=2.0, max_age=5.0, clock=lambda: now[0])
    header = _forged_header((64, 64), file_bytes=20_000, count=65535)
    for packet in header:
        receiver.push(packet.to_bytes())
    for seq in range(len(header), 400):
        data = Packet(message_id=0, tag=1, seq=seq, count=65535, kind=PacketKind.CLASSICAL_DATA, group=seq,
                      payload=bytes(1000))
        receiver.push(data.to_bytes())
    assert receiver.stats.over_limit > 0 and receiver.stats.packets_accepted <= 21
    for number in range(50):  # files in flight: bounded whatever arrives
        for packet in _forged_header((64, 64), tag=100 + number, message_id=number):
            receiver.push(packet.to_bytes())
    assert receiver.collector.in_flight <= 2 * 4
    # A sender trickling packets cannot hold a file open past its maximum age.
    trickle = _forged_header((64, 64), tag=7, count=1000, message_id=9)
    receiver.flush()
    files = []
    for seq in range(10):
        now[0] += 1.0
        packet = dataclasses.replace(trickle[0], seq=seq)
        files += receiver.push(packet.to_bytes())
        if files:
            break
    assert [file.message_id for file in files] == [9] and now[0] == 6.0
