"""Our canonical Huffman codes are bitarray's (`bitarray.util.canonical_huffman`) bit for bit:
the same tree (ties broken alike), the same canonical order, the same coded bytes, also for
many groups coded in one pass."""

import numpy as np
import pytest
from bitarray import bitarray
from bitarray.util import canonical_huffman

from lamigo.coding.index import CanonicalCode, CodeTable


def _bitarray_bytes(code, symbols) -> bytes:
    bits = bitarray(endian="big")
    bits.encode(code, [int(s) for s in symbols])
    return bits.tobytes()


@pytest.mark.parametrize("seed", range(40))
def test_codes_and_bytes_match_bitarray(seed):
    rng = np.random.default_rng(seed)
    weights = rng.geometric(rng.uniform(0.01, 0.9), int(rng.integers(1, 700)))  # many ties
    code, counts, symbols = canonical_huffman(dict(enumerate(weights.tolist())))
    ours = CanonicalCode.huffman(weights)
    assert ours.length_counts == counts and ours.symbols == symbols
    assert ours.lengths.tolist() == [len(code[s]) for s in range(weights.size)]
    sent = rng.integers(0, weights.size, int(rng.integers(0, 400)))
    assert ours.encode(sent) == [_bitarray_bytes(code, sent)]
    cuts = sorted(rng.integers(0, sent.size + 1, 4).tolist())
    sizes = np.diff([0, *cuts, sent.size]).tolist()  # some runs empty
    runs = np.split(sent, np.cumsum(sizes)[:-1])
    assert ours.encode(sent, sizes) == [_bitarray_bytes(code, run) for run in runs]


def test_a_table_is_sized_exactly_without_writing_it():
    rng = np.random.default_rng(3)
    for _ in range(30):
        counts = np.bincount(rng.geometric(rng.uniform(0.01, 0.3), 3000) % 1024, minlength=1024)
        for threshold in (1, 2, 4, 8, 32):
            table = CodeTable.from_counts(counts, threshold)
            if table is not None:
                assert table.wire_bytes() == len(table.to_bytes())


def _reference_table_bytes(table: CodeTable) -> bytes:
    """The table's wire format written the plain way, bit by bit (`CodeTable`'s docstring):
    5 bits Lmax, 5 bits escape, then per length an Elias gamma count + 1 and Rice-coded gaps
    among the codewords not listed yet."""
    bits = bitarray(endian="big")
    bits.extend(format(int(table.lengths.max()), "05b") + format(table.escape, "05b"))
    remaining = list(range(table.codebook_size))
    for length in range(1, int(table.lengths.max()) + 1):
        positions = [i for i, codeword in enumerate(remaining) if table.lengths[codeword] == length]
        count = len(positions) + 1
        bits.extend("0" * (count.bit_length() - 1) + format(count, "b"))
        if positions:
            k = max(0, (len(remaining) // len(positions)).bit_length() - 1)
            last = -1
            for position in positions:
                gap, last = position - last - 1, position
                bits.extend("1" * (gap >> k) + "0" + (format(gap & ((1 << k) - 1), f"0{k}b") if k else ""))
            remaining = [codeword for codeword in remaining if table.lengths[codeword] != length]
    return bits.tobytes()


@pytest.mark.parametrize("seed", range(25))
def test_table_bytes_are_the_format_written_bit_by_bit_and_read_back(seed):
    rng = np.random.default_rng(seed)
    size = int(rng.choice([2, 17, 1024, 8192]))
    counts = np.bincount(rng.geometric(rng.uniform(0.005, 0.5), int(rng.integers(1, 4000))) % size, minlength=size)
    table = CodeTable.from_counts(counts, int(rng.choice([1, 2, 3, 8])))
    if table is None:
        return
    data = table.to_bytes()
    assert data == _reference_table_bytes(table)
    assert table.wire_bytes() == len(data)
    read = CodeTable.from_bytes(data, size, int(counts.sum()))
    assert read.escape == table.escape and read.lengths.tolist() == table.lengths.tolist()
