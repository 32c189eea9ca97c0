"""The service wire format: how GO messages travel to `lamigo serve` and results come back.

A message to the service is one multipart ZMQ message of three frames (wire version 2):

    0  UTF-8 JSON header {"wire": 2, "kind": "go-message", "message_id": 0..65535,
       "link": {packets_expected, packets_received, ..., tokens_lost} (absent when the message
       did not cross a link), "info": {the sender's plain fields, e.g. "source"} (optional),
       "decoder": {"steps", "renoise", "cfg", "cfg_steps", "temperature", "renoise_scope",
       "seed", "plain"} (optional: how to decode this message, every field given; absent, the
       service decodes with its own settings)}
    1  the GO message as `lamigo.message.pack_message` writes it: what arrived, with a
       placeholder index 0 at every token lost on the link
    2  the lost-token bitmap: `np.packbits` of the [h', w'] bool map (True = lost), row-major;
       empty when nothing was lost

`message_frames` builds them from a `lamigo.message.ReceivedMessage` (and a `DecodeRequest`),
`parse_frames` reads them back into one (`parse_request` into one and its request, for the
service; it refuses a request asking for more than `max_steps` denoising steps) (`received_from_pdu` reads a PDU into one where it is, without frames).
`pdu_frames` builds them from a PDU as the GNU Radio blocks pass it
(`message_id`, `lost_map` as a uint8 array of the bitmap above, link statistics) without
parsing the GO message, so a client that only forwards needs no model set. Version 1 (the link
statistics mixed into the header, no empty bitmap) is refused with a message that says so.

A result the service publishes is two frames: a UTF-8 JSON record {"wire": 2, "kind": "decoded",
"message_id", "tokens_masked_by_policy", "tokens_lost", "steps", "renoise", "decode_seconds",
"model_set", "height", "width", ...} and the regenerated image as PNG bytes. A client that
asks `parse_result` for `max_pixels` accepts only a PNG that decodes to an RGB image of the
record's height and width, of at most that many pixels, in at most `max_png_bytes` of them
(the bound to give ZMQ as the results socket's `maxmsgsize`).

A message the service refuses (its header gave an id, but the service's model set cannot decode
it, or it is over a limit, or its batch failed) is answered with a refusal, a frame kind added
in wire version 2 beside "decoded": two frames, a UTF-8 JSON record {"wire": 2, "kind":
"refused", "message_id", "reason" (at most `MAX_REASON_CHARS`), "counter" ("malformed",
"oversized" or "failed"), "model_set"} and an empty frame (`refusal_frames`, `Refusal`).
`parse_reply` reads either kind with the same bounds; `parse_result` reads decoded results
only, so a reader of results alone drops a refusal as another kind. Results keep their format.

Everything here is plain bytes (no sockets), so the GNU Radio blocks and any other client can
build and read frames without the service. `parse_frames` and `parse_result` take input from
the network: anything malformed, truncated, oversized, not decodable by the receiver's limits or
of another wire version raises `lamigo.errors.MessageError` and nothing else.
"""

from __future__ import annotations

import io
import json
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from PIL import Image

from lamigo.coding.prior import IndexPrior
from lamigo.errors import ConfigError, LamigoError, MessageError
from lamigo.lami.settings import DecoderSettings
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
    "DEFAULT_MAX_RESULT_PIXELS",
    "DEFAULT_MAX_STEPS",
    "DEFAULT_MESSAGES_ADDRESS",
    "DEFAULT_RESULTS_ADDRESS",
    "MAX_HEADER_BYTES",
    "MAX_REASON_CHARS",
    "WIRE_VERSION",
    "DecodeRequest",
    "OversizedError",
    "Refusal",
    "max_png_bytes",
    "message_frames",
    "parse_frames",
    "pdu_frames",
    "parse_reply",
    "parse_request",
    "parse_result",
    "received_from_pdu",
    "refusal_frames",
    "result_frames",
]

