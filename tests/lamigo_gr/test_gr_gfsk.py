"""The GFSK modem blocks alone: packets through gfsk_pdu_tx -> gfsk_pdu_rx arrive bit-exact and in
order, the soft symbols stay clear of 0 on a clean link, and noise loses packets but never passes a
corrupted one."""

import math
import re
import time

import numpy as np
import pmt
import pytest
from gnuradio import blocks, channels, gr

from lamigo_gr import gfsk_pdu_rx, gfsk_pdu_tx
from lamigo_gr.blocks.modems.ofdm import ACTIVE_CARRIERS


# Items a stage may hold back (its filter history, Symbol Sync's interpolator), at most:
# 16 symbols, half of the phasing ramp after each packet, so no packet bit is among them.
_HELD_SAMPLES, _HELD_SYMBOLS = 64, 16


def _wait_until_drained(mod, demod, payload_bytes: int, pdus, checked, timeout: float = 60.0) -> None:
    """Block until every packet's bytes were framed into the modulator's stream, every stage
    of the demodulator read what the one before it wrote (less what a filter holds back), and
    the CRC check judged (`checked`: passed and failed) every PDU the deframer made (`pdus`):
    counted items, not a quiet spell, so a slow start cannot end the wait before the first packet."""
    samples = [mod.scale, demod.channel_filter, demod.discriminator, demod.integrate, demod.symbol_sync]
    symbols = [demod.symbol_sync, demod.slicer, demod.correlator, demod.pack_bits, demod.to_pdu]

    def drained(chain, held):
        return all(before.nitems_written(0) - after.nitems_read(0) <= held for before, after in zip(chain, chain[1:]))

    deadline = time.monotonic() + timeout
    while not (mod.payload_stream.nitems_written(0) == payload_bytes and drained(samples, _HELD_SAMPLES)
               and drained(symbols, _HELD_SYMBOLS) and sum(box.num_messages() for box in checked) == pdus.num_messages()):
        assert time.monotonic() < deadline, "the modem did not drain"
        time.sleep(0.02)


def _run(packets, noise_voltage=0.0, soft_symbols=False, while_running=None):
    top_block = gr.top_block()
    mod, demod = gfsk_pdu_tx(), gfsk_pdu_rx(soft_symbols=soft_symbols)
    channel = channels.channel_model(noise_voltage, 0.0, 1.0, [1.0], 7, False)
    received = blocks.message_debug()
    top_block.connect(mod, channel, demod)
    top_block.msg_connect(demod, "out", received, "store")
    pdus, failed = blocks.message_debug(), blocks.message_debug()  # taps: deframed, CRC failed
    top_block.msg_connect(demod.to_pdu, "pdus", pdus, "store")
    top_block.msg_connect(demod.crc_check, "fail", failed, "store")
    symbols = None
    if soft_symbols:
        symbols = blocks.vector_sink_f()
        top_block.connect(demod, symbols)
    top_block.start()
    try:
        if while_running is not None:  # e.g. GRC's callbacks, before the packets go
            while_running(mod, demod)
        for packet in packets:
            mod.crc_append.to_basic_block()._post(
                pmt.intern("in"), pmt.cons(pmt.make_dict(), pmt.init_u8vector(len(packet), list(packet))))
        _wait_until_drained(mod, demod, sum(len(packet) + 4 for packet in packets), pdus, (received, failed))  # + CRC
    finally:
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


def _grc_callbacks() -> dict[str, list[tuple[str, str]]]:
    """{block id: [(method, parameter)]} of every `callbacks` line of our GRC blocks."""
    import yaml

    from lamigo_gr.apps.flowgraphs import GRC_BLOCKS_DIR

    callbacks = {}
    for path in sorted(GRC_BLOCKS_DIR.glob("*.block.yml")):
        block = yaml.safe_load(path.read_text())
        for line in block["templates"].get("callbacks", []):
            method, param = re.fullmatch(r"(\w+)\(\$\{(\w+)\}\)", line).groups()
            callbacks.setdefault(block["id"], []).append((method, param))
    return callbacks


