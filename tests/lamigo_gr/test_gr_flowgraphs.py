"""The flowgraphs: each loads in GRC with no unknown block, compiles with grcc and explains its
options with --help; the loopback carries images over the GFSK modem and a noisy channel to a
decoder service socket; the hardware-free pair carries one over a ZMQ IQ link."""

import re
import subprocess
import sys

import numpy as np
import pytest
import yaml

from lamigo.lami import DecoderSettings, LaMIDecoder
from lamigo.link.channel import snr_db
from lamigo.zoo.sets import load_model_set
from lamigo.service.wire import parse_frames
from lamigo_gr.apps.flowgraphs import FLOWGRAPHS_DIR, check_flowgraph, compile_flowgraph, flowgraph_parameters
from lamigo_gr.apps.loopback import run_loopback

FLOWGRAPHS = sorted(path.stem for path in FLOWGRAPHS_DIR.glob("*.grc"))
TX = ["image_source", "packetizer", "blocks.modems.by_name.modem_tx"]
RX = ["blocks.modems.by_name.modem_rx", "depacketizer", "decoder_client"]
OUR_BLOCKS = {"loopback_sim": TX + RX, "loopback_gui": TX + RX + ["blocks.link_monitor.link_monitor"],
              "loopback_classical": TX + ["blocks.modems.by_name.modem_rx", "classical_receiver"],
              "tx_uhd": TX, "tx_hackrf": TX, "tx_zmq": TX, "rx_uhd": RX, "rx_hackrf": RX, "rx_zmq": RX}
KEYED_BLOCKS = {"packetizer", "depacketizer", "classical_receiver"}
RADIO_BLOCKS = {"tx_uhd": "uhd.usrp_sink", "rx_uhd": "uhd.usrp_source", "tx_hackrf": "soapy.sink",
                "rx_hackrf": "soapy.source", "loopback_sim": "blocks.channels.radio_channel",
                "loopback_classical": "blocks.channels.radio_channel",
                "loopback_gui": "blocks.channels.radio_channel",
                "tx_zmq": "zeromq.push_sink", "rx_zmq": "zeromq.pull_source"}


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("flowgraphs")


def test_every_flowgraph_is_covered():
    assert sorted(OUR_BLOCKS) == FLOWGRAPHS


@pytest.mark.parametrize("name", FLOWGRAPHS)
def test_flowgraph_loads_compiles_and_explains_its_options(name, build_dir):
    assert check_flowgraph(name) == []
    script = compile_flowgraph(name, build_dir)
    code = script.read_text()
    for block in OUR_BLOCKS[name]:
        assert f"lamigo_gr.{block}(" in code
    # Every flowgraph transmits or receives, so each takes the optional packet-authentication
    # key and hands it to each block that signs or checks packets.
    assert flowgraph_parameters(name)["link_key"] == ""
    keyed = [block for block in OUR_BLOCKS[name] if block in KEYED_BLOCKS]
    assert keyed and all(re.search(rf"lamigo_gr\.{block}\([^)]*link_key=link_key", code) for block in keyed)
    assert RADIO_BLOCKS[name] in code
    options = [f"--{parameter.replace('_', '-')}" for parameter in flowgraph_parameters(name)]
    done = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert options and all(option in done.stdout for option in options)