WIRE_VERSION = 2
MESSAGE_KIND = "go-message"
RESULT_KIND = "decoded"
REFUSED_KIND = "refused"
MAX_REASON_CHARS = 1000  #: a refusal's reason is cut to this many characters
REFUSAL_COUNTERS = ("malformed", "oversized", "failed")  #: the service's counters of refused messages
_REFUSAL_FIELDS = frozenset({"wire", "kind", "message_id", "reason", "counter", "model_set"})
DEFAULT_MESSAGES_ADDRESS = "tcp://127.0.0.1:5557"  #: the service binds PULL here
DEFAULT_RESULTS_ADDRESS = "tcp://127.0.0.1:5558"  #: the service binds PUB here
MAX_HEADER_BYTES = 64 * 1024
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: the largest result image a client accepts unless told otherwise: 1024x1024, what the service
#: decodes at most by default (DEFAULT_MAX_TOKENS latent tokens of the f=4 VQGAN)
DEFAULT_MAX_RESULT_PIXELS = 16 * DEFAULT_MAX_TOKENS
#: the most denoising steps a message may ask the service for unless told otherwise: the
#: paper's longest setting, tau/T 194/200
DEFAULT_MAX_STEPS = 200
_SEED_LIMIT = 2**32
_LINK_FIELDS = frozenset(item.name for item in fields(LinkStats)) | {"packets_lost"}
#: PDU metadata that is not sender information: the wire format's own, or its own frame
_PDU_OWN_KEYS = frozenset({"message_id", "lost_map", "tokens", "wire", "kind"}) | _LINK_FIELDS
Plain = str | int | float | bool


class OversizedError(MessageError):
    """A message over the byte or token limit (a MessageError, told apart for counting)."""


@dataclass(frozen=True)
class DecodeRequest:
    """How a sender asks the service to decode one message: the LaMI decoder's settings (its
    seed included) and ``plain``, Paella's sampling from noise without LaMI (the ablation of
    `LaMIDecoder.decode`)."""

    settings: DecoderSettings
    plain: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The request as the header's "decoder" object."""
        return {**self.settings.as_dict(), "plain": self.plain}


_REQUEST_FIELDS = frozenset(DecodeRequest(DecoderSettings()).as_dict())


def message_frames(received: ReceivedMessage, prior: IndexPrior | None = None,
                   request: DecodeRequest | None = None) -> list[bytes]:
    """Frames for a message as received (`ReceivedMessage.whole` for one sent complete), with
    `request` the settings the service is to decode it with (None: the service's own)."""
    header: dict[str, Any] = {"wire": WIRE_VERSION, "kind": MESSAGE_KIND,
                              "message_id": check_message_id(received.message_id)}
    if received.link is not None:
        header["link"] = received.link.as_dict()
    if received.info:
        header["info"] = _plain_fields(received.info, ConfigError)
    if request is not None:
        if not 0 <= request.settings.seed < _SEED_LIMIT:
            raise ConfigError(f"a decode request's seed must be a 32-bit unsigned integer, got {request.settings.seed}")
        header["decoder"] = request.as_dict()
    lost = np.packbits(received.lost.ravel()).tobytes() if received.lost.any() else b""
    return [_dump_json(header), pack_message(received.message, prior), lost]


def pdu_frames(meta: Mapping[Any, Any], data: bytes, default_id: int = 0) -> list[bytes]:
    """Frames for a PDU of the GO Depacketizer or Image Source, without parsing the GO
    message in `data`: `meta` holds its `message_id` (else `default_id`), optionally `lost_map`
    (a uint8 array), the link statistics (`lamigo.message.LinkStats` fields) and other plain
    fields (forwarded as sender information). Raises MessageError on anything malformed."""
    message_id, link, info, lost = _pdu_parts(meta, default_id)
    header: dict[str, Any] = {"wire": WIRE_VERSION, "kind": MESSAGE_KIND, "message_id": message_id}
    if link is not None:
        header["link"] = link.as_dict()
    if info:
        header["info"] = info
    return [_dump_json(header), bytes(data), lost]


