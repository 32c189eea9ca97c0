"""Shared pieces of the GNU Radio block tests: small GO messages (64x64 images, tiny models)."""

import pytest
import zmq

from lamigo.images import load_image
from lamigo.lami.transmitter import Transmitter
from lamigo.masking import make_policy
from lamigo.zoo.sets import load_model_set

CAPTION = "a cup of coffee on a saucer"


@pytest.fixture(scope="session")
def go_message_bytes() -> bytes:
    """A packed GO message of photo:coffee at 64x64 with the tiny model set (no index prior)."""
    transmitter = Transmitter(load_model_set("tiny"), make_policy("prm", ratio=0.25, seed=0),
                              size=(64, 64))
    return transmitter.pack(transmitter.encode(load_image("photo:coffee"), CAPTION))


@pytest.fixture
def pull_socket():
    """(a PULL socket bound to a free local port, its address): the decoder service's end."""
    socket = zmq.Context.instance().socket(zmq.PULL)
    socket.setsockopt(zmq.LINGER, 0)
    port = socket.bind_to_random_port("tcp://127.0.0.1")
    yield socket, f"tcp://127.0.0.1:{port}"
    socket.close()


def _receive_all(socket: zmq.Socket, quiet_ms: int = 500) -> list[list[bytes]]:
    messages = []
    while socket.poll(quiet_ms):
        messages.append(socket.recv_multipart())
    return messages


@pytest.fixture(scope="session")
def receive_all():
    """receive_all(socket, quiet_ms=500): every multipart message that arrives until the socket
    is quiet for `quiet_ms`."""
    return _receive_all


def _compile_blocks(tmp_path, name: str, blocks: list[dict], connections: list[list[str]]) -> str:
    """Write a no-GUI flowgraph `name` of `blocks` (GRC block dicts without states, laid out left
    to right) and `connections`, check it with GRC's loader and compile it with grcc; the
    generated script's text."""
    import yaml

    from lamigo_gr.apps.flowgraphs import check_flowgraph, compile_flowgraph

    graph = {"options": {"parameters": {"id": name, "generate_options": "no_gui", "title": name,
                                        "output_language": "python", "run": "True"},
                         "states": {"coordinate": [8, 8], "rotation": 0, "state": "enabled"}},
             "blocks": [{**block, "states": {"coordinate": [200 * i, 100], "rotation": 0, "state": "enabled"}}
                        for i, block in enumerate(blocks)],
             "connections": connections, "metadata": {"file_format": 1}}
    path = tmp_path / f"{name}.grc"
    path.write_text(yaml.safe_dump(graph))
    assert check_flowgraph(path) == []
    return compile_flowgraph(path, tmp_path).read_text()


#: a message strobe sending 8-byte PDUs, the source of the modem flowgraphs the tests compile
_compile_blocks.STROBE = {"name": "source", "id": "blocks_message_strobe",
                          "parameters": {"msg": "pmt.cons(pmt.make_dict(), pmt.init_u8vector(8, list(range(8))))",
                                         "period": "100"}}


@pytest.fixture(scope="session")
def compile_blocks():
    """compile_blocks(tmp_path, name, blocks, connections): a small flowgraph written, checked by
    GRC and compiled by grcc; the generated script's text. `compile_blocks.STROBE` is a message
    strobe block named source, sending 8-byte PDUs."""
    return _compile_blocks


@pytest.fixture
def gr_info_logging():
    """GNU Radio's default log level at info while a test's blocks are built (an app run earlier
    in the session may have set warn, as the loopback sweep does), restored after."""
    from gnuradio import gr

    logging = gr.logging()
    level = logging.default_level()
    logging.set_default_level(gr.log_levels.info)
    yield
    logging.set_default_level(level)
