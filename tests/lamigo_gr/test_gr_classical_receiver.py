"""Classical receiver: packets of a classical file in, its best-effort image (PNG) out, whatever
was lost and whatever else arrived."""

import io
import time

import numpy as np
import pmt
import pytest
from gnuradio import blocks, gr
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from lamigo.classical import Encoded, get_baseline
from lamigo.images import fit_image, load_image
from lamigo.link import LinkConfig, packetize
from lamigo.link.classical import packetize_file
from lamigo.link.packet import PacketKind
from lamigo.message import unpack_message
from lamigo_gr.blocks.classical_receiver import classical_receiver
from lamigo_gr.support.pdu import make_pdu, split_pdu

SHAPE = (64, 64)
CONFIG = LinkConfig(max_payload=48)


@pytest.fixture(scope="module")
def image():
    return fit_image(load_image("photo:coffee"), SHAPE)


def _file(image, codec="jpeg-rst", setting=60):
    baseline = get_baseline(codec)
    data = baseline.encode(image, setting)
    return Encoded(codec, setting, data, baseline.header_length(data), len(data))


def _run(pdus, expected, timeout=1.0, size="64x64"):
    """Post `pdus` to a running receiver until `expected` files came out; (block, [(meta, image)]).
    `timeout`: seconds of silence that end a file; a second, so that a loaded machine that starves
    the block thread between two packets does not end a file early."""
    tb = gr.top_block()
    block = classical_receiver(timeout=timeout, size=size)
    debug = blocks.message_debug()
    tb.msg_connect(block, "out", debug, "store")
    tb.start()
    for pdu in pdus:
        block._post(pmt.intern("in"), pdu)
    deadline = time.monotonic() + 5
    while debug.num_messages() < expected and time.monotonic() < deadline:
        time.sleep(0.05)
    tb.stop()
    tb.wait()
    out = []
    for i in range(debug.num_messages()):
        meta, data = split_pdu(debug.get_message(i))
        out.append((meta, np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))))
    return block, out


def _psnr(a, b):
    return 10 * np.log10(255**2 / np.mean((a.astype(float) - b.astype(float)) ** 2))


def test_a_whole_file_decodes_as_sent_and_go_packets_are_left_alone(image, go_message_bytes):
    encoded = _file(image)
    packets = packetize_file(encoded, SHAPE, 5, CONFIG)
    go = packetize(unpack_message(go_message_bytes), 6, CONFIG)
    pdus = [make_pdu(p.to_bytes()) for p in reversed(packets)] + [make_pdu(p.to_bytes()) for p in go]
    block, out = _run(pdus, 1)
    assert len(out) == 1
    meta, received = out[0]
    assert (meta["message_id"], meta["codec"], meta["decoded_ok"], meta["packets_lost"]) == (5, "jpeg-rst", True, 0)
    assert meta["packets_received"] == len(packets) and meta["lost_bytes"] == 0
    expected = get_baseline("jpeg-rst").receive(encoded.data, np.zeros(len(encoded.data), bool), SHAPE).image
    np.testing.assert_array_equal(received, expected)
    assert block.ignored == len(go)


def test_lost_data_packets_give_a_concealed_image_and_a_lost_header_a_grey_one(image):
    encoded = _file(image)
    packets = packetize_file(encoded, SHAPE, 1, CONFIG)
    data = [p for p in packets if p.kind == PacketKind.CLASSICAL_DATA]
    lossy = [p for p in packets if p is not data[2]]
    other = packetize_file(encoded, SHAPE, 2, CONFIG)
    pdus = [make_pdu(p.to_bytes()) for p in lossy]
    pdus += [make_pdu(p.to_bytes()) for p in other if p.kind == PacketKind.CLASSICAL_DATA]  # every header copy lost
    pdus += [make_pdu(b"noise"), pmt.intern("not a pdu")]
    block, out = _run(pdus, 2)
    by_id = {meta["message_id"]: (meta, img) for meta, img in out}
    meta, received = by_id[1]
    assert meta["decoded_ok"] and meta["packets_lost"] == 1 and meta["lost_bytes"] == len(data[2].payload)
    assert _psnr(received, image) > 15
    meta, received = by_id[2]
    assert meta["header_lost"] and not meta["decoded_ok"] and meta["codec"] == ""
    assert received.shape == (*SHAPE, 3) and (received == 128).all()
    assert block.rejected == 2


@settings(max_examples=100, deadline=None)
@given(garbage=st.lists(st.binary(max_size=80), max_size=6),
       mutations=st.lists(st.tuples(st.integers(0, 200), st.integers(0, 80), st.integers(1, 255)), max_size=12))
