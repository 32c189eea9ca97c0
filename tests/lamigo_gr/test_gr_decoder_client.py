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
from lamigo_gr.support.pdu import make_pdu, split_pdu


def _png(value: int, size: tuple[int, int] = (64, 64), mode: str = "RGB", **options) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (value, value, value)[:len(mode)]).save(out, format="PNG", **options)
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
        stats = {"packets_expected": 7, "packets_received": 6, "packets_damaged": 0, "index_groups_lost": 1,
                 "caption_chunks_lost": 0, "tokens_sent": int((~message.mask).sum()),
                 "tokens_masked_by_policy": int(message.mask.sum()), "tokens_lost": int(lost.sum()),
                 "packets_lost": 1}
        link_meta = {"message_id": 5, **stats, "tokens": 1, "wire": 1, "lost_map": np.packbits(lost.ravel())}
        tb = gr.top_block()
        client = decoder_client(address=self.address)
        strobe = blocks.message_strobe(make_pdu(self.data, link_meta), 50)
        tb.msg_connect(strobe, "strobe", client, "in")
        tb.start()
        self.waitFor(lambda: client.messages_sent >= 2, timeout=5)
        non_string_key = pmt.dict_add(pmt.make_dict(), pmt.from_long(1), pmt.from_long(2))
        bad = [
            make_pdu(self.data, {"lost_map": "all"}),
            make_pdu(self.data, {"message_id": "five"}),
            make_pdu(self.data, {"message_id": 1 << 16}),
            make_pdu(self.data, {"x": float("nan")}),  # regression: NaN metadata stopped the block
            make_pdu(self.data, {"packets_expected": 3}),  # link statistics cut short
            pmt.cons(non_string_key, pmt.init_u8vector(3, [1, 2, 3])),  # regression, as NaN
        ]
        for pdu in bad:
            client._post(pmt.intern("in"), pdu)
        self.waitFor(lambda: client.rejected == len(bad), timeout=5)
        client._post(pmt.intern("in"), make_pdu(b"not parsed here", {"message_id": 6}))
        time.sleep(0.2)
        tb.stop()
        tb.wait()
        frames = self.receive_all(self.pull)
        self.assertGreaterEqual(len(frames), 3)
        self.assertEqual(frames[0][1], self.data)  # forwarded as it came
        wire = parse_frames(frames[0])
        self.assertEqual(wire.message_id, 5)
        self.assertEqual((wire.link.packets_expected, wire.link.packets_received), (7, 6))
        self.assertEqual(wire.link.tokens_lost, int(lost.sum()))
        np.testing.assert_array_equal(wire.lost, lost)
        np.testing.assert_array_equal(wire.message.indices[~message.mask], message.indices[~message.mask])
        self.assertIn(b"not parsed here", [item[1] for item in frames])  # the service judges it

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
                       result_frames(record | {"message_id": [12]}, _png(0)),
                       # regression: an id of 2**63 stopped the receiver thread in pmt
                       result_frames(record | {"message_id": 2**63}, _png(0))]
        too_big_for_pmt = result_frames(record | {"message_id": 1, "steps": 2**70}, _png(0))
        # Until subscribed, and then a whole round of bad results has come before a good one.
        while client.results_received < 2 and time.monotonic() < deadline:
            for frames in bad_results:  # each is dropped; the receiver keeps going
                publisher.send_multipart(frames)
            publisher.send_multipart(too_big_for_pmt)  # delivered, without the field pmt cannot hold
            publisher.send_multipart(result_frames(record, _png(200)))
            time.sleep(0.05)
        tb.stop()
        tb.wait()
        publisher.close()
        self.assertGreaterEqual(client.results_received, 2)
        self.assertGreaterEqual(client.results_rejected, len(bad_results))
        self.assertTrue((self.tmp_path / "decoded" / "message_00001.png").is_file())
        saved = self.tmp_path / "decoded" / "message_00012.png"
        self.assertEqual(np.asarray(Image.open(saved))[0, 0].tolist(), [200, 200, 200])
        delivered = [split_pdu(debug.get_message(i)) for i in range(debug.num_messages())]
        meta, png = next(item for item in delivered if item[0]["message_id"] == 12)
        self.assertEqual(meta["steps"], 8)
        self.assertNotIn("steps", next(item[0] for item in delivered if item[0]["message_id"] == 1))
        self.assertEqual(png, _png(200))

    def test_only_results_that_decode_to_the_size_they_claim_are_accepted(self):
        """Regression: any frame starting with the PNG signature was saved and emitted, and the
        results socket took frames of any size."""
        from PIL.PngImagePlugin import PngInfo

        publisher = zmq.Context.instance().socket(zmq.PUB)
        publisher.setsockopt(zmq.LINGER, 0)
        results = f"tcp://127.0.0.1:{publisher.bind_to_random_port('tcp://127.0.0.1')}"
        tb = gr.top_block()
        client = decoder_client(address=self.address, results_address=results,
                                output_folder=str(self.tmp_path / "decoded"), wait_results=5,
                                max_result_pixels=64 * 64)
        debug = blocks.message_debug()
        tb.msg_connect(client, "decoded", debug, "store")
        tb.start()
        text = PngInfo()
        text.add_text("comment", "x" * 100_000, zip=True)  # inflated by Pillow besides the image
        good = {"message_id": 1, "height": 64, "width": 64}
        forged = [
            result_frames(good | {"message_id": 2}, b"\x89PNG\r\n\x1a\n" + b"not an image"),
            result_frames(good | {"message_id": 3}, _png(10, size=(32, 64))),  # not the size it claims
            result_frames(good | {"message_id": 4}, _png(10)[:-40]),  # truncated
            result_frames(good | {"message_id": 5}, _png(10, mode="L")),  # not RGB
            result_frames(good | {"message_id": 6, "height": 128}, _png(10, size=(64, 128))),  # over the limit
            result_frames({"message_id": 7}, _png(10)),  # no size to check against
            result_frames(good | {"message_id": 8}, _png(10, pnginfo=text)),
        ]
        over_the_frame_limit = result_frames(good | {"message_id": 9}, _png(10) + bytes(200_000))
        deadline = time.monotonic() + 20
        for received in (1, 2):  # until subscribed; again once ZMQ dropped the connection and it came back
            while client.results_received < received and time.monotonic() < deadline:
                for frames in forged:
                    publisher.send_multipart(frames)
                publisher.send_multipart(result_frames(good, _png(200)))
                time.sleep(0.05)
            if received == 1:
                publisher.send_multipart(over_the_frame_limit)
        tb.stop()
        tb.wait()
        publisher.close()
        self.assertGreaterEqual(client.results_received, 2)
        self.assertGreaterEqual(client.results_rejected, len(forged))
        self.assertGreaterEqual(client.results_connections_dropped, 1)
        self.assertEqual(sorted(path.name for path in (self.tmp_path / "decoded").iterdir()), ["message_00001.png"])
        delivered = {split_pdu(debug.get_message(i))[0]["message_id"] for i in range(debug.num_messages())}
        self.assertEqual(delivered, {1})

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
            publisher.send_multipart(result_frames({"message_id": 3, "steps": 8, "height": 64, "width": 64},
                                                   _png(90)))
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


