"""Entropy coders for codeword indices. Each `encode` call produces an independently decodable
byte string, so the link layer can code every packet's group of tokens on its own.

A coder may also adapt to one message (`fit`): then its statistics travel once, in the message's
control part (`write_table` / `read_table`), and every packet still decodes on its own."""

from __future__ import annotations

import hashlib
import itertools
import math
from abc import ABC, abstractmethod
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cached_property
from bisect import bisect_left
from heapq import heappop, heappush
from typing import ClassVar

import constriction
import numpy as np
from bitarray import bitarray
from bitarray.util import ba2int, canonical_decode, int2ba

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

    @cached_property
    def nbytes(self) -> int:
        """About how much memory this coder holds once it has coded (what the cache counts)."""
        return 1024

    @abstractmethod
    def encode(self, symbols: np.ndarray) -> bytes: ...

    def encode_groups(self, symbols: np.ndarray, groups: list[np.ndarray]) -> list[bytes]:
        """`encode(symbols[group])` for each group (a coder may code them in one pass)."""
        return [self.encode(symbols[group]) for group in groups]

    def coded_sizes(self, symbols: np.ndarray, groups: list[np.ndarray]) -> list[int]:
        """len() of each byte string `encode_groups(symbols, groups)` returns (a coder that can
        count them without coding does)."""
        return [len(data) for data in self.encode_groups(symbols, groups)]

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

    def coded_sizes(self, symbols: np.ndarray, groups: list[np.ndarray]) -> list[int]:
        self._check(symbols)
        return [-(-group.size * self.bits // 8) for group in groups]

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
    """Canonical Huffman code built from the pre-shared prior (the code
    `bitarray.util.canonical_huffman` makes, built on first use: a receiver that never decodes
    an index of a message never builds its code)."""

    name = "huffman"
    wire_id = 1
    uses_prior = True

    @cached_property
    def _canonical(self) -> "CanonicalCode":
        return CanonicalCode.huffman(self.prior.counts)

    @property
    def code_lengths(self) -> np.ndarray:
        return self._canonical.lengths

    @cached_property
    def nbytes(self) -> int:
        return CanonicalCode.nbytes_for(self.codebook_size, self.codebook_size)

    def _codable(self, symbols: np.ndarray) -> np.ndarray:
        symbols = self._check(symbols)
        if symbols.size and not self.code_lengths[symbols].all():
            raise ConfigError("indices outside this image's code table: fit the coder to them first")
        return symbols

    def encode(self, symbols: np.ndarray) -> bytes:
        return self._canonical.encode(self._codable(symbols))[0]

    def encode_groups(self, symbols: np.ndarray, groups: list[np.ndarray]) -> list[bytes]:
        symbols = self._codable(symbols)
        if not groups:
            return []
        return self._canonical.encode(symbols[np.concatenate(groups)], [group.size for group in groups])

    def coded_sizes(self, symbols: np.ndarray, groups: list[np.ndarray]) -> list[int]:
        symbols = self._codable(symbols)
        if not groups:
            return []
        return self._canonical.coded_bytes(symbols[np.concatenate(groups)], [group.size for group in groups])

    def decode(self, data: bytes, count: int) -> np.ndarray:
        canonical = self._canonical
        bits = bitarray(endian="big")
        bits.frombytes(data)
        decoded = itertools.islice(
            canonical_decode(bits, canonical.length_counts, canonical.symbols), count
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

    @cached_property
    def _first_model(self):
        counts = self.prior.probabilities * self.PRIOR_WEIGHT
        return counts, constriction.stream.model.Categorical(counts / counts.sum(), perfect=False)

    @cached_property
    def nbytes(self) -> int:
        return 64 * self.codebook_size + 4096

    def _models(self):
        counts, model = self._first_model
        while True:
            observed = yield model
            counts = counts + np.bincount(observed, minlength=self.codebook_size)
            model = constriction.stream.model.Categorical(counts / counts.sum(), perfect=False)

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


class _Node(float):
    """A Huffman tree node: its weight (a float, so the heap compares nodes in C, not in Python)
    and its content, a symbol or the pair of children."""

    __slots__ = ("content",)


def _huffman_tree(weights: list[int]) -> _Node:
    """The Huffman tree of symbols 0..n-1 with these weights, built exactly as
    `bitarray.util.canonical_huffman` builds it (leaves pushed in symbol order, the two lightest
    popped, ties broken by the heap alone), so its codes are bitarray's codes byte for byte."""
    if sum(weights) >= 1 << 53:
        raise ConfigError("Huffman weights sum beyond 2^53")
    heap: list[_Node] = []
    for symbol, weight in enumerate(weights):
        leaf = _Node(weight)
        leaf.content = symbol
        heappush(heap, leaf)
    for _ in range(len(heap) - 1):
        first, second = heappop(heap), heappop(heap)
        parent = _Node(first + second)
        parent.content = (first, second)
        heappush(heap, parent)
    return heap[0]


@dataclass(frozen=True, eq=False)
class CanonicalCode:
    """A canonical prefix code: the code length of each symbol (`lengths`, 0 = no code), the
    codes per length and the symbols in canonical order (what `bitarray.util.canonical_decode`
    takes); each symbol's code value is worked out on first use, since a receiver only
    decodes."""

    lengths: np.ndarray
    length_counts: list[int]
    symbols: list[int]

    @classmethod
    def huffman(cls, weights: np.ndarray) -> "CanonicalCode":
        """The code `bitarray.util.canonical_huffman(dict(enumerate(weights)))` makes (within a
        length, symbols in the order of its tree walk)."""
        weights = [int(w) for w in weights]
        if len(weights) == 1:  # bitarray's one-symbol code: "0"
            return cls(np.ones(1, dtype=np.int64), [0, 1], [0])
        walk: list[int] = []  # the leaves in the order of bitarray's walk (first child first)
        depths: list[int] = []
        stack = [(_huffman_tree(weights), 0)]
        pop, push = stack.pop, stack.append
        while stack:
            node, depth = pop()
            content = node.content
            if content.__class__ is tuple:
                push((content[1], depth + 1))
                push((content[0], depth + 1))
            else:
                walk.append(content)
                depths.append(depth)
        order, walk_depths = np.asarray(walk, dtype=np.int64), np.asarray(depths, dtype=np.int64)
        lengths = np.zeros(len(weights), dtype=np.int64)
        lengths[order] = walk_depths
        order = order[np.argsort(walk_depths, kind="stable")]
        return cls(lengths, np.bincount(lengths, minlength=int(lengths.max()) + 1).tolist(), order.tolist())

    @classmethod
    def from_lengths(cls, lengths: np.ndarray) -> "CanonicalCode":
        """The canonical code with these lengths, symbols of one length in symbol order."""
        coded = np.flatnonzero(lengths)
        order = coded[np.argsort(lengths[coded], kind="stable")]
        counts = np.bincount(lengths[coded], minlength=int(lengths.max()) + 1)
        counts[0] = 0
        return cls(lengths, counts.tolist(), order.tolist())

    @cached_property
    def _values(self) -> np.ndarray:
        """Each symbol's code as an integer of its length: the first code of length L is
        (first code of L-1 + codes of L-1) << 1, the rest follow it in canonical order."""
        counts = np.asarray(self.length_counts, dtype=np.int64)
        first = np.zeros(counts.size, dtype=np.int64)
        for length in range(2, counts.size):
            first[length] = (first[length - 1] + counts[length - 1]) << 1
        order = np.asarray(self.symbols, dtype=np.int64)
        lengths = self.lengths[order]
        starts = np.concatenate([[0], np.cumsum(counts)])[lengths]
        values = np.zeros(self.lengths.size, dtype=np.int64)
        values[order] = first[lengths] + np.arange(order.size) - starts
        return values

    def encode(self, symbols: np.ndarray, sizes: list[int] | None = None) -> list[bytes]:
        """The codes of `symbols` (each must have one), MSB first, zero-padded to a byte: what
        `bitarray.encode` with this code and `tobytes` give; one byte string for each run of
        `sizes` symbols (default: one for all), coded in one pass."""
        lengths = self.lengths[symbols]
        bit_ends = np.cumsum(lengths)  # where each symbol's code ends
        # Bit i of the stream belongs to the symbol whose code ends first after it; it is that
        # code's bit (end - 1 - i) counted from its least significant one.
        ends = np.repeat(bit_ends, lengths)
        shifts = ends - np.arange(ends.size, dtype=np.int64) - 1
        bits = (np.repeat(self._values[symbols], lengths) >> shifts).astype(np.uint8) & 1
        boundaries = np.cumsum(sizes if sizes is not None else [len(symbols)])
        edges = [0, *np.concatenate([[0], bit_ends])[boundaries].tolist()]
        return [np.packbits(bits[start:end]).tobytes() for start, end in zip(edges[:-1], edges[1:])]

    def coded_bytes(self, symbols: np.ndarray, sizes: list[int]) -> list[int]:
        """len() of each byte string `encode(symbols, sizes)` returns, counted without coding."""
        bit_ends = np.concatenate([[0], np.cumsum(self.lengths[symbols])])
        ends = bit_ends[np.cumsum([0, *sizes])]
        return (-(-np.diff(ends) // 8)).tolist()

    @staticmethod
    def nbytes_for(symbols: int, codebook_size: int = 0) -> int:
        """Memory a code of `symbols` codes over a codebook of `codebook_size` holds, rounded
        up: the lists canonical_decode takes and the arrays (measured: 100 bytes a symbol at
        K = 1024, 70 at K = 16384)."""
        return 96 * symbols + 24 * codebook_size + 8192


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
        tree = CanonicalCode.huffman(np.fromiter(frequencies.values(), dtype=np.int64, count=len(frequencies)))
        lengths = np.zeros(counts.size, dtype=np.int64)
        lengths[members] = tree.lengths[: members.size]
        table = cls(lengths, int(tree.lengths[-1]) if escaped else 0)
        return table if table.code_lengths().max() <= MAX_CODE_LENGTH else None

    @cached_property
    def key(self) -> bytes:
        """What tells this table from any other (a cache key)."""
        return hashlib.sha256(self.lengths.astype("<i8").tobytes()).digest() + bytes([self.escape])

    def _listing(self) -> list[tuple[int, list[int]]]:
        """What the wire lists for each length L in 1..Lmax: the Rice parameter and the gaps
        between the codewords of length L among the codewords not listed before L. (Python
        lists: a table holds tens of codewords, where numpy's per-call cost dominated.)"""
        coded = np.flatnonzero(self.lengths)
        by_length: dict[int, list[int]] = {}
        for codeword, length in zip(coded.tolist(), self.lengths[coded].tolist()):
            by_length.setdefault(length, []).append(codeword)  # ascending within a length
        listed: list[int] = []  # codewords of the lengths below L, ascending
        listing = []
        for length in range(1, int(self.lengths.max()) + 1):
            members = by_length.get(length, [])
            # A member's position among the codewords not listed yet: the codewords below it,
            # less those listed at shorter lengths.
            positions = [codeword - bisect_left(listed, codeword) for codeword in members]
            gaps = [position - previous - 1 for previous, position in zip([-1, *positions], positions)]
            remaining = self.codebook_size - len(listed)
            listing.append((_rice_parameter(remaining, len(members)) if members else 0, gaps))
            listed = sorted(listed + members)
        return listing

    def wire_bytes(self) -> int:
        """len(self.to_bytes()), counted without writing it."""
        bits = 2 * _LENGTH_BITS
        for k, gaps in self._listing():
            bits += 2 * (len(gaps) + 1).bit_length() - 1 + sum(gap >> k for gap in gaps) + len(gaps) * (1 + k)
        return -(-bits // 8)

    def to_bytes(self) -> bytes:
        parts = [format(int(self.lengths.max()), "05b"), format(self.escape, "05b")]
        for k, gaps in self._listing():
            count = len(gaps) + 1
            parts.append("0" * (count.bit_length() - 1) + format(count, "b"))  # Elias gamma
            low = (1 << k) - 1
            # Rice code of each gap: gap >> k in unary (ones and a zero), then its k low bits.
            parts += ["1" * (gap >> k) + "0" + format(gap & low, f"0{k}b") if k else "1" * gap + "0"
                      for gap in gaps]
        return bitarray("".join(parts), endian="big").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes, codebook_size: int, symbols: int) -> "CodeTable":
        """Parse a table from the wire. It is hostile: at most min(K, symbols) codewords, every
        one inside the codebook, every length within MAX_CODE_LENGTH, and a prefix code (Kraft
        sum at most 1) are checked before a code is built."""
        size = 8 * len(data)
        whole = int.from_bytes(data, "big")
        text = format(whole, f"0{size}b") if data else ""  # the bits, MSB first, to search for runs
        position = 0

        def take(n: int) -> int:
            nonlocal position
            position += n
            if position > size:
                raise MessageError("index code table truncated")
            return (whole >> (size - position)) & ((1 << n) - 1)

        def ones_then_zero() -> int:
            """The number of ones up to the next zero, both consumed."""
            nonlocal position
            zero = text.find("0", position)
            if zero < 0:
                raise MessageError("index code table truncated")
            run, position = zero - position, zero + 1
            return run

        def gamma() -> int:
            zero = text.find("1", position)
            zeros = (zero if zero >= 0 else size) - position
            if zeros > 32:
                raise MessageError("index code table: a count is not a valid gamma code")
            return take(2 * zeros + 1)

        longest, escape = take(_LENGTH_BITS), take(_LENGTH_BITS)
        budget = min(codebook_size, symbols)
        listed: list[int] = []  # codewords of the lengths read so far, ascending
        codewords, code_lengths = [], []
        for length in range(1, longest + 1):
            members = gamma() - 1
            remaining = codebook_size - len(listed)
            if members > min(budget, remaining):
                raise MessageError(f"index code table lists more codewords than the message's {symbols} indices "
                                   f"or the codebook of {codebook_size} allow")
            budget -= members
            if not members:
                continue
            k = _rice_parameter(remaining, members)
            place = -1  # among the codewords not listed yet
            found = []
            below = 0  # listed codewords below the current one
            ahead = [*listed, codebook_size]  # ends the search below
            for _ in range(members):
                place += 1 + (ones_then_zero() << k | take(k))
                if place >= remaining:  # places ascend: none after it fits either
                    raise MessageError("index code table names a codeword outside the codebook")
                # The codeword at that place: listed ones below it push it up.
                while ahead[below] <= place + below:
                    below += 1
                found.append(place + below)
            codewords += found
            code_lengths += [length] * members
            listed = sorted(listed + found)
        lengths = np.zeros(codebook_size, dtype=np.int64)
        lengths[codewords] = code_lengths
        if size - position >= 8:
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
        if table is not None and table.codebook_size != codebook_size:
            raise ConfigError(f"a code table of {table.codebook_size} codewords for a codebook of {codebook_size}")
        self.table = table

    @cached_property
    def _canonical(self) -> CanonicalCode:
        if self.table is None:
            return HuffmanCoder._canonical.func(self)
        return CanonicalCode.from_lengths(self.table.code_lengths())

    @cached_property
    def nbytes(self) -> int:
        if self.table is None:
            return CanonicalCode.nbytes_for(self.codebook_size, self.codebook_size)
        return CanonicalCode.nbytes_for(len(self._canonical.symbols), self.codebook_size)

    def fit(self, symbols: np.ndarray, table_weight: float = 1.0) -> IndexCoder:
        symbols = self._check(symbols)
        base = get_index_coder(self.name, self.codebook_size, self.prior) if self.table is not None else self
        if not symbols.size:
            return base
        counts = np.bincount(symbols, minlength=self.codebook_size)
        best, best_bits = None, float(counts @ base.code_lengths)
        for threshold in self.THRESHOLDS:
            table = CodeTable.from_counts(counts, threshold)
            if table is None:
                continue
            bits = float(counts @ table.code_lengths()) + table_weight * 8 * table.wire_bytes()
            if bits < best_bits:
                best, best_bits = table, bits
        return base.with_table(best)

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
        if table is None:
            return self
        return get_index_coder(self.name, self.codebook_size, self.prior, table)


# Least recently used last; bounded in entries and in bytes, since a codebook size and a code
# table come with every message: a stream of messages each claiming another K or table must
# not grow memory (100 such messages once took 800 MB, one Huffman code of K = 2^20 300 MB).
_cache: OrderedDict[tuple[str, int, bytes, bytes], IndexCoder] = OrderedDict()
CACHE_SIZE = 32
CACHE_BYTES = 32 << 20


def get_index_coder(
    name: str, codebook_size: int, prior: IndexPrior | None = None, table: "CodeTable | None" = None
) -> IndexCoder:
    """The named coder for this codebook and prior, with this image's code `table` (only
    image-huffman has one), cached: building a Huffman code costs ms, and every packet of a
    message, every message of an image, decodes with the same coder."""
    coder_class = INDEX_CODERS.lookup(name)
    key = (name, codebook_size, prior.digest if prior is not None else b"", table.key if table is not None else b"")
    coder = _cache.pop(key, None)
    if coder is None:
        coder = coder_class(codebook_size, prior) if table is None else coder_class(codebook_size, prior, table)
    _cache[key] = coder
    held = sum(entry.nbytes for entry in _cache.values())
    while len(_cache) > 1 and (len(_cache) > CACHE_SIZE or held > CACHE_BYTES):
        held -= _cache.popitem(last=False)[1].nbytes
    return coder


def cache_bytes() -> int:
    """About how many bytes the coders in the cache hold."""
    return sum(entry.nbytes for entry in _cache.values())
