"""Lossless coding of a boolean mask (the EBM policy must send its mask).

Each position is coded with a binary range coder (constriction) whose probability depends on
its left and upper neighbours (4 contexts). The 4 probabilities are fitted to the mask itself
and sent first as one byte each, so the code adapts to sparse, dense and clustered masks."""

from __future__ import annotations

import constriction
import numpy as np

from lamigo.coding.wire import CODER_DATA_ERRORS
from lamigo.errors import MessageError

N_CONTEXTS = 4


def _contexts(mask: np.ndarray) -> np.ndarray:
    """Context of every position: left neighbour + 2 * upper neighbour (0 outside the mask)."""
    left = np.zeros_like(mask)
    left[:, 1:] = mask[:, :-1]
    up = np.zeros_like(mask)
    up[1:, :] = mask[:-1, :]
    return left.astype(np.int64) + 2 * up.astype(np.int64)


def _dequantize(levels: np.ndarray) -> np.ndarray:
    """One byte per context -> P(masked) strictly inside (0, 1)."""
    return (levels.astype(np.float64) + 0.5) / 256.0


def encode_mask(mask: np.ndarray) -> bytes:
    mask = np.asarray(mask, dtype=bool)
    contexts = _contexts(mask).ravel()
    bits = mask.ravel().astype(np.int32)
    ones = np.bincount(contexts, weights=bits, minlength=N_CONTEXTS)
    totals = np.bincount(contexts, minlength=N_CONTEXTS)
    p_masked = np.divide(ones, totals, out=np.full(N_CONTEXTS, 0.5), where=totals > 0)
    levels = np.clip(np.floor(p_masked * 256), 0, 255).astype(np.uint8)
    probabilities = _dequantize(levels)[contexts]
    encoder = constriction.stream.queue.RangeEncoder()
    if bits.size:
        encoder.encode(bits, constriction.stream.model.Bernoulli(perfect=False), probabilities)
    return levels.tobytes() + encoder.get_compressed().astype("<u4").tobytes()


def decode_mask(data: bytes, shape: tuple[int, int]) -> np.ndarray:
    if len(data) < N_CONTEXTS or (len(data) - N_CONTEXTS) % 4:
        raise MessageError(f"mask: {len(data)} bytes is not 4 context bytes plus 32-bit words")
    p_by_context = _dequantize(np.frombuffer(data[:N_CONTEXTS], dtype=np.uint8))
    words = np.frombuffer(data[N_CONTEXTS:], dtype="<u4").astype(np.uint32)
    decoder = constriction.stream.queue.RangeDecoder(words)
    # One fixed model per context, decoded symbol by symbol without building arrays: ~15x
    # faster than passing a probability per call, so a forged header claiming a large mask
    # costs milliseconds (65,536 positions: 15 ms) and the receiver's token limit bounds it.
    models = [constriction.stream.model.Bernoulli(float(p), perfect=False) for p in p_by_context]
    decode = decoder.decode
    height, width = shape
    mask = np.zeros((height, width), dtype=bool)
    up = [0] * width
    try:
        # Row by row: the upper context of a whole row is known, the left one position by position.
        for row in range(height):
            left, current = 0, [0] * width
            for col in range(width):
                left = current[col] = decode(models[left + 2 * up[col]])
            mask[row] = current
            up = current
    except CODER_DATA_ERRORS as err:
        raise MessageError(f"mask cannot be decoded: {err}") from err
    return mask
