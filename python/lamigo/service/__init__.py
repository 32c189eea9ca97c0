"""The decoder service: GO messages in over ZMQ, regenerated images out (`lamigo serve`).

`wire` is the frame format both ends share, `server` the service, `client` what a sender uses,
`curve` the optional encryption. The service (and torch with it) is imported on first use, so
senders that only build frames stay light."""

from typing import Any

from lamigo.service.client import (
    connect_results,
    connect_sender,
    png_to_image,
    receive_reply,
    receive_result,
    send_message,
)
from lamigo.service.curve import CurveKeys, make_curve_keys
from lamigo.service.wire import (
    DEFAULT_MESSAGES_ADDRESS,
    DEFAULT_RESULTS_ADDRESS,
    WIRE_VERSION,
    DecodeRequest,
    OversizedError,
    Refusal,
    message_frames,
    parse_frames,
    parse_reply,
    parse_request,
    parse_result,
    pdu_frames,
    refusal_frames,
    result_frames,
)

__all__ = [
    "DEFAULT_MESSAGES_ADDRESS",
    "DEFAULT_RESULTS_ADDRESS",
    "WIRE_VERSION",
    "CurveKeys",
    "DecodeRequest",
    "DecoderService",
    "OversizedError",
    "Refusal",
    "ServiceConfig",
    "ServiceStats",
    "connect_results",
    "connect_sender",
    "make_curve_keys",
    "message_frames",
    "parse_frames",
    "parse_reply",
    "parse_request",
    "parse_result",
    "pdu_frames",
    "png_to_image",
    "receive_reply",
    "receive_result",
    "refusal_frames",
    "result_frames",
    "send_message",
]

_SERVER_NAMES = ("DecoderService", "ServiceConfig", "ServiceStats")


def __getattr__(name: str) -> Any:
    if name in _SERVER_NAMES:
        from lamigo.service import server

        return getattr(server, name)
    raise AttributeError(f"module 'lamigo.service' has no attribute {name!r}")
