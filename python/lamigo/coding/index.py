"""Entropy coders for codeword indices. Each `encode` call produces an independently decodable
byte string, so the link layer can code every packet's group of tokens on its own.

A coder may also adapt to one message (`fit`): then its statistics travel once, in the message's
control part (`write_table` / `read_table`), and every packet still decodes on its own."""

from __future__ import annotations

import itertools
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from collections import OrderedDict
from typing import ClassVar

import constriction
import numpy as np
from bitarray import bitarray
from bitarray.util import ba2int, canonical_decode, canonical_huffman, int2ba

from lamigo.coding.prior import IndexPrior
from lamigo.registry import WireRegistry
from lamigo.coding.wire import CODER_DATA_ERRORS, Reader, Writer
from lamigo.errors import ConfigError, MessageError


# The message's control block names the index coder in 4 bits.
INDEX_CODERS: WireRegistry[type["IndexCoder"]] = WireRegistry("index coder", max_wire_id=0x0F)
DEFAULT_INDEX_CODER = "image-huffman"


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

    def fit(self, symbols: np.ndarray, table_weight: float = 1.0) -> "IndexCoder":
        """The coder for one message's `symbols`: this one, unless the coder adapts to them.
        `table_weight` is what a byte of the control part costs on air against a coded byte."""
        return self

    def write_table(self, out: Writer) -> None:
        """Write what `fit` adapted (nothing for coders that do not adapt)."""

    @classmethod
    def read_table(cls, inp: Reader, codebook_size: int, symbols: int) -> object | None:
        """Read and validate what `write_table` wrote for a message of `symbols` indices."""
        return None

    def with_table(self, table: object | None) -> "IndexCoder":
        """The coder that decodes with a table `read_table` returned."""
        return self

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
        symbols = np.concatenate(blocks).astype(np.int64) if blocks else np.zeros(0, dtype=np.int64)
        # A range decoder reads past its data without complaint (4 bytes "decode" 65,536 indices);
        # the encoder is deterministic, so only data it would have written for these indices is real.
        if self.encode(symbols) != data:
            raise MessageError(f"range-coded indices: {len(data)} bytes are not the code of {count} indices")
        return symbols


MAX_CODE_LENGTH = 31  # 5 bits in a code table; bitarray's canonical decoder takes no longer codes
_LENGTH_BITS = 5


def _canonical(lengths: np.ndarray) -> tuple[list[int], list[int]]:
    """Codes per length and the symbols in canonical order (by length, then symbol), the form
    `bitarray.util.canonical_decode` takes; symbols of length 0 have no code."""
    coded = np.flatnonzero(lengths)
    order = coded[np.argsort(lengths[coded], kind="stable")]
    return np.bincount(lengths[coded], minlength=int(lengths.max()) + 1).tolist(), order.tolist()


def _canonical_code(length_counts: list[int], symbols: list[int]) -> dict[int, bitarray]:
    code: dict[int, bitarray] = {}
    value, position = 0, 0
    for length in range(1, len(length_counts)):
        for symbol in symbols[position : position + length_counts[length]]:
            code[symbol] = int2ba(value, length, endian="big")
            value += 1
        position += length_counts[length]
        value <<= 1
    return code


def _gamma(out: bitarray, value: int) -> None:
    """Elias gamma code of value >= 1."""
    out.extend("0" * (value.bit_length() - 1))
    out.extend(int2ba(value, endian="big"))


