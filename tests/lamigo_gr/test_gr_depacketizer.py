"""Depacketizer: packet PDUs in, reassembled GO messages with their losses out."""

import time

import numpy as np
import pmt
import pytest
from gnuradio import blocks, gr, gr_unittest
from hypothesis import given, settings
from hypothesis import strategies as st

from lamigo.link import LinkConfig, PacketKind, packetize
from lamigo.message import VERSION, unpack_message
from lamigo_gr import depacketizer
from lamigo_gr.support.done import SYSTEM_PORT, done_message
from lamigo_gr.support.pdu import make_pdu, split_pdu


def _lost_map(meta, shape):
    bits = np.unpackbits(np.asarray(meta["lost_map"], dtype=np.uint8))
    return bits[: shape[0] * shape[1]].reshape(shape).astype(bool)


class _FiniteSource(gr.basic_block):
    """Posts its PDUs on `out`, then tells the flowgraph it is done (at once, no delay)."""

    def __init__(self, pdus):
        gr.basic_block.__init__(self, name="finite_source", in_sig=None, out_sig=None)
        self.pdus = pdus
        self.message_port_register_out(pmt.intern("out"))

    def start(self):
        for pdu in self.pdus:
            self.message_port_pub(pmt.intern("out"), pdu)
        self._post(SYSTEM_PORT, done_message())
        return True


class TestDepacketizer(gr_unittest.TestCase):
    @pytest.fixture(autouse=True)
    def _message(self, go_message_bytes):
        self.message = unpack_message(go_message_bytes)
        # 24-byte payloads: the tiny set's tokens, coded with their own table, fill two index packets
        self.packets = packetize(self.message, 9, LinkConfig(max_payload=24))

    def run_depacketizer(self, pdus, expected, timeout=0.2):
        tb = gr.top_block()
        block = depacketizer(timeout=timeout)
        debug = blocks.message_debug()
        tb.msg_connect(block, "out", debug, "store")
        tb.start()
        for pdu in pdus:
            block._post(pmt.intern("in"), pdu)
        self.waitFor(lambda: debug.num_messages() >= expected, timeout=5)
        tb.stop()
        tb.wait()
        return block, [split_pdu(debug.get_message(i)) for i in range(debug.num_messages())]

    def test_a_complete_message(self):
        pdus = [make_pdu(p.to_bytes()) for p in reversed(self.packets)]  # order does not matter
        block, out = self.run_depacketizer(pdus, expected=1)
        self.assertEqual(len(out), 1)
        meta, data = out[0]
        self.assertEqual((meta["message_id"], meta["tokens_lost"], meta["packets_lost"]), (9, 0, 0))
        self.assertEqual(meta["packets_received"], len(self.packets))
        received = unpack_message(data)
        np.testing.assert_array_equal(received.indices, self.message.indices)
        self.assertEqual(received.caption, self.message.caption)
        self.assertFalse(_lost_map(meta, self.message.geometry.latent_shape).any())
        self.assertEqual(block.stats.messages_completed, 1)

    def test_lost_and_damaged_packets_time_out_into_a_message_with_holes(self):
        dropped = next(p for p in self.packets if p.kind == PacketKind.INDICES)
        damaged = bytearray(self.packets[-1].to_bytes())
        damaged[-1] ^= 0xFF
        pdus = [make_pdu(p.to_bytes()) for p in self.packets[:-1] if p is not dropped]
        pdus += [make_pdu(bytes(damaged)), make_pdu(b"noise"), pmt.intern("not a pdu")]
        block, out = self.run_depacketizer(pdus, expected=1)
        meta, data = out[0]
        lost = _lost_map(meta, self.message.geometry.latent_shape)
        self.assertEqual(meta["packets_lost"], 2)
        self.assertEqual(meta["tokens_lost"], int(lost.sum()))
        self.assertGreater(meta["tokens_lost"], 0)
        self.assertFalse((lost & self.message.mask).any())  # masked tokens were never sent
        received = unpack_message(data)
        kept = ~lost & ~self.message.mask
        np.testing.assert_array_equal(received.indices[kept], self.message.indices[kept])
        self.assertEqual(block.stats.packets_rejected, 2)
        self.assertEqual(block.pdus_rejected, 1)

    def test_open_messages_are_flushed_when_the_flowgraph_ends(self):
        other = packetize(self.message, 10, LinkConfig(max_payload=40))
        pdus = [make_pdu(p.to_bytes()) for p in self.packets[:-1] + other[:-2]]
        tb = gr.top_block()
        source = _FiniteSource(pdus)
        block = depacketizer(timeout=60)  # only the end of the flowgraph completes them
        debug = blocks.message_debug()
        tb.msg_connect(source, "out", block, "in")
        tb.msg_connect(block, "out", debug, "store")
        tb.start()
        tb.wait()
        out = sorted((split_pdu(debug.get_message(i))[0] for i in range(debug.num_messages())),
                     key=lambda meta: meta["message_id"])
        self.assertEqual([(meta["message_id"], meta["packets_lost"]) for meta in out], [(9, 1), (10, 2)])
        self.assertEqual(block.stats.packets_accepted, len(pdus))