def _snr_db(channel) -> float:
    """The channel's SNR now, from its noise voltage against the one at its default 30 dB."""
    return 30.0 - 20 * math.log10(channel.stages[-1].noise_voltage() / channel.voltage_at_30_db)


# (block id, parameter): the value a running flowgraph is given, and what the block then reports
# (a callback GRC has that this table lacks fails the test below: add it here)
CALLBACK_CHECKS = {
    ("lamigo_gfsk_pdu_tx", "amplitude"): (0.5, lambda block: block.scale.k()),
    ("lamigo_gfsk_pdu_rx", "loop_bandwidth"): (0.03, lambda block: block.symbol_sync.loop_bandwidth()),
    ("lamigo_psk_pdu_tx", "amplitude"): (0.5, lambda block: (block.scale.k() / block._turn).real),
    ("lamigo_ofdm_pdu_tx", "amplitude"): (0.5, lambda block: block.scale.k() * ACTIVE_CARRIERS ** 0.5),
    ("lamigo_psk_pdu_rx", "timing_bandwidth"): (0.02, lambda block: block.clock_sync.loop_bandwidth()),
    ("lamigo_psk_pdu_rx", "carrier_bandwidth"): (0.05, lambda block: block.costas.get_loop_bandwidth()),
    ("lamigo_radio_channel", "frequency_offset"): (0.01, lambda block: block.stages[-1].frequency_offset()),
    ("lamigo_radio_channel", "snr_db"): (20.0, _snr_db),
}


def _call_back(callbacks, blocks_by_id) -> None:
    """GRC's callbacks of these running blocks, each with its new value, and what they report."""
    for block_id, block in blocks_by_id.items():
        for method, param in callbacks[block_id]:
            value, reported = CALLBACK_CHECKS[(block_id, param)]
            getattr(block, method)(value)
            assert reported(block) == pytest.approx(value), f"{block_id}.{method}"


def test_every_grc_callback_runs_on_a_live_flowgraph():
    """Each `callbacks` line of our GRC blocks, called as GRC calls it when a variable changes
    while the flowgraph runs: the block takes the new value, and the GFSK pair still carries
    packets bit-exact after it."""
    from lamigo_gr.blocks.channels import radio_channel
    from lamigo_gr.blocks.modems.ofdm import ofdm_pdu_tx
    from lamigo_gr.blocks.modems.psk import psk_pdu_rx, psk_pdu_tx

    callbacks = _grc_callbacks()
    assert {(block_id, param) for block_id, calls in callbacks.items() for _, param in calls} == set(CALLBACK_CHECKS)
    # The PSK pair and the radio channel, running on a stream of zeros (nothing to decode), and
    # the OFDM transmitter.
    top_block = gr.top_block()
    psk_tx, channel, psk_rx, ofdm_tx = psk_pdu_tx(), radio_channel(), psk_pdu_rx(), ofdm_pdu_tx()
    channel.voltage_at_30_db = channel.stages[-1].noise_voltage()
    top_block.connect(blocks.null_source(gr.sizeof_gr_complex), blocks.throttle(gr.sizeof_gr_complex, 1e6),
                      channel, psk_rx)
    top_block.connect(psk_tx, blocks.null_sink(gr.sizeof_gr_complex))
    top_block.connect(ofdm_tx, blocks.null_sink(gr.sizeof_gr_complex))
    top_block.start()
    try:
        _call_back(callbacks, {"lamigo_psk_pdu_tx": psk_tx, "lamigo_psk_pdu_rx": psk_rx,
                               "lamigo_radio_channel": channel, "lamigo_ofdm_pdu_tx": ofdm_tx})
    finally:
        top_block.stop()
        top_block.wait()
    rng = np.random.default_rng(2)
    packets = [rng.integers(0, 256, 90, dtype=np.uint8).tobytes() for _ in range(3)]
    received, _ = _run(packets, while_running=lambda mod, demod: _call_back(
        callbacks, {"lamigo_gfsk_pdu_tx": mod, "lamigo_gfsk_pdu_rx": demod}))
    assert received == packets


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
