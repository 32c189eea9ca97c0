"""The modem blocks by name (lamigo_gr.blocks.modems.by_name): the GRC choices are the registry's
names, a flowgraph of Modem Tx / Modem Rx compiles with grcc for a modem named by a parameter,
and the blocks carry packets through the modem they name."""

import numpy as np
import pytest
import yaml

from lamigo.errors import ConfigError
from lamigo_gr.apps.flowgraphs import GRC_BLOCKS_DIR
from lamigo_gr.blocks.modems import MODEMS
from lamigo_gr.blocks.modems.by_name import modem_rx, modem_tx
from lamigo_gr.support.burst_link import demodulate, modulate


def test_the_grc_choices_are_the_registry():
    for side in ("tx", "rx"):
        block = yaml.safe_load((GRC_BLOCKS_DIR / f"lamigo_modem_{side}.block.yml").read_text())
        parameter = block["parameters"][0]
        assert parameter["id"] == "modem"
        assert parameter["options"] == list(MODEMS) and parameter["default"] == "gfsk"


@pytest.mark.parametrize("name", ["gfsk", "ofdm-qpsk-cc"])
def test_the_blocks_carry_packets_through_the_modem_they_name(name):
    rng = np.random.default_rng(0)
    packets = [rng.integers(0, 256, size, dtype=np.uint8).tobytes() for size in (30, 130)]
    received = demodulate(modulate(modem_tx(name), packets), modem_rx(name))
    assert [data for data, _ in received] == packets


@pytest.mark.parametrize("name", ["gfsk", "psk-cc"])
def test_the_symbols_output_gives_complex_symbols(name):
    """Modem Rx's symbols output (for a constellation sink): GFSK's real soft symbols made complex."""
    from gnuradio import blocks, gr

    rx = modem_rx(name, symbols=True)
    assert rx.output_signature().sizeof_stream_item(0) == gr.sizeof_gr_complex
    bursts = modulate(modem_tx(name), [bytes(range(40))])
    top_block, sink = gr.top_block(), blocks.vector_sink_c()
    top_block.connect(blocks.vector_source_c(bursts.samples.tolist() + [0j] * 4000), rx, sink)
    top_block.run()
    symbols = np.array(sink.data())
    assert np.count_nonzero(np.abs(symbols) > 0.1) > 150  # the burst's symbols (a 40-byte packet: 320+ bits)
    if name == "gfsk":
        assert not symbols.imag.any()


def _own_shm_segments() -> int:
    import os
    import subprocess

    table = subprocess.run(["ipcs", "-m", "-p"], capture_output=True, text=True).stdout.splitlines()
    return sum(1 for line in table if line[:1].isdigit() and line.split()[2] == str(os.getpid()))


@pytest.mark.parametrize("name", ["gfsk", "psk-cc", "ofdm-qpsk-cc"])
def test_a_finished_link_frees_gnu_radios_shared_memory(name):
    """burst_link.release drops every block's buffers (SysV segments, 4096 per machine), the
    Python blocks' reference cycles notwithstanding: runs leave none of this process's behind."""
    modulate(modem_tx(name), [bytes(50)])  # the first run's one-time allocations
    before = _own_shm_segments()
    for _ in range(2):
        demodulate(modulate(modem_tx(name), [bytes(range(60))]), modem_rx(name))
    assert _own_shm_segments() <= before


def test_an_unknown_modem_names_the_choices():
    with pytest.raises(ConfigError, match="ofdm-bpsk"):
        modem_tx("ofdm-8psk")


def test_a_flowgraph_takes_the_modem_by_parameter_and_compiles(tmp_path, compile_blocks):
    blocks = [
        {"name": "modem", "id": "parameter", "parameters": {"type": "str", "value": "ofdm-bpsk-cc"}},
        compile_blocks.STROBE,
        {"name": "tx", "id": "lamigo_modem_tx", "parameters": {"modem": "modem"}},
        {"name": "rx", "id": "lamigo_modem_rx", "parameters": {"modem": "modem"}},
        {"name": "received", "id": "blocks_message_debug", "parameters": {}},
    ]
    connections = [["source", "strobe", "tx", "in"], ["tx", "0", "rx", "0"], ["rx", "out", "received", "store"]]
    text = compile_blocks(tmp_path, "modem_check", blocks, connections)
    assert "lamigo_gr.blocks.modems.by_name.modem_tx(modem=modem)" in text
    assert "default='ofdm-bpsk-cc'" in text or "default=\"ofdm-bpsk-cc\"" in text
