"""Entropy coders for codeword indices. Each `encode` call produces an independently decodable
byte string, so the link layer can code every packet's group of tokens on its own."""

from __future__ import annotations

import itertools
import math
from abc import ABC, abstractmethod
from collections import OrderedDict
from typing import ClassVar

import constriction
import numpy as np
from bitarray import bitarray
from bitarray.util import canonical_decode, canonical_huffman

from lamigo.coding.prior import IndexPrior
from lamigo.coding.registry import WireRegistry
from lamigo.coding.wire import CODER_DATA_ERRORS
from lamigo.errors import ConfigError, MessageError


# The message's control block names the index coder in 4 bits.
INDEX_CODERS: WireRegistry[type["IndexCoder"]] = WireRegistry("index coder", max_wire_id=0x0F)
DEFAULT_INDEX_CODER = "huffman"


class IndexCoder(ABC):
    """Codes a 1-D sequence of indices in [0, codebook_size)."""

    name: ClassVar[str]
    wire_id: ClassVar[int]
    uses_prior: ClassVar[bool]

    def __init__(self, codebook_size: int, prior: IndexPrior | None = None) -> None:
        if codebook_size < 2:
            raise ConfigError(f"codebook size must be at least 2, got {codebook_size}")
        if prior is not None and prior.codebook_size != codebook_size:
            raise ConfigError(
                f"index prior has {prior.codebook_size} entries but the codebook has {codebook_size}"
            )
        self.codebook_size = codebook_size
        self.prior = prior or IndexPrior.uniform(codebook_size)

    def _check(self, symbols: np.ndarray) -> np.ndarray:
        symbols = np.asarray(symbols).ravel()
        if symbols.size and (symbols.min() < 0 or symbols.max() >= self.codebook_size):
            raise ConfigError(
                f"indices must lie in [0, {self.codebook_size}), got "
                f"[{symbols.min()}, {symbols.max()}]"
            )
        return symbols.astype(np.int64)

    @abstractmethod
    def encode(self, symbols: np.ndarray) -> bytes: ...

    @abstractmethod
    def decode(self, data: bytes, count: int) -> np.ndarray:
        """Decode exactly `count` indices; raise MessageError if `data` cannot hold them."""


@INDEX_CODERS.register
class FixedLengthCoder(IndexCoder):
    """ceil(log2 K) bits per index, MSB first: a bit flip changes one index and nothing else
    (the paper's bit-error setups)."""

    name = "fixed"
    wire_id = 0
    uses_prior = False

    @property
    def bits(self) -> int:
        return math.ceil(math.log2(self.codebook_size))

    def encode(self, symbols: np.ndarray) -> bytes:
        symbols = self._check(symbols)
        shifts = np.arange(self.bits - 1, -1, -1, dtype=np.int64)
        bits = ((symbols[:, None] >> shifts) & 1).astype(np.uint8)
        return np.packbits(bits.ravel()).tobytes()

    def decode(self, data: bytes, count: int) -> np.ndarray:
        expected = math.ceil(count * self.bits / 8)
        if len(data) != expected:
            raise MessageError(
                f"fixed-length indices: {count} indices need {expected} bytes, got {len(data)}"
            )
        bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))[: count * self.bits]
        weights = 1 << np.arange(self.bits - 1, -1, -1, dtype=np.int64)
        symbols = bits.reshape(count, self.bits).astype(np.int64) @ weights
        if symbols.size and symbols.max() >= self.codebook_size:
            raise MessageError(
                f"fixed-length indices: decoded index {symbols.max()} outside the codebook "
                f"of {self.codebook_size}"
            )
        return symbols


@INDEX_CODERS.register
class HuffmanCoder(IndexCoder):
    """Canonical Huffman code built from the pre-shared prior (bitarray.util.canonical_huffman)."""

    name = "huffman"
    wire_id = 1
    uses_prior = True

    def __init__(self, codebook_size: int, prior: IndexPrior | None = None) -> None:
        super().__init__(codebook_size, prior)
        code, self._length_counts, self._canonical_symbols = canonical_huffman(
            dict(enumerate(self.prior.counts.tolist()))
        )
        self._code = code

    @property
    def code_lengths(self) -> np.ndarray:
        return np.array([len(self._code[s]) for s in range(self.codebook_size)])

    def encode(self, symbols: np.ndarray) -> bytes:
        bits = bitarray(endian="big")
        bits.encode(self._code, self._check(symbols).tolist())
        return bits.tobytes()

    def decode(self, data: bytes, count: int) -> np.ndarray:
        bits = bitarray(endian="big")
        bits.frombytes(data)
        decoded = itertools.islice(
            canonical_decode(bits, self._length_counts, self._canonical_symbols), count
        )
        try:
            symbols = np.fromiter(decoded, dtype=np.int64, count=count)
        except ValueError as err:
            raise MessageError(f"huffman indices: cannot decode {count} indices: {err}") from err
        return symbols


@INDEX_CODERS.register
class RangeCoder(IndexCoder):
    """Adaptive range coding (constriction): the model starts from the pre-shared prior and adds
    the counts of what was coded so far, refreshed every BLOCK indices."""

    name = "range"
    wire_id = 2
    uses_prior = True
    BLOCK = 256
    PRIOR_WEIGHT = 2048.0  # pseudo-observations the prior is worth before adaptation

    def _models(self):
        counts = self.prior.probabilities * self.PRIOR_WEIGHT
        while True:
            observed = yield constriction.stream.model.Categorical(counts / counts.sum(), perfect=False)
            counts = counts + np.bincount(observed, minlength=self.codebook_size)

    def encode(self, symbols: np.ndarray) -> bytes:
        symbols = self._check(symbols).astype(np.int32)
        encoder = constriction.stream.queue.RangeEncoder()
        models = self._models()
        model = next(models)
        for start in range(0, symbols.size, self.BLOCK):
            block = symbols[start : start + self.BLOCK]
            encoder.encode(block, model)
            model = models.send(block)
        return encoder.get_compressed().astype("<u4").tobytes()

    def decode(self, data: bytes, count: int) -> np.ndarray:
        if len(data) % 4:
            raise MessageError(f"range-coded indices: length {len(data)} is not a multiple of 4")
        decoder = constriction.stream.queue.RangeDecoder(np.frombuffer(data, dtype="<u4").astype(np.uint32))
        models = self._models()
        model = next(models)
        blocks = []
        try:
            for start in range(0, count, self.BLOCK):
                block = decoder.decode(model, min(self.BLOCK, count - start))
                blocks.append(block)
                model = models.send(block)
        except CODER_DATA_ERRORS as err:
            raise MessageError(f"range-coded indices: cannot decode {count} indices: {err}") from err
        return np.concatenate(blocks).astype(np.int64) if blocks else np.zeros(0, dtype=np.int64)


# Least recently used last; bounded, since a codebook size comes with every message: a stream of
# messages each claiming another K must not grow memory (100 such messages once took 800 MB).
_cache: OrderedDict[tuple[str, int, bytes], IndexCoder] = OrderedDict()
CACHE_SIZE = 8


def get_index_coder(name: str, codebook_size: int, prior: IndexPrior | None = None) -> IndexCoder:
    """The named coder for this codebook and prior (cached: building a Huffman code costs ms)."""
    coder_class = INDEX_CODERS.lookup(name)
    key = (name, codebook_size, prior.digest if prior is not None else b"")
    coder = _cache.pop(key, None) or coder_class(codebook_size, prior)
    _cache[key] = coder
    while len(_cache) > CACHE_SIZE:
        _cache.popitem(last=False)
    return coder