def _pdu_parts(meta: Mapping[Any, Any], default_id: int) -> tuple[int, LinkStats | None, dict[str, Plain], bytes]:
    """A PDU's message id, link statistics, sender information and lost-token bitmap."""
    message_id = check_message_id(meta.get("message_id", default_id))
    link = LinkStats.from_dict(dict(meta)) if any(name in meta for name in _LINK_FIELDS) else None
    info = _plain_fields({key: value for key, value in meta.items() if key not in _PDU_OWN_KEYS}, MessageError)
    lost_map = meta.get("lost_map")
    if lost_map is not None and (not isinstance(lost_map, np.ndarray) or lost_map.dtype != np.uint8):
        raise MessageError("lost_map metadata must be a u8vector")
    return message_id, link, info, b"" if lost_map is None else lost_map.tobytes()


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
    OversizedError for the byte and token limits) before any of it is decoded; a message that
    asks for decoder settings is refused (`parse_request` reads those)."""
    received, request = _parse(frames, prior, limits, None)
    if request is not None:
        raise MessageError(f"message {received.message_id} asks for decoder settings, which this receiver "
                           "does not take")
    return received


def parse_request(
    frames: Sequence[bytes],
    prior: IndexPrior | None = None,
    limits: ReceiverLimits | None = None,
    max_steps: int = DEFAULT_MAX_STEPS,
) -> tuple[ReceivedMessage, DecodeRequest | None]:
    """Read the frames of one message as `parse_frames` does, and the settings it asks to be
    decoded with (None when it asks for none). Raises MessageError as `parse_frames` does, and
    when the request is malformed or asks for more than `max_steps` denoising steps."""
    return _parse(frames, prior, limits, max_steps)


def _parse(frames: Sequence[bytes], prior: IndexPrior | None, limits: ReceiverLimits | None,
           max_steps: int | None) -> tuple[ReceivedMessage, DecodeRequest | None]:
    limits = limits or ReceiverLimits()
    if isinstance(frames, (bytes, bytearray, memoryview, str)) or len(frames) != 3:
        raise MessageError(f"a GO message on the wire has 3 frames (header, message, lost map), got {len(frames)}")
    header_bytes, message_bytes, lost_bytes = (bytes(frame) for frame in frames)
    header = _load_json(header_bytes, "header")
    try:
        return _parse_header(header, message_bytes, lost_bytes, prior, limits, max_steps)
    except MessageError as err:
        if err.message_id is None:  # the id the header gives, so the service can answer the sender
            err.message_id = _id_or_none(header.get("message_id"))
        raise


def _parse_header(header: dict[str, Any], message_bytes: bytes, lost_bytes: bytes, prior: IndexPrior | None,
                  limits: ReceiverLimits, max_steps: int | None) -> tuple[ReceivedMessage, DecodeRequest | None]:
    _check_kind(header, MESSAGE_KIND)
    unknown = sorted(set(header) - {"wire", "kind", "message_id", "link", "info", "decoder"})
    if unknown:
        raise MessageError(f"header fields {unknown} are not part of wire version {WIRE_VERSION}")
    message_id = check_message_id(header.get("message_id"))
    link = LinkStats.from_dict(header["link"]) if "link" in header else None
    info = header.get("info", {})
    if not isinstance(info, dict):
        raise MessageError("header info must be an object")
    info = _plain_fields(info, MessageError)
    request = None
    if "decoder" in header:
        if max_steps is None:
            raise MessageError(f"message {message_id} asks for decoder settings, which this receiver does not take")
        request = _decode_request(message_id, header["decoder"], max_steps)
    return _received(message_id, message_bytes, lost_bytes, link, info, prior, limits), request


def _decode_request(message_id: int, value: Any, max_steps: int) -> DecodeRequest:
    """The header's "decoder" object as a request: every field present, of its type, within
    the bounds `DecoderSettings` checks, and at most `max_steps` steps."""
    def whole(item: Any) -> bool:
        return type(item) is int

    def number(item: Any) -> bool:  # an int that float() takes without overflow, or a (finite) float
        return type(item) is float or whole(item) and abs(item) <= 2**53

    where = f"message {message_id}: decoder settings"
    if not isinstance(value, dict) or set(value) != _REQUEST_FIELDS:
        raise MessageError(f"{where} must be an object of exactly {sorted(_REQUEST_FIELDS)}")
    temperature = value["temperature"]
    checks = {
        "steps": whole(value["steps"]), "renoise": whole(value["renoise"]), "cfg": number(value["cfg"]),
        "cfg_steps": value["cfg_steps"] is None or whole(value["cfg_steps"]),
        "temperature": isinstance(temperature, list) and len(temperature) == 2 and all(map(number, temperature)),
        "renoise_scope": isinstance(value["renoise_scope"], str),
        "seed": whole(value["seed"]) and 0 <= value["seed"] < _SEED_LIMIT,
        "plain": type(value["plain"]) is bool,
    }
    wrong = sorted(name for name, good in checks.items() if not good)
    if wrong:
        raise MessageError(f"{where}: {', '.join(wrong)} not of the right type or range")
    if not 1 <= value["steps"] <= max_steps:
        raise MessageError(f"{where}: {value['steps']} denoising steps, this service takes 1 to {max_steps}")
    try:
        settings = DecoderSettings(
            steps=value["steps"], renoise=value["renoise"], cfg=float(value["cfg"]), cfg_steps=value["cfg_steps"],
            temperature=tuple(temperature), renoise_scope=value["renoise_scope"], seed=value["seed"])
    except ConfigError as err:
        raise MessageError(f"{where}: {err}") from None
    return DecodeRequest(settings, value["plain"])


def received_from_pdu(
    meta: Mapping[Any, Any],
    data: bytes,
    prior: IndexPrior | None = None,
    limits: ReceiverLimits | None = None,
) -> ReceivedMessage:
    """The message a PDU of the GO Depacketizer carries (as `pdu_frames` reads it), read in
    the process that holds the PDU: what `parse_frames(pdu_frames(meta, data))` gives, without
    the service's frames in between. Raises MessageError as `parse_frames` does."""
    message_id, link, info, lost_bytes = _pdu_parts(meta, 0)
    return _received(message_id, bytes(data), lost_bytes, link, info, prior, limits or ReceiverLimits())


