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
