"""The service wire format: how GO messages travel to `lamigo serve` and results come back.

A message to the service is one multipart ZMQ message of three frames:

    0  UTF-8 JSON header {"wire": 1, "kind": "go-message", "message_id": int, "tokens": int,
       "tokens_lost": int, "packets_expected": int, "packets_received": int, ...link stats}
    1  the GO message as `lamigo.message.pack_message` writes it: what arrived, with a
       placeholder index 0 at every token lost on the link
    2  the lost-token bitmap: `np.packbits` of the [h', w'] bool map (True = lost), row-major

`pdu_frames` builds these frames from a PDU's metadata and payload as the GNU Radio blocks pass
them (`message_id`, `lost_map` as a uint8 array of the bitmap above, link statistics).

A result the service publishes is two frames: a UTF-8 JSON record {"wire": 1, "kind": "decoded",
"message_id", "tokens_masked_by_policy", "tokens_lost", "steps", "renoise", "decode_seconds",
"model_set", "height", "width", ...} and the regenerated image as PNG bytes.

Everything here is plain bytes (no sockets), so the GNU Radio blocks and any other client can
build and read frames without the service. `parse_frames` and `parse_result` take input from
the network: anything malformed, truncated, oversized or of another wire version raises
`lamigo.errors.MessageError` and nothing else.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from lamigo.coding.prior import IndexPrior
from lamigo.errors import ConfigError, LamigoError, MessageError
from lamigo.message import GOMessage, pack_message, peek_control, unpack_message

if TYPE_CHECKING:
    from lamigo.link import ReceivedMessage

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_MESSAGES_ADDRESS",
    "DEFAULT_RESULTS_ADDRESS",
    "MAX_HEADER_BYTES",
    "RESERVED_HEADER_KEYS",
    "WIRE_VERSION",
    "OversizedError",
    "WireMessage",
    "checked_message_id",
    "message_frames",
    "parse_frames",
    "pdu_frames",
    "parse_result",
    "received_frames",
    "result_frames",
]

WIRE_VERSION = 1
MESSAGE_KIND = "go-message"
RESULT_KIND = "decoded"
DEFAULT_MESSAGES_ADDRESS = "tcp://127.0.0.1:5557"  #: the service binds PULL here
DEFAULT_RESULTS_ADDRESS = "tcp://127.0.0.1:5558"  #: the service binds PUB here
MAX_HEADER_BYTES = 64 * 1024
DEFAULT_MAX_MESSAGE_BYTES = 1 << 20  #: a 1024x1024 image at 2 bytes a token fits 8 times over
DEFAULT_MAX_TOKENS = 256 * 256  #: latent tokens; a 1024x1024 image with the f=4 VQGAN
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: header fields the wire format sets itself; the rest is the sender's link information
RESERVED_HEADER_KEYS = ("wire", "kind", "message_id", "tokens", "tokens_lost")
#: PDU metadata that is not forwarded into the header: set by the wire format, or its own frame
_PDU_ONLY_KEYS = (*RESERVED_HEADER_KEYS, "lost_map")


class OversizedError(MessageError):
    """A message over the byte or token limit (a MessageError, told apart for counting)."""


@dataclass(eq=False)
class WireMessage:
    """A parsed message frame set: the header, the GO message and its lost-token map."""

    header: dict[str, Any]
    message: GOMessage
    lost: np.ndarray  #: bool [h', w'], True where a sent token was lost on the link

    @property
    def message_id(self) -> int:
        return self.header["message_id"]


def received_frames(received: ReceivedMessage, prior: IndexPrior | None = None) -> list[bytes]:
    """Frames for a message as the link reassembled it (`lamigo.link.Reassembler`)."""
    stats = dataclasses.asdict(received.stats)
    stats["packets_lost"] = received.stats.packets_lost
    return message_frames(
        _with_placeholders(received),
        received.lost,
        message_id=received.message_id,
        prior=prior,
        **{key: value for key, value in stats.items() if key != "tokens_lost"},
    )


def _with_placeholders(received: ReceivedMessage) -> GOMessage:
    """The GO message of what arrived, index 0 standing in for every lost token."""
    indices = np.where(received.lost & ~received.mask, 0, received.indices)
    return GOMessage(
        received.geometry, received.policy, received.mask, indices, received.caption,
        received.index_coder, received.text_coder,
    )


def message_frames(
    msg: GOMessage,
    lost: np.ndarray | None = None,
    *,
    message_id: int = 0,
    prior: IndexPrior | None = None,
    **info: Any,
) -> list[bytes]:
    """Frames for a GO message; `lost` ([h', w'] bool) marks tokens lost on the way (none when
    None). `info` adds JSON-serialisable fields to the header (link statistics, a source name)."""
    shape = msg.geometry.latent_shape
    lost = np.zeros(shape, dtype=bool) if lost is None else np.asarray(lost, dtype=bool)
    if lost.shape != shape:
        raise ConfigError(f"lost-token map {lost.shape} must have the latent shape {shape}")
    if isinstance(message_id, bool) or not isinstance(message_id, (int, np.integer)) or message_id < 0:
        raise ConfigError(f"message_id must be a non-negative integer, got {message_id!r}")
    clashes = sorted(set(info) & set(RESERVED_HEADER_KEYS))
    if clashes:
        raise ConfigError(f"header fields {clashes} are set by the wire format itself")
    header = {
        "wire": WIRE_VERSION,
        "kind": MESSAGE_KIND,
        "message_id": int(message_id),
        "tokens": int(lost.size),
        "tokens_lost": int(lost.sum()),
        **info,
    }
    return [_dump_json(header), pack_message(msg, prior), np.packbits(lost.ravel()).tobytes()]


def checked_message_id(value: Any) -> int:
    """`value` as a message id; MessageError when it is not a non-negative integer."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MessageError(f"message_id {value!r} is not a non-negative integer")
    return value