def test_a_message_of_another_model_set_is_refused_and_the_user_told_once(tmp_path, capfd, gr_info_logging):
    """End to end: `lamigo serve` on the tiny set (codebook 512) gets two messages of the
    default set (codebook 1024) from the client, and answers each with a refusal that the
    client counts and logs once, instead of the flowgraph waiting and ending in silence."""
    import json
    import signal
    import subprocess
    import sys

    from lamigo.images import load_image
    from lamigo.lami.transmitter import Transmitter
    from lamigo.masking import make_policy
    from lamigo.zoo.sets import load_model_set

    sender = Transmitter(load_model_set("default"), make_policy("prm", ratio=0.25, seed=0), size=(64, 64))
    data = sender.pack(sender.encode(load_image("photo:coffee"), "a cup"))
    messages, results = f"ipc://{tmp_path}/messages", f"ipc://{tmp_path}/results"
    service = subprocess.Popen(
        [sys.executable, "-m", "lamigo.cli.main", "serve", "--listen", messages, "--publish", results,
         "--model-set", "tiny", "--device", "cpu", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert service.stdout.readline().startswith("lamigo serve: messages on ipc://")
        tb = gr.top_block()
        client = decoder_client(address=messages, results_address=results, wait_results=30)
        debug = blocks.message_debug()
        tb.msg_connect(client, "decoded", debug, "store")  # a block with no connection does not run
        tb.start()
        time.sleep(0.5)  # the subscription reaches the service
        for message_id in (1, 2):
            client._post(pmt.intern("in"), make_pdu(data, {"message_id": message_id}))
        deadline = time.monotonic() + 30
        while client.refused < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        tb.stop()
        tb.wait()
        service.send_signal(signal.SIGTERM)
        stdout, _ = service.communicate(timeout=30)
    finally:
        if service.poll() is None:
            service.kill()
            service.wait()
    reason = "message uses a codebook of 1024, this receiver's model 512: use the same model set on both ends"
    stats = json.loads(stdout)
    assert (client.refused, client.results_received) == (2, 0)
    assert client.refusal_causes == {reason: 2}
    assert (stats["malformed"], stats["refusals_sent"], stats["decoded"]) == (2, 2, 0)
    output = capfd.readouterr()  # GNU Radio logs to stdout or stderr, as its configuration says
    told = [line for line in (output.out + output.err).splitlines() if "refused message" in line]
    assert told == [f"lamigo_decoder_client :error: the decoder service (tiny) refused message 1: {reason} "
                    "(said once per cause; the others are counted)"]


LINK = {"packets_expected": 7, "packets_received": 6, "packets_damaged": 0, "index_groups_lost": 1,
        "caption_chunks_lost": 0, "tokens_sent": 192, "tokens_masked_by_policy": 64, "tokens_lost": 3,
        "packets_lost": 1}


def test_the_client_prints_a_line_per_message_and_a_summary(go_message_bytes, pull_socket, tmp_path, capfd,
                                                            gr_info_logging):
    """A short run as a headless receiver shows it: the depacketizer's link statistics, the tokens
    regenerated and where the image went, then the summary at stop."""
    pull, address = pull_socket
    publisher = zmq.Context.instance().socket(zmq.PUB)
    publisher.setsockopt(zmq.LINGER, 0)
    results = f"tcp://127.0.0.1:{publisher.bind_to_random_port('tcp://127.0.0.1')}"
    tb = gr.top_block()
    client = decoder_client(address=address, results_address=results, output_folder=str(tmp_path / "rx"),
                            wait_results=5)
    debug = blocks.message_debug()
    tb.msg_connect(client, "decoded", debug, "store")
    tb.start()
    client._post(pmt.intern("in"), make_pdu(go_message_bytes, {"message_id": 5, **LINK,
                                                                "lost_map": np.zeros(32, np.uint8)}))
    assert pull.poll(5000)
    pull.recv_multipart()  # the service's end: it decoded the message, and answers
    record = {"message_id": 5, "tokens": 256, "tokens_masked_by_policy": 64, "tokens_lost": 3,
              "decode_seconds": 1.234, "link": LINK, "height": 64, "width": 64}
    deadline = time.monotonic() + 5
    while client.results_received == 0 and time.monotonic() < deadline:  # until subscribed
        publisher.send_multipart(result_frames(record, _png(100)))
        time.sleep(0.05)
    time.sleep(0.2)
    tb.stop()
    tb.wait()
    publisher.close()
    output = capfd.readouterr()
    lines = [line for line in (output.out + output.err).splitlines() if line.startswith("lamigo_decoder_client")]
    saved = tmp_path / "rx" / "message_00005.png"
    assert lines[0] == ("lamigo_decoder_client :info: message 5: 6/7 packets received (1 lost), 67 of 256 tokens "
                        f"regenerated, decoded in 1.2 s, saved {saved}")
    assert lines[-1] == (f"lamigo_decoder_client :info: decoder client: 1 messages sent (6/7 packets received), "
                         f"{client.results_received} decoded, 0 refused, 0 dropped, 0 without a result; images in "
                         f"{tmp_path / 'rx'}")


def test_without_results_the_client_prints_what_it_sent(go_message_bytes, pull_socket, capfd, gr_info_logging):
    pull, address = pull_socket
    tb = gr.top_block()
    client = decoder_client(address=address)
    tb.msg_connect(client, "decoded", blocks.message_debug(), "store")  # a block with no connection does not run
    tb.start()
    client._post(pmt.intern("in"), make_pdu(go_message_bytes, {"message_id": 9, **LINK}))
    assert pull.poll(5000)
    tb.stop()
    tb.wait()
    output = capfd.readouterr()
    lines = [line for line in (output.out + output.err).splitlines() if line.startswith("lamigo_decoder_client")]
    assert lines == [
        "lamigo_decoder_client :info: message 9: 6/7 packets received (1 lost), 67 of 256 tokens to regenerate, "
        "sent to the decoder service (results not listened to)",
        "lamigo_decoder_client :info: decoder client: 1 messages sent (6/7 packets received), 0 dropped (results "
        "not listened to)",
    ]
