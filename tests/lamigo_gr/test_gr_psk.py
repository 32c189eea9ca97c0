"""The burst PSK modem (lamigo_gr.blocks.modems.psk) and its registry entries: packets of every
length cross it bit-exact and in order, over every flat channel at high SNR, over multipath (the
equaliser) and through its GRC blocks
compiled by grcc; its bursts have the mean power the SNR definition assumes; moderate SNR loses
packets but never passes a corrupt one; its metadata estimates the SNR the channel set (under a CFO it tracks); a
header claiming more than the receiver takes is refused without losing the packets after it."""

import math

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from lamigo_gr.apps.flowgraphs import GRC_BLOCKS_DIR
from lamigo_gr.blocks.channels import CHANNELS, radio_channel
from lamigo_gr.blocks.modems import MODEMS, get_modem
from lamigo_gr.blocks.modems.psk import (CODES, CONSTELLATIONS, DEFAULT_MAX_PACKET, INTERLEAVE_COLUMNS, coded_bytes,
                                         interleaver, packet_bytes, psk_pdu_rx, psk_pdu_tx)
from lamigo_gr.support.burst_link import demodulate, modulate


def _packets(sizes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, size, dtype=np.uint8).tobytes() for size in sizes]


def _through(packets, channel=None, tx=None, rx=None, **channel_options):
    bursts = modulate(tx or psk_pdu_tx(), packets)
    link = None if channel is None else radio_channel(channel=channel, signal_power=bursts.power, **channel_options)
    return bursts, demodulate(bursts, rx or psk_pdu_rx(), link)


@settings(max_examples=4, deadline=None)
@given(st.lists(st.integers(1, DEFAULT_MAX_PACKET), min_size=1, max_size=4))
def test_packets_of_any_length_cross_the_modem_bit_exact_in_order(sizes):
    packets = _packets(sizes + [1, DEFAULT_MAX_PACKET][: 2 if len(sizes) == 1 else 0])
    _, received = _through(packets, "awgn", snr_db=30.0, seed=3)
    assert [data for data, _ in received] == packets


@pytest.mark.parametrize("constellation, code", [("bpsk", "cc"), ("qpsk", "none")])
def test_each_constellation_and_code_crosses_bit_exact(constellation, code):
    packets = _packets([7, 230, 64])
    _, received = _through(packets, "awgn", tx=psk_pdu_tx(constellation=constellation, code=code),
                           rx=psk_pdu_rx(constellation=constellation, code=code), snr_db=30.0)
    assert [data for data, _ in received] == packets


FLAT = [name for name in CHANNELS if name not in ("multipath", "dynamic")]


@pytest.mark.parametrize("name", FLAT)
def test_every_flat_channel_at_high_snr_delivers_every_packet(name):
    # slow fading (fD*Ts 1e-5), 35 dB: the link is good on every flat channel
    packets = _packets([105] * 6, seed=4)
    _, received = _through(packets, name, snr_db=35.0, seed=1, doppler=1e-5)
    assert [data for data, _ in received] == packets


def test_the_equaliser_delivers_every_packet_over_multipath_and_the_correlator_fires_once_per_burst():
    # paths one and two samples apart (half a symbol, a symbol): without the equaliser and the
    # trigger holdoff this realisation lost most packets even at 40 dB
    packets = _packets([105] * 6, seed=4)
    rx = psk_pdu_rx()
    _, received = _through(packets, "multipath", rx=rx, snr_db=25.0, seed=2, doppler=1e-5)
    assert [data for data, _ in received] == packets
    assert rx.holdoff.kept == len(packets) and rx.holdoff.dropped >= 1


def test_the_dynamic_channel_at_high_snr_delivers_only_what_arrived_intact():
    packets = _packets([105] * 6, seed=4)
    _, received = _through(packets, "dynamic", snr_db=35.0, seed=1, doppler=1e-5)
    assert received and {data for data, _ in received} <= set(packets)


def test_the_interleaver_is_a_permutation_that_spreads_neighbours_apart():
    for n in (8, 100, 8 * coded_bytes(200, "cc")):
        order = interleaver(n)
        assert sorted(order.tolist()) == list(range(n))
    order = interleaver(8 * coded_bytes(200, "cc"))
    # bits next to each other on the air were INTERLEAVE_COLUMNS apart in the coded stream
    gaps = np.abs(np.diff(order))
    assert np.median(gaps) == INTERLEAVE_COLUMNS


