"""The hardware-free tx/rx pair: flowgraphs/tx_zmq.grc's transmit chain (image source,
packetizer, GFSK modulator) into a ZMQ IQ link and rx_zmq.grc's receive chain (GFSK demodulator,
depacketizer, decoder client) out of it, as two top blocks, both ends holding the same link
key (--link-key); the message arrives bit-exact. Both flowgraphs run with the defaults an engineer
gets (the default model set, 256x256, the caption rules of lamigo encode); only the addresses, the
key and the message count are given."""

import time

import numpy as np
import pmt
from gnuradio import blocks

from lamigo.images import BUNDLED_PHOTOS
from lamigo.link.auth import write_link_key
from lamigo.message import unpack_message
from lamigo.zoo.index_prior import model_set_index_prior
from lamigo.service.wire import parse_frames
from lamigo_gr.apps.flowgraphs import load_top_block_class


def test_tx_and_rx_over_a_zmq_iq_link_carry_a_message(tmp_path, pull_socket, receive_all):
    service, service_address = pull_socket
    key = str(write_link_key(tmp_path / "link.key"))
    # The transmitter binds port 0; the receiver connects to the port it got (no probed port).
    transmitter = load_top_block_class("tx_zmq", tmp_path)(count=1, iq_address="tcp://127.0.0.1:*", link_key=key)
    iq_address = transmitter.iq_link.last_endpoint()
    assert iq_address.startswith("tcp://127.0.0.1:") and not iq_address.endswith(":*")
    receiver = load_top_block_class("rx_zmq", tmp_path)(
        service=service_address, results="", iq_address=iq_address, link_key=key)
    assert transmitter.packetizer.key is not None and receiver.depacketizer.reassembler.key is not None
    sent = blocks.message_debug()
    transmitter.msg_connect(transmitter.go_source, "out", sent, "store")
    receiver.start()
    try:
        transmitter.start()
        transmitter.wait()
        deadline = time.monotonic() + 30
        while receiver.decoder_client.messages_sent == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        frames = receive_all(service)
    finally:
        receiver.stop()
        receiver.wait()
    assert transmitter.packetizer.packets_out > 0
    assert receiver.depacketizer.stats.packets_accepted == transmitter.packetizer.packets_out
    assert len(frames) == 1
    prior = model_set_index_prior("default")  # the flowgraphs' default set, at both ends
    received = parse_frames(frames[0], prior)
    assert not received.lost.any()
    data = bytes(pmt.u8vector_elements(pmt.cdr(sent.get_message(0))))
    original = unpack_message(data, prior)
    assert received.message.caption == original.caption == BUNDLED_PHOTOS["coffee"]  # photo:coffee's own
    assert (received.message.geometry.height, received.message.geometry.width) == (256, 256)
    np.testing.assert_array_equal(received.message.indices, original.indices)