def _received(message_id: int, message_bytes: bytes, lost_bytes: bytes, link: LinkStats | None,
              info: dict[str, Plain], prior: IndexPrior | None, limits: ReceiverLimits) -> ReceivedMessage:
    """The message, checked against `limits` from its control block before it is decoded."""
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
        raise _refused(OversizedError, message_id, err) from None
    except LamigoError as err:
        raise _refused(MessageError, message_id, err) from None


def _refused(kind: type[MessageError], message_id: int, err: Exception) -> MessageError:
    """`err` about message `message_id`: "message N: err", with the id and the reason apart."""
    error = kind(f"message {message_id}: {err}")
    error.message_id, error.reason = message_id, str(err)
    return error


def _id_or_none(value: Any) -> int | None:
    try:
        return check_message_id(value)
    except MessageError:
        return None


def result_frames(record: dict[str, Any], png: bytes) -> list[bytes]:
    """Frames of one published result: the JSON record (stamped with wire version and kind)
    and the PNG bytes."""
    if "message_id" not in record:
        raise ConfigError("a result record needs its message_id")
    if not bytes(png[: len(PNG_SIGNATURE)]) == PNG_SIGNATURE:
        raise ConfigError("result image must be PNG bytes")
    return [_dump_json({**record, "wire": WIRE_VERSION, "kind": RESULT_KIND}), bytes(png)]


@dataclass(frozen=True)
class Refusal:
    """The service's answer to a message it did not decode: the message's id, why (the error,
    e.g. "message uses a codebook of 512, this receiver's model 1024: use the same model set on
    both ends"), which of its counters counted it (`REFUSAL_COUNTERS`) and its model set."""

    message_id: int
    reason: str
    counter: str
    model_set: str = ""


def refusal_frames(refusal: Refusal) -> list[bytes]:
    """Frames of one refusal: the JSON record and an empty frame (a result's two frames)."""
    if refusal.counter not in REFUSAL_COUNTERS:
        raise ConfigError(f"a refusal is counted as one of {REFUSAL_COUNTERS}, got {refusal.counter!r}")
    record = {"wire": WIRE_VERSION, "kind": REFUSED_KIND, "message_id": check_message_id(refusal.message_id),
              "reason": refusal.reason[:MAX_REASON_CHARS], "counter": refusal.counter,
              "model_set": refusal.model_set[:MAX_REASON_CHARS]}
    return [_dump_json(record), b""]


def parse_reply(frames: Sequence[bytes], max_pixels: int | None = None) -> tuple[dict[str, Any], bytes] | Refusal:
    """Read what the service published: a result as `parse_result` reads it, or a `Refusal`.
    Raises MessageError when malformed (a refusal too: its fields, types and lengths checked)."""
    record = _reply_record(frames)
    if record.get("kind") != REFUSED_KIND:
        return _decoded(record, bytes(frames[1]), max_pixels)
    _check_kind(record, REFUSED_KIND)
    unknown = sorted(set(record) - _REFUSAL_FIELDS)
    if unknown:
        raise MessageError(f"refusal fields {unknown} are not part of wire version {WIRE_VERSION}")
    message_id = check_message_id(record.get("message_id"))
    reason, counter, model_set = record.get("reason"), record.get("counter"), record.get("model_set", "")
    if not isinstance(reason, str) or not isinstance(model_set, str) or max(len(reason), len(model_set)) > MAX_REASON_CHARS:
        raise MessageError(f"refusal of message {message_id}: reason and model set must be text of at most "
                           f"{MAX_REASON_CHARS} characters")
    if counter not in REFUSAL_COUNTERS:
        raise MessageError(f"refusal of message {message_id}: counter {counter!r} is none of {REFUSAL_COUNTERS}")
    if len(frames[1]):
        raise MessageError(f"refusal of message {message_id}: its second frame must be empty")
    return Refusal(message_id, reason, counter, model_set)