def test_packets_off_the_air_never_raise(image, garbage, mutations):
    """Random bytes and real packets (sent without payload CRC, so flips get through) with
    flipped bytes: each is counted or handed to the codec's receiver, none raises."""
    encoded = _file(image, "jpeg")
    packets = [p.to_bytes() for p in packetize_file(encoded, SHAPE, 3, LinkConfig(max_payload=48, payload_crc=False))]
    received = list(garbage)
    for number, position, flip in mutations:
        packet = bytearray(packets[number % len(packets)])
        packet[position % len(packet)] ^= flip
        received.append(bytes(packet))
    block = classical_receiver(timeout=5, size="64x64")
    for data in received + packets:
        block._handle(make_pdu(data))
    block._publish(block.receiver.flush())
    assert block.publish_failed == 0 and block.files_out >= 1


def test_a_jpeg_file_crosses_the_gfsk_modem_and_decodes(image):
    """The image source with codec jpeg -> link packetizer -> gfsk_pdu_tx -> gfsk_pdu_rx ->
    classical receiver, the flowgraph ending by itself: the file arrives whole and decodes."""
    from gnuradio import channels

    from lamigo_gr import gfsk_pdu_rx, gfsk_pdu_tx, image_source, packetizer

    tb = gr.top_block()
    source = image_source(images="photo:coffee", size="64x64", codec="jpeg", budget=2500, first_id=7)
    sent, out = blocks.message_debug(), blocks.message_debug()
    pack, mod, demod = packetizer(max_payload=105), gfsk_pdu_tx(), gfsk_pdu_rx()
    receiver = classical_receiver(timeout=1.0, size="64x64")
    tb.msg_connect(source, "out", pack, "in")
    tb.msg_connect(source, "out", sent, "store")
    tb.msg_connect(pack, "out", mod, "in")
    tb.connect(mod, channels.channel_model(0.0, 0.0, 1.0, [1.0], 7, False), demod)
    tb.msg_connect(demod, "out", receiver, "in")
    tb.msg_connect(receiver, "out", out, "store")
    tb.start()
    deadline = time.monotonic() + 15
    while out.num_messages() < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    tb.stop()
    tb.wait()
    sent_meta, jpeg = split_pdu(sent.get_message(0))
    assert sent_meta["codec"] == "jpeg" and len(jpeg) < 2500 and jpeg[:2] == b"\xff\xd8"
    meta, png = split_pdu(out.get_message(0))
    assert (meta["message_id"], meta["codec"], meta["decoded_ok"], meta["packets_lost"]) == (7, "jpeg", True, 0)
    received = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    np.testing.assert_array_equal(received, np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB")))
    assert _psnr(received, image) > 20
    assert pack.packets_out == meta["packets_expected"] == meta["packets_received"]


def test_the_packetizer_refuses_a_classical_file_it_cannot_send():
    from lamigo_gr import packetizer

    pack = packetizer()
    pack._handle(make_pdu(b"\xff\xd8 not a jpeg", {"codec": "jpeg", "height": 64, "width": 64}))
    pack._handle(make_pdu(b"\xff\xd8", {"codec": "jpeg"}))
    pack._handle(make_pdu(b"x", {"codec": "gif", "height": 64, "width": 64}))
    assert (pack.rejected, pack.packets_out) == (3, 0)


def test_the_source_refuses_an_unknown_codec_or_no_budget():
    from lamigo.errors import ConfigError
    from lamigo_gr import image_source

    with pytest.raises(ConfigError, match="jpeg2000"):
        image_source(codec="gif")
    with pytest.raises(ConfigError, match="budget"):
        image_source(codec="jpeg", budget=0)


def test_the_source_budget_counts_the_packetizers_bytes_on_air(image, tmp_path):
    """The budget is what the Link Packetizer downstream sends, headers, CRCs, authentication
    tags and the protected header block included: the file is the highest setting that fits."""
    from lamigo.link import LinkKey
    from lamigo.link.auth import write_link_key
    from lamigo.link.classical import file_bytes_on_air, send_at_budget
    from lamigo_gr import image_source, packetizer

    key_file = tmp_path / "link.key"
    write_link_key(key_file)
    link = dict(max_payload=48, control_copies=2, link_key=str(key_file))
    budget = 2000
    tb = gr.top_block()
    source = image_source(images="photo:coffee", size="64x64", codec="jpeg-rst", budget=budget, **link)
    pack, sent, packets = packetizer(**link), blocks.message_debug(), blocks.message_debug()
    tb.msg_connect(source, "out", pack, "in")
    tb.msg_connect(source, "out", sent, "store")
    tb.msg_connect(pack, "out", packets, "store")
    tb.start()
    tb.wait()
    meta, data = split_pdu(sent.get_message(0))
    on_air = sum(len(split_pdu(packets.get_message(i))[1]) for i in range(packets.num_messages()))
    assert len(data) < on_air <= budget
    config = LinkConfig(max_payload=48, control_copies=2)
    expected = send_at_budget("jpeg-rst", image, budget, config, LinkKey.load(key_file))
    assert (meta["setting"], data) == (expected.setting, expected.data)
    better = get_baseline("jpeg-rst").encode(image, expected.setting + 1)
    header = get_baseline("jpeg-rst").header_length(better)
    assert file_bytes_on_air(Encoded("jpeg-rst", 0, better, header, 0), SHAPE, config, LinkKey.load(key_file)) > budget


def test_images_are_saved_and_a_folder_that_cannot_be_written_loses_only_the_file(image, tmp_path):
    packets = [make_pdu(p.to_bytes()) for p in packetize_file(_file(image), SHAPE, 12, CONFIG)]
    saver = classical_receiver(timeout=5, size="64x64", output_folder=str(tmp_path / "images"))
    blocked = tmp_path / "a file"
    blocked.write_text("not a folder")
    failing = classical_receiver(timeout=5, size="64x64", output_folder=str(blocked))
    for block in (saver, failing):
        for pdu in packets:
            block._handle(pdu)
    assert Image.open(tmp_path / "images" / "file_00012.png").size == SHAPE
    assert (saver.files_out, saver.save_failed) == (1, 0)
    assert (failing.files_out, failing.save_failed) == (1, 1)


def test_a_header_claiming_a_huge_image_gives_grey_and_replays_are_dropped(image, tmp_path):
    """One forged header packet claiming 16384x16384 is refused from the header alone (a grey
    image of `size` comes out, saying why); with the link key, a replayed file is dropped and
    counted instead of coming out again."""
    from lamigo.link import LinkKey, PacketSealer
    from lamigo.link.auth import write_link_key
    from lamigo.link.classical import _HeaderBlock
    from lamigo.link.fec import protect_control
    from lamigo.link.packet import Packet

    block = _HeaderBlock(1, "jpeg", (16384, 16384), 500, 100, b"\xff\xd8").to_bytes()
    forged = [Packet(message_id=3, tag=1, seq=group, count=2, kind=PacketKind.CLASSICAL_HEADER, group=group,
                     payload=chunk) for group, chunk in enumerate(protect_control(block, 105))]
    receiver = classical_receiver(timeout=5, size="64x64")
    for packet in forged:
        receiver._handle(make_pdu(packet.to_bytes()))
    (done,) = receiver.receiver.flush()
    assert done.arrived is None and "pixels" in done.note

    key_file = tmp_path / "link.key"
    write_link_key(key_file)
    sealer = PacketSealer(LinkKey.load(key_file))
    sent = [make_pdu(sealer.seal(p)) for p in packetize_file(_file(image), SHAPE, 4, CONFIG)]
    keyed = classical_receiver(timeout=5, size="64x64", link_key=str(key_file))
    for pdu in sent + sent:
        keyed._handle(pdu)
    keyed._publish(keyed.receiver.flush())
    assert keyed.files_out == 1 and keyed.stats.replayed == len(sent)


def test_the_receiver_prints_a_line_per_file_and_a_summary(image, tmp_path, capfd, gr_info_logging):
    packets = packetize_file(_file(image), SHAPE, 5, CONFIG)
    tb = gr.top_block()
    block = classical_receiver(timeout=0.2, size="64x64", output_folder=str(tmp_path / "rx"))
    debug = blocks.message_debug()
    tb.msg_connect(block, "out", debug, "store")
    tb.start()
    for packet in packets[:2] + packets[3:]:  # a data packet lost
        block._post(pmt.intern("in"), make_pdu(packet.to_bytes()))
    block._post(pmt.intern("in"), make_pdu(b"junk"))
    deadline = time.monotonic() + 5
    while debug.num_messages() < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    tb.stop()
    tb.wait()
    output = capfd.readouterr()
    lines = [line for line in (output.out + output.err).splitlines()
             if line.startswith("lamigo_classical_receiver :info:")]
    n = len(packets)
    assert lines == [
        f"lamigo_classical_receiver :info: file 5 (jpeg-rst): {n - 1}/{n} packets received (1 lost), decoded, "
        f"saved {tmp_path / 'rx' / 'file_00005.png'}",
        f"lamigo_classical_receiver :info: classical receiver: 1 files ({n - 1}/{n} packets received), 1 decoded, "
        f"0 with the header lost, 1 packets rejected; images in {tmp_path / 'rx'}",
    ]
