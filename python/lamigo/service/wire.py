"""The service wire format: how GO messages travel to `lamigo serve` and results come back.

A message to the service is one multipart ZMQ message of three frames (wire version 2):

    0  UTF-8 JSON header {"wire": 2, "kind": "go-message", "message_id": 0..65535,
       "link": {packets_expected, packets_received, ..., tokens_lost} (absent when the message
       did not cross a link), "info": {the sender's plain fields, e.g. "source"} (optional)}
    1  the GO message as `lamigo.message.pack_message` writes it: what arrived, with a
       placeholder index 0 at every token lost on the link
    2  the lost-token bitmap: `np.packbits` of the [h', w'] bool map (True = lost), row-major;
       empty when nothing was lost

`message_frames` builds them from a `lamigo.message.ReceivedMessage`, `parse_frames` reads
them back into one. `pdu_frames` builds them from a PDU as the GNU Radio blocks pass it
(`message_id`, `lost_map` as a uint8 array of the bitmap above, link statistics) without
parsing the GO message, so a client that only forwards needs no model set. Version 1 (the link
statistics mixed into the header, no empty bitmap) is refused with a message that says so.

A result the service publishes is two frames: a UTF-8 JSON record {"wire": 2, "kind": "decoded",
"message_id", "tokens_masked_by_policy", "tokens_lost", "steps", "renoise", "decode_seconds",
"model_set", "height", "width", ...} and the regenerated image as PNG bytes.

Everything here is plain bytes (no sockets), so the GNU Radio blocks and any other client can
build and read frames without the service. `parse_frames` and `parse_result` take input from
the network: anything malformed, truncated, oversized, not decodable by the receiver's limits or
of another wire version raises `lamigo.errors.MessageError` and nothing else.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

import numpy as np

from lamigo.coding.prior import IndexPrior
from lamigo.errors import ConfigError, LamigoError, MessageError
from lamigo.link.packet import check_message_id
from lamigo.message import (
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_MAX_TOKENS,
    LinkStats,
    ReceivedMessage,
    ReceiverLimits,
    pack_message,
    unpack_message,
)

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_MESSAGES_ADDRESS",
    "DEFAULT_RESULTS_ADDRESS",
    "MAX_HEADER_BYTES",
    "WIRE_VERSION",
    "OversizedError",
    "message_frames",
    "parse_frames",
    "pdu_frames",
    "parse_result",
    "result_frames",
]

WIRE_VERSION = 2
MESSAGE_KIND = "go-message"
RESULT_KIND = "decoded"
DEFAULT_MESSAGES_ADDRESS = "tcp://127.0.0.1:5557"  #: the service binds PULL here
DEFAULT_RESULTS_ADDRESS = "tcp://127.0.0.1:5558"  #: the service binds PUB here
MAX_HEADER_BYTES = 64 * 1024
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_LINK_FIELDS = frozenset(item.name for item in fields(LinkStats)) | {"packets_lost"}
#: PDU metadata that is not sender information: the wire format's own, or its own frame
_PDU_OWN_KEYS = frozenset({"message_id", "lost_map", "tokens", "wire", "kind"}) | _LINK_FIELDS
Plain = str | int | float | bool


class OversizedError(MessageError):
    """A message over the byte or token limit (a MessageError, told apart for counting)."""


def message_frames(received: ReceivedMessage, prior: IndexPrior | None = None) -> list[bytes]:
    """Frames for a message as received (`ReceivedMessage.whole` for one sent complete)."""
    header: dict[str, Any] = {"wire": WIRE_VERSION, "kind": MESSAGE_KIND,
                              "message_id": check_message_id(received.message_id)}
    if received.link is not None:
        header["link"] = received.link.as_dict()
    if received.info:
        header["info"] = _plain_fields(received.info, ConfigError)
    lost = np.packbits(received.lost.ravel()).tobytes() if received.lost.any() else b""
    return [_dump_json(header), pack_message(received.message, prior), lost]


def pdu_frames(meta: Mapping[Any, Any], data: bytes, default_id: int = 0) -> list[bytes]:
    """Frames for a PDU of the GO Depacketizer or Image Source, without parsing the GO
    message in `data`: `meta` holds its `message_id` (else `default_id`), optionally `lost_map`
    (a uint8 array), the link statistics (`lamigo.message.LinkStats` fields) and other plain
    fields (forwarded as sender information). Raises MessageError on anything malformed."""
    message_id = check_message_id(meta.get("message_id", default_id))
    header: dict[str, Any] = {"wire": WIRE_VERSION, "kind": MESSAGE_KIND, "message_id": message_id}
    if any(name in meta for name in _LINK_FIELDS):
        header["link"] = LinkStats.from_dict(dict(meta)).as_dict()
    info = _plain_fields({key: value for key, value in meta.items() if key not in _PDU_OWN_KEYS}, MessageError)
    if info:
        header["info"] = info
    lost = b""
    lost_map = meta.get("lost_map")
    if lost_map is not None:
        if not isinstance(lost_map, np.ndarray) or lost_map.dtype != np.uint8:
            raise MessageError("lost_map metadata must be a u8vector")
        lost = lost_map.tobytes()
    return [_dump_json(header), bytes(data), lost]


def _plain_fields(values: Mapping[Any, Any], error: type[Exception]) -> dict[str, Plain]:
    """`values` if every key is a string and every value a plain JSON value (finite numbers)."""
    out = {}
    for key, value in values.items():
        if isinstance(value, np.generic):
            value = value.item()
        if not isinstance(key, str) or not isinstance(value, (str, int, float, bool)):
            raise error(f"field {key!r}={value!r} is not a string key with a plain value")
        if isinstance(value, float) and not math.isfinite(value):
            raise error(f"field {key!r} is {value}, not a finite number")
        out[key] = value
    return out


def parse_frames(
    frames: Sequence[bytes],
    prior: IndexPrior | None = None,
    limits: ReceiverLimits | None = None,
) -> ReceivedMessage:
    """Read the frames of one message (bytes or `zmq.Frame`). Raises MessageError, saying what is
    wrong, on anything malformed, truncated, of another version, or that `limits` refuse (an
    OversizedError for the byte and token limits) before any of it is decoded."""
    limits = limits or ReceiverLimits()
    if isinstance(frames, (bytes, bytearray, memoryview, str)) or len(frames) != 3:
        raise MessageError(f"a GO message on the wire has 3 frames (header, message, lost map), got {len(frames)}")
    header_bytes, message_bytes, lost_bytes = (bytes(frame) for frame in frames)
    header = _load_json(header_bytes, "header")
    _check_kind(header, MESSAGE_KIND)
    unknown = sorted(set(header) - {"wire", "kind", "message_id", "link", "info"})
    if unknown:
        raise MessageError(f"header fields {unknown} are not part of wire version {WIRE_VERSION}")
    message_id = check_message_id(header.get("message_id"))
    link = LinkStats.from_dict(header["link"]) if "link" in header else None
    info = header.get("info", {})
    if not isinstance(info, dict):
        raise MessageError("header info must be an object")
    info = _plain_fields(info, MessageError)
    if len(message_bytes) > limits.max_message_bytes:
        raise OversizedError(f"message {message_id} is {len(message_bytes)} bytes, over the limit of "
                             f"{limits.max_message_bytes}")

    def accept(geometry) -> None:
        tokens = geometry.latent_height * geometry.latent_width
        if tokens > limits.max_tokens:
            raise OversizedError(f"{geometry.latent_height}x{geometry.latent_width} tokens, over the limit "
                                 f"of {limits.max_tokens}")
        limits.check(geometry)
        if lost_bytes and len(lost_bytes) != math.ceil(tokens / 8):
            raise MessageError(f"lost-token map is {len(lost_bytes)} bytes, {tokens} tokens need "
                               f"{math.ceil(tokens / 8)}")

    try:
        message = unpack_message(message_bytes, prior, accept)
        shape = message.geometry.latent_shape
        if lost_bytes:
            lost = np.unpackbits(np.frombuffer(lost_bytes, dtype=np.uint8), count=shape[0] * shape[1])
            lost = lost.reshape(shape).astype(bool)
        else:
            lost = np.zeros(shape, dtype=bool)
        return ReceivedMessage(message_id, message, lost, link, info)
    except OversizedError as err:
        raise OversizedError(f"message {message_id}: {err}") from None
    except LamigoError as err:
        raise MessageError(f"message {message_id}: {err}") from None


def result_frames(record: dict[str, Any], png: bytes) -> list[bytes]:
    """Frames of one published result: the JSON record (stamped with wire version and kind)
    and the PNG bytes."""
    if "message_id" not in record:
        raise ConfigError("a result record needs its message_id")
    if not bytes(png[: len(PNG_SIGNATURE)]) == PNG_SIGNATURE:
        raise ConfigError("result image must be PNG bytes")
    return [_dump_json({**record, "wire": WIRE_VERSION, "kind": RESULT_KIND}), bytes(png)]


def parse_result(frames: Sequence[bytes]) -> tuple[dict[str, Any], bytes]:
    """Read a published result: (record, PNG bytes). Raises MessageError when malformed."""
    if len(frames) != 2:
        raise MessageError(f"a result on the wire has 2 frames (record, PNG), got {len(frames)}")
    record = _load_json(bytes(frames[0]), "result record")
    _check_kind(record, RESULT_KIND)
    check_message_id(record.get("message_id"))
    png = bytes(frames[1])
    if not png.startswith(PNG_SIGNATURE):
        raise MessageError(f"result {record['message_id']}: image frame is not a PNG")
    return record, png


def _dump_json(value: dict[str, Any]) -> bytes:
    def plain(item: Any) -> Any:
        if isinstance(item, np.generic):
            return item.item()
        raise ConfigError(f"header field value {item!r} is not JSON-serialisable")

    return json.dumps(value, separators=(",", ":"), default=plain, allow_nan=False).encode()


def _load_json(data: bytes, what: str) -> dict[str, Any]:
    if len(data) > MAX_HEADER_BYTES:
        raise MessageError(f"{what} is {len(data)} bytes, over the limit of {MAX_HEADER_BYTES}")
    try:
        value = json.loads(data.decode("utf-8"), parse_constant=_no_constant, parse_float=_finite_float)
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise MessageError(f"{what} is not UTF-8 JSON: {err}") from None
    if not isinstance(value, dict):
        raise MessageError(f"{what} must be a JSON object, got {type(value).__name__}")
    return value


def _no_constant(name: str) -> None:
    # json accepts NaN and Infinity, which no JSON writer (ours included) may write back out
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 reads as inf
        raise ValueError(f"{text} is not a finite number")
    return value


def _check_kind(header: dict[str, Any], kind: str) -> None:
    version = header.get("wire")
    if version != WIRE_VERSION:
        raise MessageError(f"wire version {version!r}, this end reads version {WIRE_VERSION} (version 1 "
                           "mixed the link statistics into the header: update the sender)")
    if header.get("kind") != kind:
        raise MessageError(f"expected a {kind!r} frame set, got kind {header.get('kind')!r}")
