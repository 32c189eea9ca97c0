"""Talking to `lamigo serve` from a sender (the GNU Radio decoder-client block, a script):
connect, send GO message frames, receive the published results."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import zmq

from lamigo.errors import MessageError
from lamigo.images import decode_image_bytes
from lamigo.service.curve import CurveKeys
from lamigo.service.wire import DEFAULT_MESSAGES_ADDRESS, DEFAULT_RESULTS_ADDRESS, parse_result

__all__ = ["connect_results", "connect_sender", "png_to_image", "receive_result", "send_message"]


def connect_sender(
    context: zmq.Context,
    address: str = DEFAULT_MESSAGES_ADDRESS,
    *,
    curve: CurveKeys | None = None,
    queue_size: int = 1000,
    linger: float = 2.0,
) -> zmq.Socket:
    """A PUSH socket connected to a service's message address. Several services bound at
    several addresses may be connected one after another: PUSH spreads messages over them.
    At most `queue_size` messages wait for a service; on close, unsent ones get `linger`
    seconds (ZMQ's default, forever, would hang the context's shutdown with no service up)."""
    socket = context.socket(zmq.PUSH)
    socket.sndhwm = queue_size
    socket.linger = int(linger * 1000)
    if curve is not None:
        curve.apply_client(socket)
    socket.connect(address)
    return socket


def connect_results(
    context: zmq.Context, address: str = DEFAULT_RESULTS_ADDRESS, *, curve: CurveKeys | None = None
) -> zmq.Socket:
    """A SUB socket, subscribed to every result, connected to a service's result address.
    PUB/SUB drops what is published before the subscription reached the service: connect before
    sending (ZMQ needs a moment, a few milliseconds on loopback, to pass the subscription on)."""
    socket = context.socket(zmq.SUB)
    socket.subscribe(b"")
    if curve is not None:
        curve.apply_client(socket)
    socket.connect(address)
    return socket


def send_message(socket: zmq.Socket, frames: Sequence[bytes], *, timeout: float | None = None) -> None:
    """Send one message's frames (`lamigo.service.wire.message_frames` or `pdu_frames`).
    Raises TimeoutError when the socket cannot take it within `timeout` seconds (no service
    connected, or all of them busy); waits as long as it takes when None."""
    if timeout is not None and not socket.poll(int(timeout * 1000), zmq.POLLOUT):
        raise TimeoutError(f"no decoder service took the message within {timeout} s")
    socket.send_multipart(list(frames))


def receive_result(socket: zmq.Socket, *, timeout: float | None = None) -> tuple[dict[str, Any], bytes]:
    """The next published result as (record, PNG bytes). Raises TimeoutError when none arrives
    within `timeout` seconds, MessageError when what arrives is not a result."""
    if timeout is not None and not socket.poll(int(timeout * 1000), zmq.POLLIN):
        raise TimeoutError(f"no result within {timeout} s")
    return parse_result(socket.recv_multipart())


def png_to_image(png: bytes) -> np.ndarray:
    """PNG bytes of a result -> uint8 [H, W, 3]."""
    try:
        return decode_image_bytes(png)
    except OSError as err:
        raise MessageError(f"result image is not a readable PNG: {err}") from None