def test_bursts_have_the_mean_power_the_snr_definition_assumes():
    bursts = modulate(psk_pdu_tx(), _packets([105] * 5))
    # unit-power symbols with unit-energy pulses; ramps and the silent tail take a few per cent
    assert 0.9 < bursts.power <= 1.0
    assert modulate(psk_pdu_tx(amplitude=0.5), _packets([105] * 5)).power == pytest.approx(bursts.power / 4, rel=1e-3)


def test_moderate_snr_loses_packets_but_never_passes_a_corrupt_one():
    packets = _packets([200] * 30, seed=5)
    _, received = _through(packets, "awgn", snr_db=1.0, seed=2)
    assert 0 < len(received) < len(packets)
    assert {data for data, _ in received} <= set(packets)


def test_metadata_estimates_the_snr_the_channel_set_and_a_frequency_offset_is_tracked():
    _, received = _through(_packets([200] * 6, seed=6), "awgn", snr_db=10.0, seed=1, frequency_offset=1e-3)
    assert len(received) == 6
    for _, meta in received:
        assert meta["snr_db"] == pytest.approx(10.0, abs=1.0)
        assert meta["esn0_db"] == pytest.approx(meta["snr_db"] + 10 * math.log10(2), abs=1e-6)
        assert meta["soft_quality"] > 2


def test_a_header_claiming_more_than_the_receiver_takes_is_refused_and_the_next_packet_arrives():
    # a transmitter that sends longer packets than this receiver takes: the long one's header is
    # refused before the demux would swallow its claimed length; the packets around it arrive
    packets = _packets([40, 400, 40], seed=7)
    rx = psk_pdu_rx(max_packet=200)
    _, received = _through(packets, "awgn", rx=rx, snr_db=30.0)
    assert [data for data, _ in received] == [packets[0], packets[2]]
    assert rx.header_check.rejected >= 1


def test_coded_lengths_invert():
    for n in (1, 2, 105, 1500):
        for code in CODES:
            assert packet_bytes(coded_bytes(n, code), code) == n
    assert coded_bytes(105, "cc") == 2 * (105 + 4) + 2
    assert packet_bytes(2 * (105 + 4) + 3, "cc") is None


def test_the_registry_builds_the_psk_modems_and_the_grc_blocks_offer_its_choices():
    assert {"psk-cc", "psk-uncoded"} <= set(MODEMS)
    coded, uncoded = get_modem("psk-cc"), get_modem("psk-uncoded")
    assert coded.code_rate == 0.5 and uncoded.code_rate == 1 and coded.information_bits_per_sample == 0.5
    packets = _packets([50])
    assert [d for d, _ in demodulate(modulate(uncoded.tx(), packets), uncoded.rx())] == packets
    for side in ("tx", "rx"):
        block = yaml.safe_load((GRC_BLOCKS_DIR / f"lamigo_psk_pdu_{side}.block.yml").read_text())
        parameters = {parameter["id"]: parameter for parameter in block["parameters"]}
        assert parameters["constellation"]["options"] == list(CONSTELLATIONS)
        assert parameters["code"]["options"] == list(CODES)


def test_the_psk_and_channel_blocks_compile_in_a_flowgraph(tmp_path, compile_blocks):
    blocks = [
        compile_blocks.STROBE,
        {"name": "tx", "id": "lamigo_psk_pdu_tx", "parameters": {}},
        {"name": "channel", "id": "lamigo_radio_channel", "parameters": {"channel": "multipath", "snr_db": "20.0"}},
        {"name": "rx", "id": "lamigo_psk_pdu_rx", "parameters": {"symbols": "True"}},
        {"name": "sink", "id": "blocks_null_sink", "parameters": {"type": "complex"}},
        {"name": "received", "id": "blocks_message_debug", "parameters": {}},
    ]
    connections = [["source", "strobe", "tx", "in"], ["tx", "0", "channel", "0"], ["channel", "0", "rx", "0"],
                   ["rx", "0", "sink", "0"], ["rx", "out", "received", "store"]]
    text = compile_blocks(tmp_path, "psk_channel_check", blocks, connections)
    assert "lamigo_gr.blocks.modems.psk.psk_pdu_tx(" in text and "lamigo_gr.blocks.channels.radio_channel(" in text
