"""PDUs as the blocks exchange them: a pmt pair of a metadata dict and a u8vector."""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import pmt

from lamigo.errors import LamigoError, PacketError
from lamigo.logs import RateLimitedLog

T = TypeVar("T")

_INT64 = (-(1 << 63), 1 << 63)


def fits_pdu(value: Any) -> bool:
    """Whether `value` is plain metadata a PDU carries as is (a bool, str, float, or an int
    within 64 bits: pmt would overflow on more)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return _INT64[0] <= value < _INT64[1]
    return isinstance(value, (bool, float, str))


# A PDU is built as pmt's own serialization (`pmt::serialize`) and read back in one call:
# building it with pmt.dict_add, pmt.from_long and pmt.init_u8vector from Python cost 30 us a
# packet, the packet rate's largest share in the packetizer. The tags are pmt's (`pmt_serial_tags`).
_PAIR, _DICT, _NULL, _TRUE, _FALSE = b"\x07", b"\x09", b"\x06", b"\x00", b"\x01"
_SYMBOL_TAG, _INT32_TAG, _INT64_TAG, _DOUBLE_TAG = 0x02, 0x03, 0x0D, 0x04
_U8VECTOR = struct.Struct(">BBIBB")  # uniform vector tag, u8 type, length, one padding byte and the pad
_SYMBOL_HEAD = struct.Struct(">BH")
_INT32_VALUE, _INT64_VALUE, _DOUBLE_VALUE = struct.Struct(">Bi"), struct.Struct(">Bq"), struct.Struct(">Bd")


def _serial_u8vector(data: bytes) -> bytes:
    return _U8VECTOR.pack(0x0A, 0x00, len(data), 1, 0) + data


def _serial_symbol(text: str) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) > 0xFFFF:
        raise PacketError(f"PDU metadata text of {len(raw)} bytes is longer than a pmt symbol holds")
    return _SYMBOL_HEAD.pack(_SYMBOL_TAG, len(raw)) + raw


_KEYS: dict[str, bytes] = {}  # serialized metadata keys (the blocks use a handful)
_KEYS_HELD = 256


def _serial_key(key: str) -> bytes:
    symbol = _KEYS.get(key)
    if symbol is None:
        if not isinstance(key, str):
            raise PacketError(f"PDU metadata key {key!r} is not a string")
        symbol = _serial_symbol(key)
        if len(_KEYS) < _KEYS_HELD:
            _KEYS[key] = symbol
    return symbol


def _serial_value(key: str, value: Any) -> bytes:
    """pmt's serialization of one metadata value (what pmt.to_pmt makes of it)."""
    if type(value) is int and -(1 << 31) <= value < 1 << 31:  # most metadata: counts and ids
        return _INT32_VALUE.pack(_INT32_TAG, value)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return _TRUE if value else _FALSE
    if isinstance(value, np.ndarray):
        return _serial_u8vector(value.astype(np.uint8).tobytes())
    if not fits_pdu(value):
        raise PacketError(f"PDU metadata {key}={value!r} is not a plain value within 64 bits")
    if isinstance(value, int):
        return _INT32_VALUE.pack(_INT32_TAG, value) if -(1 << 31) <= value < 1 << 31 else _INT64_VALUE.pack(_INT64_TAG, value)
    if isinstance(value, float):
        return _DOUBLE_VALUE.pack(_DOUBLE_TAG, value)
    return _serial_symbol(value)


def make_pdu(data: bytes, meta: dict[str, Any] | None = None) -> pmt.pmt_base:
    """A PDU carrying `data` with `meta` (str keys; ints within 64 bits, floats, str, bool or
    uint8 arrays); PacketError for anything else."""
    parts = [_PAIR]
    # A pmt dict lists its newest entry first (pmt.dict_add prepends): the same order here.
    for key, value in reversed((meta or {}).items()):
        parts += [_DICT, _PAIR, _serial_key(key), _serial_value(key, value)]
    parts += [_NULL, _serial_u8vector(bytes(data))]
    return pmt.deserialize_str(b"".join(parts))


def pdu_payload(msg: pmt.pmt_base) -> bytes:
    """The payload of a PDU whose metadata the caller does not read (a receiver of packets):
    what `split_pdu` checks of its shape, without converting the metadata."""
    if not pmt.is_pair(msg):
        raise PacketError("message is not a PDU (a pair of metadata and a u8vector)")
    data = pmt.cdr(msg)
    if not pmt.is_u8vector(data):
        raise PacketError("PDU payload is not a u8vector")
    meta = pmt.car(msg)
    if not (pmt.is_null(meta) or pmt.is_dict(meta)):
        raise PacketError("PDU metadata is not a dict")
    return bytes(pmt.u8vector_elements(data))


def split_pdu(msg: pmt.pmt_base) -> tuple[dict[str, Any], bytes]:
    """(metadata, payload) of a PDU; PacketError when `msg` is not a PDU with a u8vector."""
    if not pmt.is_pair(msg):
        raise PacketError("message is not a PDU (a pair of metadata and a u8vector)")
    meta, data = pmt.car(msg), pmt.cdr(msg)
    if not pmt.is_u8vector(data):
        raise PacketError("PDU payload is not a u8vector")
    if pmt.is_null(meta):
        return {}, bytes(pmt.u8vector_elements(data))
    if not pmt.is_dict(meta):
        raise PacketError("PDU metadata is not a dict")
    try:
        meta_dict = pmt.to_python(meta) or {}
    except (ValueError, TypeError, OverflowError) as err:  # a pmt type with no Python counterpart
        raise PacketError(f"PDU metadata cannot be read: {err}") from None
    return meta_dict, bytes(pmt.u8vector_elements(data))


def read_input_pdu(msg: pmt.pmt_base, parse: Callable[[dict[str, Any], bytes], T], count: Callable[[], None],
                   log: RateLimitedLog) -> T | None:
    """`parse(meta, data)` of an input PDU, for a block whose input must never stop it: bad input
    (a LamigoError: not a PDU, a malformed message) or a bug met by one input is counted with
    `count()`, logged rate-limited on `log`, and gives None."""
    try:
        meta, data = split_pdu(msg)
        return parse(meta, data)
    except LamigoError as err:
        count()
        log.warning("dropped input PDU: %s", err)
    except Exception:  # a bug met by one input must not stop the block
        count()
        log.exception("input PDU could not be handled")
    return None
