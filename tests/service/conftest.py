"""Real GO messages of a bundled photo (tiny model set, 64x64) and a service running in a thread."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator

import numpy as np
import pytest
import zmq

from lamigo.images import fit_image, load_image
from lamigo.lami import DecoderSettings, LaMIDecoder
from lamigo.lami.transmitter import Transmitter
from lamigo.masking import make_policy
from lamigo.message import GOMessage
from lamigo.zoo.sets import ModelSet, load_model_set
from lamigo.service import CurveKeys, DecoderService, ServiceConfig
from zmq.utils.monitor import recv_monitor_message

SIZE = (64, 64)
CAPTION = "a cup of coffee on a saucer"


@pytest.fixture(scope="session")
def models() -> ModelSet:
    return load_model_set("tiny")


@pytest.fixture(scope="session")
def decoder(models: ModelSet) -> LaMIDecoder:
    return LaMIDecoder(models, DecoderSettings(steps=2, renoise=1, cfg=3.0))


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    return load_image("photo:coffee")


@pytest.fixture(scope="session")
def make_message(models: ModelSet, photo: np.ndarray) -> Callable[..., GOMessage]:
    """make_message(seed=0, size=SIZE) -> GOMessage of photo:coffee, PRM-masked."""

    def make(seed: int = 0, size: tuple[int, int] = SIZE) -> GOMessage:
        transmitter = Transmitter(models, make_policy("prm", ratio=0.3, seed=seed), size=size)
        return transmitter.encode(fit_image(photo, size), caption=CAPTION)

    return make


@pytest.fixture
def context() -> Iterator[zmq.Context]:
    context = zmq.Context()
    context.linger = 0  # sockets a test drops (with messages a refused peer never took) close at once
    yield context
    context.destroy(linger=0)


@pytest.fixture
def addresses(tmp_path) -> tuple[str, str]:
    """(messages, results) ipc addresses private to the test."""
    return f"ipc://{tmp_path}/messages", f"ipc://{tmp_path}/results"


class Monitor:
    """The ZMQ events (`zmq.EVENT_*`) of one socket, counted as they come: attach it before the
    socket connects or binds, then `wait(event, count)` for peers to have joined."""

    def __init__(self, socket: zmq.Socket, events: int = zmq.EVENT_ALL) -> None:
        self.socket = socket
        self._monitor = socket.get_monitor_socket(events)
        self.seen: Counter[int] = Counter()

    def wait(self, events: int, count: int = 1, timeout: float = 20.0) -> None:
        """Until `count` events among the flags `events` were seen (an AssertionError after `timeout`)."""
        deadline = time.monotonic() + timeout
        while sum(n for event, n in self.seen.items() if event & events) < count:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"timed out waiting for {count} event(s) {events:#x}; seen {dict(self.seen)}"
            if self._monitor.poll(int(min(remaining, 0.5) * 1000)):
                self.seen[recv_monitor_message(self._monitor)["event"]] += 1

    def drain(self) -> Counter[int]:
        """Count the events that came meanwhile; returns every count so far."""
        while self._monitor.poll(0):
            self.seen[recv_monitor_message(self._monitor)["event"]] += 1
        return self.seen

    def close(self) -> None:
        self.socket.disable_monitor()
        self._monitor.close()


def subscribe_results(context: zmq.Context, address: str, curve: CurveKeys | None = None) -> zmq.Socket:
    """A SUB socket to a service's results, returned once its handshake with the service's PUB
    completed: the subscription is the first thing it sends then, long before any result is
    decoded (a fixed sleep stood in for this, and a loaded machine outlasted it)."""
    socket = context.socket(zmq.SUB)
    socket.subscribe(b"")
    if curve is not None:
        curve.apply_client(socket)
    monitor = Monitor(socket, zmq.EVENT_HANDSHAKE_SUCCEEDED)
    socket.connect(address)
    monitor.wait(zmq.EVENT_HANDSHAKE_SUCCEEDED)
    monitor.close()
    return socket


HANDSHAKE_FAILED = (zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                    | zmq.EVENT_HANDSHAKE_FAILED_AUTH)


class RunningService:
    """A DecoderService serving in a thread; `finish()` stops it and returns its stats."""

    def __init__(self, service: DecoderService) -> None:
        self.service = service
        self.stats = None
        service.bind()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self.stats = self.service.run()

    def wait_for(self, condition: Callable[[object], bool], timeout: float = 20.0) -> None:
        """Wait until condition(stats) holds."""
        deadline = time.monotonic() + timeout
        while not condition(self.service.stats):
            assert time.monotonic() < deadline, f"timed out; stats {self.service.stats}"
            time.sleep(0.02)

    def finish(self, timeout: float = 20.0):
        self.service.stop()
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "service did not stop"
        return self.stats


@pytest.fixture
def start_service(decoder: LaMIDecoder) -> Iterator[Callable[..., RunningService]]:
    """start_service(config, decoder=the tiny decoder, **service_kwargs) -> RunningService."""
    running: list[RunningService] = []

    def start(config: ServiceConfig, service_decoder=None, **kwargs) -> RunningService:
        service = DecoderService(service_decoder or decoder, config, model_set="tiny", **kwargs)
        running.append(RunningService(service))
        return running[-1]

    yield start
    for item in running:
        item.finish()
