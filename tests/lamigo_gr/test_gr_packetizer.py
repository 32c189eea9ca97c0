"""Packetizer: GO message PDUs in, link packet PDUs out, bad input counted."""

import pmt
import pytest
from gnuradio import blocks, gr, gr_unittest

from lamigo.link import LinkConfig, Packet, packetize
from lamigo.message import unpack_message
from lamigo_gr import packetizer
from lamigo_gr.support.pdu import make_pdu, split_pdu


class TestPacketizer(gr_unittest.TestCase):
    @pytest.fixture(autouse=True)
    def _message(self, go_message_bytes):
        self.go_message_bytes = go_message_bytes

    def run_packetizer(self, pdus, **params):
        tb = gr.top_block()
        block = packetizer(**params)
        debug = blocks.message_debug()
        tb.msg_connect(block, "out", debug, "store")
        tb.start()
        for pdu in pdus:
            block._post(pmt.intern("in"), pdu)
        self.waitFor(lambda: block.messages_in + block.rejected == len(pdus), timeout=5)
        tb.stop()
        tb.wait()
        return block, [split_pdu(debug.get_message(i)) for i in range(debug.num_messages())]

    def test_packets_match_the_link_layer(self):
        data = self.go_message_bytes
        block, out = self.run_packetizer([make_pdu(data, {"message_id": 42})], max_payload=48,
                                         interleaver="random", interleaver_seed=7, control_copies=2)
        config = LinkConfig(max_payload=48, interleaver="random", interleaver_seed=7, control_copies=2)
        expected = [p.to_bytes() for p in packetize(unpack_message(data), 42, config)]
        self.assertEqual([packet for _, packet in out], expected)
        self.assertEqual(block.packets_out, len(expected))
        meta = out[0][0]
        self.assertEqual((meta["message_id"], meta["seq"], meta["count"], meta["kind"]), (42, 0, len(expected), "control"))
        self.assertEqual(Packet.from_bytes(out[-1][1]).seq, len(expected) - 1)

    def test_bad_input_is_counted_and_the_block_keeps_going(self):
        data = self.go_message_bytes
        bad = [pmt.intern("not a pdu"), make_pdu(b"\x00garbage"), make_pdu(data, {"message_id": 70000}),
               make_pdu(data, {"message_id": True}), make_pdu(data, {"message_id": -1}),
               pmt.cons(pmt.PMT_NIL, pmt.init_f32vector(2, [1.0, 2.0]))]
        block, out = self.run_packetizer([*bad, make_pdu(data)])
        self.assertEqual(block.rejected, len(bad))
        self.assertEqual(block.messages_in, 1)
        self.assertEqual({meta["message_id"] for meta, _ in out}, {0})  # the counter's id
