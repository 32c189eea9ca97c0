"""Strong protection of the control block, without which no token of a message decodes.

The control block is split into chunks that each fit one packet. Every chunk is coded with
Reed-Solomon (``reedsolo``), which corrects the bit errors of the bit-flip setups, and is sent
`copies` times, which survives packet erasures (all copies of a chunk must be lost to lose the
message). When every copy of a chunk has too many errors for Reed-Solomon alone, the receiver
takes a bitwise majority vote over the copies first. A CRC-32 over the reassembled block rejects
the rare wrong correction.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from reedsolo import ReedSolomonError, RSCodec

from lamigo.errors import PacketError
from lamigo.link.packet import crc32

#: Reed-Solomon parity bytes per control chunk: corrects 8 byte errors in a chunk.
CONTROL_PARITY = 16
_CHUNK_PREFIX = 1  # number of chunks in the block, so any chunk tells how many to wait for
_BLOCK_CRC = 4
_MAX_RS_BLOCK = 255
MAX_CHUNKS = 0xFF  #: chunks of one block at most (the chunk count is one byte)

_codec = RSCodec(CONTROL_PARITY)


def control_chunk_capacity(max_payload: int) -> int:
    """Control bytes that fit in one packet payload of `max_payload` bytes."""
    capacity = min(max_payload, _MAX_RS_BLOCK) - CONTROL_PARITY - _CHUNK_PREFIX
    if capacity < 1:
        raise PacketError(f"a payload of {max_payload} bytes cannot hold a protected control chunk")
    return capacity


def protect_control(block: bytes, max_payload: int) -> list[bytes]:
    """Split `block` (plus its CRC-32) into Reed-Solomon coded chunks of at most `max_payload`
    bytes each."""
    data = block + crc32(block).to_bytes(_BLOCK_CRC, "big")
    capacity = control_chunk_capacity(max_payload)
    pieces = [data[start : start + capacity] for start in range(0, len(data), capacity)]
    if len(pieces) > MAX_CHUNKS:
        raise PacketError(f"control block of {len(block)} bytes needs more than 255 packets")
    return [bytes(_codec.encode(bytes([len(pieces)]) + piece)) for piece in pieces]


def decode_chunk(copies: Sequence[bytes]) -> tuple[int, bytes] | None:
    """(number of chunks in the block, chunk bytes) from the received copies of one chunk, or
    None when no copy (nor their majority vote) decodes."""
    candidates = list(copies)
    if len(copies) >= 3:
        candidates.append(majority(copies))
    for candidate in candidates:
        if _is_codeword(candidate):  # intact: its data is its first bytes (a systematic code)
            decoded = candidate[:-CONTROL_PARITY]
        else:
            try:
                decoded = bytes(_codec.decode(candidate)[0])
            except (ReedSolomonError, ValueError, IndexError):
                continue
        if len(decoded) > _CHUNK_PREFIX and decoded[0] >= 1:
            return decoded[0], decoded[_CHUNK_PREFIX:]
    return None


# GF(2^8) as reedsolo's RSCodec(CONTROL_PARITY) uses it: primitive polynomial 0x11d, generator 2,
# first consecutive root 2^0.
_EXP = np.zeros(512, dtype=np.int64)
_LOG = np.zeros(256, dtype=np.int64)
_value = 1
for _power in range(255):
    _EXP[_power], _LOG[_value] = _value, _power
    _value <<= 1
    if _value & 0x100:
        _value ^= 0x11D
_EXP[255:510] = _EXP[:255]


def _is_codeword(data: bytes) -> bool:
    """Whether `data` is a Reed-Solomon codeword (every syndrome 0), in numpy: reedsolo's own
    syndromes cost 2 ms a chunk, and nearly every chunk arrives intact."""
    if not CONTROL_PARITY < len(data) <= _MAX_RS_BLOCK:
        return False
    symbols = np.frombuffer(data, dtype=np.uint8)
    nonzero = np.flatnonzero(symbols)
    if not nonzero.size:
        return True
    degrees = len(data) - 1 - nonzero  # the codeword as a polynomial, first byte highest
    powers = (_LOG[symbols[nonzero]][None, :] + np.arange(CONTROL_PARITY)[:, None] * degrees[None, :]) % 255
    return not np.bitwise_xor.reduce(_EXP[powers], axis=1).any()


def majority(copies: Sequence[bytes]) -> bytes:
    """Bitwise majority of equally long copies (the longest length when they differ)."""
    length = max(len(copy) for copy in copies)
    bits = np.stack(
        [np.unpackbits(np.frombuffer(copy.ljust(length, b"\0"), dtype=np.uint8)) for copy in copies]
    )
    return np.packbits(bits.sum(axis=0) * 2 > len(copies)).tobytes()


def join_control(chunks: Sequence[bytes]) -> bytes:
    """The control block from all its decoded chunks, in order; PacketError if its CRC fails."""
    data = b"".join(chunks)
    if len(data) < _BLOCK_CRC:
        raise PacketError("control block is shorter than its CRC")
    block, stored = data[:-_BLOCK_CRC], int.from_bytes(data[-_BLOCK_CRC:], "big")
    if crc32(block) != stored:
        raise PacketError("control block fails its CRC-32")
    return block
