"""Decoder client: GO message PDUs to the decoder service over ZMQ, decoded images back."""

import io
import time

import numpy as np
import pmt
import pytest
import zmq
from gnuradio import blocks, gr, gr_unittest
from PIL import Image

from lamigo.errors import ConfigError
from lamigo.message import unpack_message
from lamigo.service.wire import parse_frames, result_frames
from lamigo_gr import decoder_client
from lamigo_gr.pdu import make_pdu, split_pdu


def _png(value: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (value, value, value)).save(out, format="PNG")
    return out.getvalue()


class TestDecoderClient(gr_unittest.TestCase):
    @pytest.fixture(autouse=True)
    def _fixtures(self, go_message_bytes, pull_socket, receive_all, tmp_path):
        self.data = go_message_bytes
        self.pull, self.address = pull_socket
        self.receive_all = receive_all
        self.tmp_path = tmp_path

    def test_messages_reach_the_service_in_the_wire_format(self):
        message = unpack_message(self.data)
        lost = np.zeros(message.geometry.latent_shape, dtype=bool)
        lost[0, 1] = lost[3, 3] = True
        lost &= ~message.mask
        link_meta = {"message_id": 5, "packets_expected": 7, "packets_received": 6, "tokens": 1, "wire": 1,
                     "lost_map": np.packbits(lost.ravel())}
        tb = gr.top_block()
        client = decoder_client(address=self.address)
        strobe = blocks.message_strobe(make_pdu(self.data, link_meta), 50)
        tb.msg_connect(strobe, "strobe", client, "in")
        tb.start()
        self.waitFor(lambda: client.messages_sent >= 2, timeout=5)
        client._post(pmt.intern("in"), make_pdu(b"not a GO message"))
        client._post(pmt.intern("in"), make_pdu(self.data[:10], {"lost_map": np.zeros(2, np.uint8)}))
        client._post(pmt.intern("in"), make_pdu(self.data, {"lost_map": np.zeros(2, np.uint8)}))  # too short
        client._post(pmt.intern("in"), make_pdu(self.data, {"lost_map": "all"}))
        client._post(pmt.intern("in"), make_pdu(self.data, {"message_id": "five"}))
        self.waitFor(lambda: client.rejected == 5, timeout=5)
        tb.stop()
        tb.wait()
        frames = self.receive_all(self.pull)
        self.assertGreaterEqual(len(frames), 2)
        wire = parse_frames(frames[0])
        self.assertEqual(wire.message_id, 5)
        self.assertEqual((wire.header["packets_expected"], wire.header["packets_received"]), (7, 6))
        self.assertEqual(wire.header["tokens"], lost.size)  # set by the wire format, not the metadata
        self.assertEqual(wire.header["tokens_lost"], int(lost.sum()))
        np.testing.assert_array_equal(wire.lost, lost)
        np.testing.assert_array_equal(wire.message.indices[~message.mask], message.indices[~message.mask])

    def test_decoded_images_come_back_saved_and_as_pdus(self):
        publisher = zmq.Context.instance().socket(zmq.PUB)
        publisher.setsockopt(zmq.LINGER, 0)
        results = f"tcp://127.0.0.1:{publisher.bind_to_random_port('tcp://127.0.0.1')}"
        tb = gr.top_block()
        client = decoder_client(address=self.address, results_address=results,
                                output_folder=str(self.tmp_path / "decoded"), wait_results=5)
        debug = blocks.message_debug()
        tb.msg_connect(client, "decoded", debug, "store")
        tb.start()
        record = {"message_id": 12, "steps": 8, "height": 64, "width": 64, "decode_seconds": 0.5}
        deadline = time.monotonic() + 5
        bad_results = [[b"{}", b"bad result"], result_frames(record | {"message_id": "12"}, _png(0)),
                       result_frames(record | {"message_id": [12]}, _png(0))]
        # Until subscribed, and then a whole round of bad results has come before a good one.
        while client.results_received < 2 and time.monotonic() < deadline:
            for frames in bad_results:  # each is dropped; the receiver keeps going
                publisher.send_multipart(frames)
            publisher.send_multipart(result_frames(record, _png(200)))
            time.sleep(0.05)
        tb.stop()
        tb.wait()
        publisher.close()
        self.assertGreaterEqual(client.results_received, 2)
        self.assertGreaterEqual(client.results_rejected, len(bad_results))
        saved = self.tmp_path / "decoded" / "message_00012.png"
        self.assertEqual(np.asarray(Image.open(saved))[0, 0].tolist(), [200, 200, 200])
        meta, png = split_pdu(debug.get_message(0))
        self.assertEqual((meta["message_id"], meta["steps"]), (12, 8))
        self.assertEqual(png, _png(200))

    def test_an_unwritable_folder_loses_the_file_not_the_receiver(self):
        publisher = zmq.Context.instance().socket(zmq.PUB)
        publisher.setsockopt(zmq.LINGER, 0)
        results = f"tcp://127.0.0.1:{publisher.bind_to_random_port('tcp://127.0.0.1')}"
        not_a_folder = self.tmp_path / "a-file"
        not_a_folder.write_bytes(b"")
        tb = gr.top_block()
        client = decoder_client(address=self.address, results_address=results,
                                output_folder=str(not_a_folder / "decoded"), wait_results=5)
        debug = blocks.message_debug()
        tb.msg_connect(client, "decoded", debug, "store")
        tb.start()
        deadline = time.monotonic() + 5
        while client.results_received < 2 and time.monotonic() < deadline:  # until subscribed
            publisher.send_multipart(result_frames({"message_id": 3, "steps": 8}, _png(90)))
            time.sleep(0.05)
        tb.stop()
        tb.wait()
        publisher.close()
        self.assertGreaterEqual(client.results_received, 2)
        self.assertEqual(client.save_failed, client.results_received)
        self.assertEqual(client.saved, [])
        self.assertEqual(split_pdu(debug.get_message(0))[1], _png(90))


def test_a_bad_address_is_a_config_error():
    with pytest.raises(ConfigError, match="cannot connect"):
        decoder_client(address="not-an-address")
