"""PDUs as the blocks exchange them: a pmt pair of a metadata dict and a u8vector."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pmt

from lamigo.errors import PacketError

LOGGED_IN_FULL = 10  # problems logged one by one; after that every 100th, so a flood cannot flood the log
_INT64 = (-(1 << 63), 1 << 63)


class RateLimitedLog:
    """A block's log of bad input: the first LOGGED_IN_FULL lines in full, then every 100th
    (the others at DEBUG)."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self.count = 0

    def _level(self) -> int:
        self.count += 1
        return logging.WARNING if self.count <= LOGGED_IN_FULL or self.count % 100 == 0 else logging.DEBUG

    def warning(self, text: str, *args: Any) -> None:
        self.logger.log(self._level(), text + " (%d so far)", *args, self.count)

    def exception(self, text: str, *args: Any) -> None:
        level = self._level()
        self.logger.log(level, text + " (%d so far)", *args, self.count, exc_info=level == logging.WARNING)


def fits_pdu(value: Any) -> bool:
    """Whether `value` is plain metadata a PDU carries as is (a bool, str, float, or an int
    within 64 bits: pmt would overflow on more)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return _INT64[0] <= value < _INT64[1]
    return isinstance(value, (bool, float, str))


def make_pdu(data: bytes, meta: dict[str, Any] | None = None) -> pmt.pmt_base:
    """A PDU carrying `data` with `meta` (str keys; ints within 64 bits, floats, str, bool or
    uint8 arrays); PacketError for anything else."""
    meta_pmt = pmt.make_dict()
    for key, value in (meta or {}).items():
        if isinstance(value, np.generic):
            value = value.item()
        if not isinstance(key, str):
            raise PacketError(f"PDU metadata key {key!r} is not a string")
        if isinstance(value, np.ndarray):
            value_pmt = pmt.init_u8vector(value.size, value.astype(np.uint8).ravel().tolist())
        elif fits_pdu(value):
            value_pmt = pmt.to_pmt(value)
        else:
            raise PacketError(f"PDU metadata {key}={value!r} is not a plain value within 64 bits")
        meta_pmt = pmt.dict_add(meta_pmt, pmt.intern(key), value_pmt)
    return pmt.cons(meta_pmt, pmt.init_u8vector(len(data), list(data)))


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