def pdu_frames(
    meta: dict[str, Any], data: bytes, prior: IndexPrior | None = None, default_id: int = 0
) -> list[bytes]:
    """Frames for a PDU of the GO Depacketizer or GO Message Source: `data` a GO message,
    `meta` its `message_id` (else `default_id`), optional `lost_map` (np.packbits of the lost
    tokens, a uint8 array) and link statistics (plain values, forwarded into the header).
    Raises MessageError on anything malformed."""
    message = unpack_message(data, prior)
    shape = message.geometry.latent_shape
    lost = None
    lost_map = meta.get("lost_map")
    if lost_map is not None:
        if not isinstance(lost_map, np.ndarray) or lost_map.dtype != np.uint8:
            raise MessageError("lost_map metadata must be a u8vector")
        bits = np.unpackbits(lost_map.ravel())
        if bits.size < shape[0] * shape[1]:
            raise MessageError(f"lost_map has {bits.size} bits for {shape[0]}x{shape[1]} tokens")
        lost = bits[: shape[0] * shape[1]].reshape(shape).astype(bool)
    message_id = checked_message_id(meta.get("message_id", default_id))
    info = {key: value for key, value in meta.items()
            if key not in _PDU_ONLY_KEYS and isinstance(value, (bool, int, float, str))}
    return message_frames(message, lost, message_id=message_id, prior=prior, **info)


def parse_frames(
    frames: Sequence[bytes],
    prior: IndexPrior | None = None,
    *,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    max_tokens: int = DEFAULT_MAX_TOKENS,
) -> WireMessage:
    """Read the frames of one message (bytes or `zmq.Frame`). Raises MessageError, saying what is
    wrong, on anything malformed, truncated, larger than the limits or of another version."""
    if isinstance(frames, (bytes, bytearray, memoryview, str)) or len(frames) != 3:
        raise MessageError(f"a GO message on the wire has 3 frames (header, message, lost map), got {len(frames)}")
    header_bytes, message_bytes, lost_bytes = (bytes(frame) for frame in frames)
    header = _load_json(header_bytes, "header")
    _check_kind(header, MESSAGE_KIND)
    message_id = checked_message_id(header.get("message_id"))
    if len(message_bytes) > max_message_bytes:
        raise OversizedError(f"message {message_id} is {len(message_bytes)} bytes, over the limit of {max_message_bytes}")
    try:
        geometry = peek_control(message_bytes).geometry
    except LamigoError as err:
        raise MessageError(f"message {message_id}: {err}") from None
    tokens = geometry.latent_height * geometry.latent_width
    if tokens > max_tokens:
        raise OversizedError(
            f"message {message_id} has {geometry.latent_height}x{geometry.latent_width} tokens, over the "
            f"limit of {max_tokens}"
        )
    try:
        message = unpack_message(message_bytes, prior)
    except LamigoError as err:
        raise MessageError(f"message {message_id}: {err}") from None
    if len(lost_bytes) != math.ceil(tokens / 8):
        raise MessageError(
            f"message {message_id}: lost-token map is {len(lost_bytes)} bytes, {tokens} tokens need "
            f"{math.ceil(tokens / 8)}"
        )
    lost = np.unpackbits(np.frombuffer(lost_bytes, dtype=np.uint8), count=tokens).astype(bool)
    lost = lost.reshape(geometry.latent_shape)
    for key, actual in (("tokens", tokens), ("tokens_lost", int(lost.sum()))):
        if key in header and header[key] != actual:
            raise MessageError(f"message {message_id}: header says {key}={header[key]!r}, the frames hold {actual}")
    return WireMessage(header=header, message=message, lost=lost)


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
    if "message_id" not in record:
        raise MessageError("result record has no message_id")
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
        raise MessageError(f"wire version {version!r}, this end reads version {WIRE_VERSION}")
    if header.get("kind") != kind:
        raise MessageError(f"expected a {kind!r} frame set, got kind {header.get('kind')!r}")