_mutation = st.tuples(st.integers(0, 63), st.integers(0, 200), st.integers(1, 255))


@settings(max_examples=200, deadline=None)
@given(garbage=st.lists(st.binary(max_size=120), max_size=6), mutations=st.lists(_mutation, max_size=12))
def test_packets_off_the_air_never_raise(go_message_bytes, garbage, mutations):
    """Random bytes and real packets with flipped bytes: every one is counted, none raises."""
    packets = [p.to_bytes() for p in packetize(unpack_message(go_message_bytes), 3, LinkConfig(max_payload=40))]
    received = list(garbage)
    for number, position, flip in mutations:
        packet = bytearray(packets[number % len(packets)])
        packet[position % len(packet)] ^= flip
        received.append(bytes(packet))
    block = depacketizer(timeout=5)
    for data in received + packets:
        block._handle(make_pdu(data))
    stats = block.stats
    counted = stats.packets_accepted + stats.packets_rejected + stats.duplicates + stats.late + stats.over_limit
    assert counted == len(received) + len(packets)


def test_crafted_control_blocks_never_stop_the_block(go_message_bytes):
    """Regression: a message whose caption claimed over 65,536 characters raised in the block
    (and, completing by timeout, killed its timer thread); a 73-byte packet claiming a
    4096x4096 latent blocked it for 24 s. Now each is a lost message and the next one arrives."""
    from lamigo.coding.wire import Writer
    from lamigo.link import Packet
    from lamigo.link.control import encode_link_control
    from lamigo.link.fec import protect_control

    def crafted(sizes, chunk_chars, message_id):
        out = Writer()
        out.raw(b"LG")
        out.u8(VERSION)
        out.u8(0x11)
        out.u8(1)  # PRM
        for value in sizes:
            out.varint(value)
        out.u16(0)
        out.varint(0)
        out.u32(0)
        block = encode_link_control(9, out.getvalue(), "block", 0, 1, chunk_chars)
        return [make_pdu(Packet(message_id=message_id, tag=9, seq=group, count=3, kind=PacketKind.CONTROL,
                                group=group, payload=chunk).to_bytes())
                for group, chunk in enumerate(protect_control(block, 105))]

    tb = gr.top_block()
    block = depacketizer(timeout=0.2)
    debug = blocks.message_debug()
    tb.msg_connect(block, "out", debug, "store")
    tb.start()
    try:
        for pdu in crafted((64, 64, 16, 16, 512), [70_000], 1) + crafted((16384, 16384, 4096, 4096, 512), [], 2):
            block._post(pmt.intern("in"), pdu)
        deadline = time.monotonic() + 10  # both complete by timeout, on the timer thread, nothing else coming
        while block.stats.messages_failed < 2:
            assert time.monotonic() < deadline, f"not completed by the timer: {block.stats}"
            time.sleep(0.02)
        for packet in packetize(unpack_message(go_message_bytes), 3, LinkConfig(max_payload=40)):
            block._post(pmt.intern("in"), make_pdu(packet.to_bytes()))
        deadline = time.monotonic() + 5
        while debug.num_messages() < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        tb.stop()
        tb.wait()
    assert [split_pdu(debug.get_message(i))[0]["message_id"] for i in range(debug.num_messages())] == [3]
    assert block.stats.messages_failed == 2


def test_a_depacketizer_on_the_tiny_set_knows_its_codebook():
    """The tiny set ships no index prior, yet its receiver decodes K = 512 only (issue 25)."""
    from lamigo_gr import depacketizer

    assert depacketizer(model_set="tiny").reassembler.limits.codebook_size == 512


def test_listeners_get_the_received_message_objects(go_message_bytes):
    """In the same process the messages are handed on as objects (never packed and parsed
    back); a listener that raises loses the message for itself only, the PDU still goes out."""
    from lamigo.message import ReceivedMessage

    message = unpack_message(go_message_bytes)
    packets = packetize(message, 4, LinkConfig(max_payload=24))
    block = depacketizer()
    got = []
    block.add_listener(got.append)
    block.add_listener(lambda received: 1 / 0)
    tb = gr.top_block()
    debug = blocks.message_debug()
    tb.msg_connect(block, "out", debug, "store")
    for packet in packets:
        block._handle(make_pdu(packet.to_bytes()))
    (received,) = got
    assert isinstance(received, ReceivedMessage) and received.message_id == 4
    np.testing.assert_array_equal(received.message.indices, message.indices)
    assert block.listener_failed == 1 and block.messages_out == 1