def parse_result(frames: Sequence[bytes], max_pixels: int | None = None) -> tuple[dict[str, Any], bytes]:
    """Read a published result: (record, PNG bytes). Raises MessageError when malformed (a
    refusal included: another kind); with `max_pixels`, also unless the PNG decodes to an RGB
    image of the record's height and width and at most that many pixels (its header is read
    first, so a forged size costs nothing)."""
    return _decoded(_reply_record(frames), bytes(frames[1]), max_pixels)


def _reply_record(frames: Sequence[bytes]) -> dict[str, Any]:
    if isinstance(frames, (bytes, bytearray, memoryview, str)) or len(frames) != 2:
        raise MessageError(f"a result on the wire has 2 frames (record, PNG), got {len(frames)}")
    return _load_json(bytes(frames[0]), "result record")


def _decoded(record: dict[str, Any], png: bytes, max_pixels: int | None) -> tuple[dict[str, Any], bytes]:
    _check_kind(record, RESULT_KIND)
    message_id = check_message_id(record.get("message_id"))
    if not png.startswith(PNG_SIGNATURE):
        raise MessageError(f"result {message_id}: image frame is not a PNG")
    if max_pixels is not None:
        _check_result_image(message_id, record, png, max_pixels)
    return record, png


def max_png_bytes(pixels: int) -> int:
    """The most bytes an RGB PNG of `pixels` pixels takes as Pillow writes it: raw rows (3 bytes
    a pixel and a filter byte a row) in stored deflate blocks, with room for the chunks."""
    return 3 * pixels + pixels // 64 + 64 * 1024


def _check_result_image(message_id: int, record: dict[str, Any], png: bytes, max_pixels: int) -> None:
    height, width = record.get("height"), record.get("width")
    if not all(type(side) is int and side > 0 for side in (height, width)):
        raise MessageError(f"result {message_id}: the record gives no image height and width")
    if height * width > max_pixels:
        raise MessageError(f"result {message_id}: a {height}x{width} image, over this client's limit of "
                           f"{max_pixels} pixels")
    if len(png) > max_png_bytes(height * width):
        raise MessageError(f"result {message_id}: {len(png)} bytes, more than a {height}x{width} PNG takes")
    _check_png_chunks(message_id, png)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(png), formats=["PNG"]) as image:
                if image.size != (width, height) or image.mode != "RGB":  # from the header alone
                    raise MessageError(f"result {message_id}: the PNG holds a {image.size[1]}x{image.size[0]} "
                                       f"{image.mode} image, the record says {height}x{width} RGB")
                image.load()
    except MessageError:
        raise
    except Exception as err:  # Pillow raises many kinds on a damaged file (OSError, SyntaxError, ...)
        raise MessageError(f"result {message_id}: the PNG does not decode: {err}") from None


#: PNG chunks whose contents Pillow inflates besides the image (up to 64 MB of text): never
#: written by the service, so refused in a result
_INFLATED_CHUNKS = frozenset({b"zTXt", b"iTXt", b"iCCP"})
_MAX_PNG_CHUNKS = 1024  # Pillow writes a 1024x1024 result in about 50


def _check_png_chunks(message_id: int, png: bytes) -> None:
    position, chunks = len(PNG_SIGNATURE), 0
    while position + 8 <= len(png):
        length = int.from_bytes(png[position:position + 4], "big")
        kind = png[position + 4:position + 8]
        chunks += 1
        if kind in _INFLATED_CHUNKS:
            raise MessageError(f"result {message_id}: the PNG holds a {kind.decode()} chunk, which the service "
                               "never writes")
        if chunks > _MAX_PNG_CHUNKS:
            raise MessageError(f"result {message_id}: the PNG holds over {_MAX_PNG_CHUNKS} chunks")
        position += 12 + length
        if kind == b"IEND":
            break


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