def _rice_parameter(remaining: int, members: int) -> int:
    return max(0, (remaining // members).bit_length() - 1)


@dataclass(frozen=True, eq=False)
class CodeTable:
    """One image's canonical Huffman code: the code length of each codeword in the table
    (`lengths`, 0 = not in it) and the escape length; every codeword outside the table then has
    length escape + ceil(log2(codewords outside)) (none when the escape length is 0).

    On the wire (bits, MSB first): 5 bits longest table length Lmax, 5 bits escape length, then
    for each length L in 1..Lmax the number of codewords of length L (Elias gamma of n + 1)
    and those codewords as Rice-coded gaps among the codewords not listed yet. An image that
    uses 280 of 1024 codewords costs about 100 bytes."""

    lengths: np.ndarray
    escape: int

    @property
    def codebook_size(self) -> int:
        return int(self.lengths.size)

    def code_lengths(self) -> np.ndarray:
        """The length of every codeword's code (0 = none)."""
        outside = self.lengths == 0
        full = self.lengths.copy()
        if self.escape and outside.any():
            full[outside] = self.escape + math.ceil(math.log2(int(outside.sum())))
        return full

    @classmethod
    def from_counts(cls, counts: np.ndarray, threshold: int) -> "CodeTable | None":
        """Huffman code of the codewords seen at least `threshold` times, the rest escaped;
        None when a code would exceed MAX_CODE_LENGTH."""
        members = np.flatnonzero(counts >= threshold)
        escaped = int(counts.sum() - counts[members].sum())
        frequencies = {int(s): int(counts[s]) for s in members}
        escape_symbol = counts.size
        if escaped:
            frequencies[escape_symbol] = escaped
        if not frequencies:
            return None
        code = canonical_huffman(frequencies)[0]
        lengths = np.zeros(counts.size, dtype=np.int64)
        lengths[members] = [len(code[int(s)]) for s in members]
        table = cls(lengths, len(code[escape_symbol]) if escaped else 0)
        return table if table.code_lengths().max() <= MAX_CODE_LENGTH else None

    def to_bytes(self) -> bytes:
        bits = bitarray(endian="big")
        longest = int(self.lengths.max())
        bits.extend(int2ba(longest, _LENGTH_BITS, endian="big"))
        bits.extend(int2ba(self.escape, _LENGTH_BITS, endian="big"))
        remaining = np.arange(self.codebook_size)
        for length in range(1, longest + 1):
            positions = np.flatnonzero(self.lengths[remaining] == length)
            _gamma(bits, positions.size + 1)
            if positions.size:
                k = _rice_parameter(remaining.size, positions.size)
                for gap in np.diff(positions, prepend=-1) - 1:
                    bits.extend("1" * int(gap >> k) + "0")
                    if k:
                        bits.extend(int2ba(int(gap) & ((1 << k) - 1), k, endian="big"))
                remaining = np.delete(remaining, positions)
        return bits.tobytes()

    @classmethod
    def from_bytes(cls, data: bytes, codebook_size: int, symbols: int) -> "CodeTable":
        """Parse a table from the wire. It is hostile: at most min(K, symbols) codewords, every
        one inside the codebook, every length within MAX_CODE_LENGTH, and a prefix code (Kraft
        sum at most 1) are checked before a code is built."""
        bits = bitarray(endian="big")
        bits.frombytes(data)
        position = 0

        def take(n: int) -> int:
            nonlocal position
            if position + n > len(bits):
                raise MessageError("index code table truncated")
            position += n
            return ba2int(bits[position - n : position]) if n else 0

        def gamma() -> int:
            zeros = 0
            while take(1) == 0:
                zeros += 1
                if zeros > 32:
                    raise MessageError("index code table: a count is not a valid gamma code")
            return (1 << zeros) | take(zeros)

        longest, escape = take(_LENGTH_BITS), take(_LENGTH_BITS)
        budget = min(codebook_size, symbols)
        lengths = np.zeros(codebook_size, dtype=np.int64)
        remaining = np.arange(codebook_size)
        for length in range(1, longest + 1):
            members = gamma() - 1
            if members > min(budget, remaining.size):
                raise MessageError(f"index code table lists more codewords than the message's {symbols} indices "
                                   f"or the codebook of {codebook_size} allow")
            budget -= members
            if not members:
                continue
            k = _rice_parameter(remaining.size, members)
            positions = np.empty(members, dtype=np.int64)
            last = -1
            for i in range(members):
                try:
                    run = bits.index(0, position) - position
                except ValueError:
                    raise MessageError("index code table truncated") from None
                position += run + 1
                last += 1 + (run << k | take(k))
                if last >= remaining.size:
                    raise MessageError("index code table names a codeword outside the codebook")
                positions[i] = last
            lengths[remaining[positions]] = length
            remaining = np.delete(remaining, positions)
        if len(bits) - position >= 8:
            raise MessageError("index code table: unexpected trailing bytes")
        outside = int((lengths == 0).sum())
        if outside == 0 and escape or not lengths.any() and not escape:
            raise MessageError("index code table: an escape with nothing to escape, or no code at all")
        table = cls(lengths, escape)
        full = table.code_lengths()
        if full.max() > MAX_CODE_LENGTH:
            raise MessageError(f"index code table: codes longer than {MAX_CODE_LENGTH} bits")
        coded = full[full > 0]
        if int(np.sum(np.left_shift(1, MAX_CODE_LENGTH - coded, dtype=np.int64))) > 1 << MAX_CODE_LENGTH:
            raise MessageError("index code table is not a prefix code (Kraft sum above 1)")
        return table


@INDEX_CODERS.register
class ImageHuffmanCoder(HuffmanCoder):
    """Canonical Huffman with the image's own code table, sent once in the control part, or the
    pre-shared prior's code (an empty table), whichever costs fewer bytes on air with the table
    counted `table_weight` times. The table lists the codewords seen at least t times (t chosen
    per image); the rest share an escape code."""

    name = "image-huffman"
    wire_id = 3
    uses_prior = True
    THRESHOLDS = (1, 2, 3, 4, 6, 8, 11, 16, 22, 32)

    def __init__(self, codebook_size: int, prior: IndexPrior | None = None, table: CodeTable | None = None) -> None:
        super().__init__(codebook_size, prior)
        self.table = table
        if table is not None:
            self._lengths = table.code_lengths()
            self._length_counts, self._canonical_symbols = _canonical(self._lengths)
            self._code = _canonical_code(self._length_counts, self._canonical_symbols)

    @property
    def code_lengths(self) -> np.ndarray:
        return self._lengths if self.table is not None else super().code_lengths

    def encode(self, symbols: np.ndarray) -> bytes:
        symbols = self._check(symbols)
        if self.table is not None and symbols.size and not self._lengths[symbols].all():
            raise ConfigError("indices outside this image's code table: fit the coder to them first")
        return super().encode(symbols)

    def fit(self, symbols: np.ndarray, table_weight: float = 1.0) -> IndexCoder:
        symbols = self._check(symbols)
        if not symbols.size:
            return self
        counts = np.bincount(symbols, minlength=self.codebook_size)
        best, best_bits = self, float(counts @ HuffmanCoder.code_lengths.fget(self))
        for threshold in self.THRESHOLDS:
            table = CodeTable.from_counts(counts, threshold)
            if table is None:
                continue
            bits = float(counts @ table.code_lengths()) + table_weight * 8 * len(table.to_bytes())
            if bits < best_bits:
                best, best_bits = ImageHuffmanCoder(self.codebook_size, self.prior, table), bits
        return best

    def write_table(self, out: Writer) -> None:
        out.blob(self.table.to_bytes() if self.table is not None else b"")

    @classmethod
    def read_table(cls, inp: Reader, codebook_size: int, symbols: int) -> CodeTable | None:
        data = inp.blob("index code table")
        # What the largest legal table takes: a gamma count per length, at most k + 3 bits per
        # Rice-coded codeword (k < log2 K), padding.
        width = codebook_size.bit_length()
        most = 2 * _LENGTH_BITS + MAX_CODE_LENGTH * (2 * width + 3) + min(codebook_size, symbols) * (width + 3) + 7
        if 8 * len(data) > most:
            raise MessageError(f"index code table of {len(data)} bytes is larger than {symbols} indices need")
        return CodeTable.from_bytes(data, codebook_size, symbols) if data else None

    def with_table(self, table: object | None) -> IndexCoder:
        return ImageHuffmanCoder(self.codebook_size, self.prior, table) if table is not None else self


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
