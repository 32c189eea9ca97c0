"""The GFSK modem blocks alone: packets through gfsk_pdu_tx -> gfsk_pdu_rx arrive bit-exact and in
order, the soft symbols stay clear of 0 on a clean link, and noise loses packets but never passes a
corrupted one."""

import time

import numpy as np
import pmt
from gnuradio import blocks, channels, gr

from lamigo_gr import gfsk_pdu_rx, gfsk_pdu_tx


def _run(packets, noise_voltage=0.0, soft_symbols=False):
    top_block = gr.top_block()
    mod, demod = gfsk_pdu_tx(), gfsk_pdu_rx(soft_symbols=soft_symbols)
    channel = channels.channel_model(noise_voltage, 0.0, 1.0, [1.0], 7, False)
    received = blocks.message_debug()
    top_block.connect(mod, channel, demod)
    top_block.msg_connect(demod, "out", received, "store")
    symbols = None
    if soft_symbols:
        symbols = blocks.vector_sink_f()
        top_block.connect(demod, symbols)
    top_block.start()
    for packet in packets:
        mod.crc_append.to_basic_block()._post(
            pmt.intern("in"), pmt.cons(pmt.make_dict(), pmt.init_u8vector(len(packet), list(packet))))
    deadline, count = time.monotonic() + 20, -1
    while count != received.num_messages() and time.monotonic() < deadline:
        count = received.num_messages()
        time.sleep(0.5)
    top_block.stop()
    top_block.wait()
    out = [bytes(pmt.u8vector_elements(pmt.cdr(received.get_message(i)))) for i in range(received.num_messages())]
    return out, (np.array(symbols.data()) if symbols is not None else None)


def test_packets_cross_the_modem_bit_exact_in_order():
    rng = np.random.default_rng(0)
    packets = [rng.integers(0, 256, size, dtype=np.uint8).tobytes() for size in (24, 117, 300, 117)]
    received, symbols = _run(packets, soft_symbols=True)
    assert received == packets
    # the eye is open: +-1 for runs of a symbol, about +-0.8 where they alternate (Gaussian ISI)
    assert len(symbols) > 1000 and np.mean(np.abs(symbols) > 0.4) > 0.95


def test_noise_beyond_the_modem_loses_packets_but_never_passes_a_corrupt_one():
    rng = np.random.default_rng(1)
    packets = [rng.integers(0, 256, 117, dtype=np.uint8).tobytes() for _ in range(30)]
    received, _ = _run(packets, noise_voltage=0.62)
    assert 0 < len(received) < len(packets)
    assert set(received) <= set(packets)


def test_each_burst_carries_its_length_in_samples_for_a_burst_sink():
    """What a UHD sink with TSB tag name packet_len needs: one packet_len tag on the first sample
    of each burst, its value the burst's length in samples, the bursts back to back."""
    top_block = gr.top_block()
    mod = gfsk_pdu_tx(samples_per_symbol=4, ramp_symbols=32)
    sink = blocks.vector_sink_c()
    top_block.connect(mod, sink)
    top_block.start()
    lengths = [1, 20, 105]
    for length in lengths:
        mod.crc_append.to_basic_block()._post(
            pmt.intern("in"), pmt.cons(pmt.make_dict(), pmt.init_u8vector(length, [7] * length)))
    deadline = time.monotonic() + 20
    while len(sink.tags()) < len(lengths) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.2)
    top_block.stop()
    top_block.wait()
    tags = [(tag.offset, pmt.to_python(tag.value)) for tag in sink.tags()
            if pmt.symbol_to_string(tag.key) == "packet_len"]
    # per burst: 2 x 32 phasing, 64-bit access code, 32-bit length header, payload and CRC-32
    expected = [4 * (64 + 64 + 32 + 8 * (length + 4)) for length in lengths]
    assert [value for _, value in tags] == expected
    assert [offset for offset, _ in tags] == [sum(expected[:i]) for i in range(len(expected))]
    assert len(sink.data()) == sum(expected)