def test_the_per_sweep_explains_its_options():
    done = subprocess.run([sys.executable, "-m", "lamigo_gr.apps.loopback", "--help"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    assert "packet error rate versus SNR" in text
    for option in ("--snr-db", "--modems", "--channels", "--seeds", "--sample-rate", "--baselines", "--out", "--images", "--size", "--model-set", "--noise-seed",
                   "--max-payload", "--control-copies", "--steps", "--renoise"):
        assert option in text


@pytest.mark.parametrize("key, value, problem", [
    ("id", "lamigo_no_such_block", "unknown block 'lamigo_no_such_block'"),  # grcc drops it silently
    ("control_copies", "99", "1 <= control_copies <= 16"),
])
def test_the_check_catches_what_grcc_lets_through(tmp_path, key, value, problem):
    graph = yaml.safe_load((FLOWGRAPHS_DIR / "loopback_sim.grc").read_text())
    packetizer = next(block for block in graph["blocks"] if block["name"] == "packetizer")
    if key == "id":
        packetizer["id"] = value
    else:
        packetizer["parameters"][key] = value
    broken = tmp_path / "broken.grc"
    broken.write_text(yaml.safe_dump(graph))
    assert any(problem in message for message in check_flowgraph(broken))


def _loopback(build_dir, address, noise_voltage, count):
    # the flowgraph takes the SNR per sample; a noise voltage V on the unit-power GFSK signal is -20 log10 V dB
    return run_loopback(build_dir, images="photo:coffee;photo:chelsea", count=count, size="64x64",
                        caption="a cup of coffee", model_set="tiny", control_copies=5,
                        service=address, snr_db=snr_db(noise_voltage), freq_offset=0.001,
                        timing_offset=1.0002, noise_seed=3)


def test_loopback_at_high_snr_delivers_every_packet(build_dir, pull_socket, receive_all):
    socket, address = pull_socket
    result = _loopback(build_dir, address, noise_voltage=0.2, count=2)
    assert result.packets_sent > 0
    assert result.packets_received == result.packets_sent
    assert result.packet_error_rate == 0.0
    messages = [parse_frames(frames) for frames in receive_all(socket)]
    assert [wire.message_id for wire in messages] == [0, 1]
    assert all(wire.link.tokens_lost == 0 and not wire.lost.any() for wire in messages)


def test_loopback_at_low_snr_loses_packets_and_still_decodes(build_dir, pull_socket, receive_all):
    socket, address = pull_socket
    result = _loopback(build_dir, address, noise_voltage=0.62, count=4)
    assert 0 < result.packets_received < result.packets_sent
    messages = [parse_frames(frames) for frames in receive_all(socket)]
    assert len(messages) == result.messages_received > 0
    assert sum(wire.link.packets_lost for wire in messages) > 0
    damaged = [wire for wire in messages if wire.lost.any()]
    assert damaged, "no received message has lost tokens"
    wire = damaged[0]
    assert wire.link.tokens_lost == int(wire.lost.sum())
    decoder = LaMIDecoder(load_model_set("tiny"), DecoderSettings(steps=2, renoise=1, cfg=1.0))
    decoded = decoder.decode_messages([wire])
    assert tuple(decoded.images.shape) == (1, 3, 64, 64)
    regenerated = wire.message.mask | wire.lost
    sent = ~regenerated
    np.testing.assert_array_equal(decoded.indices[0].numpy()[sent], wire.message.indices[sent])


def test_a_classical_file_crosses_the_classical_loopback(build_dir, tmp_path):
    """flowgraphs/loopback_classical.grc headless: a JPEG with restart markers within its budget
    on air through the GFSK modem and a mildly noisy channel into the Classical Receiver, which
    saves the decoded image."""
    from PIL import Image

    from lamigo.evaluation.quality import psnr
    from lamigo.images import fit_image, load_image

    result = run_loopback(build_dir, codec="jpeg-rst", images="photo:coffee", size="64x64", budget=2500,
                          snr_db=snr_db(0.3), noise_seed=1, output_folder=str(tmp_path))
    assert result.messages_sent == 1 and result.sent_meta[0]["codec"] == "jpeg-rst"
    assert len(result.sent[0]) < result.bytes_on_air <= 2500
    assert result.packets_received == result.packets_sent > 0
    (meta, png), = result.received
    assert (meta["codec"], meta["decoded_ok"], meta["header_lost"]) == ("jpeg-rst", True, False)
    assert meta["packets_lost"] == 0
    saved = np.asarray(Image.open(tmp_path / "file_00000.png").convert("RGB"))
    assert psnr(fit_image(load_image("photo:coffee"), (64, 64)), saved) > 25
