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
        (parameter,) = block["parameters"]
        assert parameter["options"] == list(MODEMS) and parameter["default"] == "gfsk"


@pytest.mark.parametrize("name", ["gfsk", "ofdm-qpsk-cc"])
def test_the_blocks_carry_packets_through_the_modem_they_name(name):
    rng = np.random.default_rng(0)
    packets = [rng.integers(0, 256, size, dtype=np.uint8).tobytes() for size in (30, 130)]
    received = demodulate(modulate(modem_tx(name), packets), modem_rx(name))
    assert [data for data, _ in received] == packets


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
