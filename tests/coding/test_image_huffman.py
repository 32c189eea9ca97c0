"""The image-huffman index coder: the image's own code table in the control part, every index
packet decodable on its own, and a table from the wire treated as hostile."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lamigo.coding import IndexPrior, get_index_coder
from lamigo.coding.index import MAX_CODE_LENGTH, CodeTable, ImageHuffmanCoder
from lamigo.coding.wire import Reader, Writer
from lamigo.errors import MessageError
from lamigo.link import LinkConfig, Reassembler, packetize
from lamigo.masking import make_policy
from lamigo.message import Geometry, GOMessage, pack_message, peek_control, unpack_message

K = 1024


def _skewed(size: int, seed: int = 0, codebook: int = K) -> np.ndarray:
    """Few codewords, most of them rare: the statistics of one real image."""
    return np.random.default_rng(seed).geometric(0.02, size) % codebook


def _table_bytes(coder) -> bytes:
    out = Writer()
    coder.write_table(out)
    return out.getvalue()


@pytest.mark.parametrize("codebook", [1024, 8192])
def test_an_image_with_few_codewords_sends_its_own_table_and_saves_bytes(codebook):
    symbols = _skewed(3072, codebook=codebook)
    coder = get_index_coder("image-huffman", codebook)
    fitted = coder.fit(symbols, table_weight=3.6)
    assert fitted.table is not None
    table = _table_bytes(fitted)
    data = fitted.encode(symbols)
    assert len(data) + 3.6 * len(table) < 0.85 * len(coder.encode(symbols))
    read = ImageHuffmanCoder.read_table(Reader(table), codebook, symbols.size)
    np.testing.assert_array_equal(read.lengths, fitted.table.lengths)
    np.testing.assert_array_equal(coder.with_table(read).decode(data, symbols.size), symbols)


def test_a_flat_image_keeps_the_pre_shared_code_and_sends_an_empty_table():
    symbols = np.random.default_rng(1).integers(0, K, 3072)
    coder = get_index_coder("image-huffman", K)
    assert coder.fit(symbols, table_weight=3.6) is coder
    assert _table_bytes(coder) == b"\x00"
    assert ImageHuffmanCoder.read_table(Reader(b"\x00"), K, symbols.size) is None


def test_every_packet_decodes_alone_and_a_lost_packet_costs_only_its_tokens():
    geometry = Geometry(256, 256, 64, 64, K)
    policy = make_policy("prm", ratio=0.25, seed=0)
    mask = policy.select(geometry.latent_shape)
    indices = _skewed(64 * 64).reshape(64, 64)
    msg = GOMessage(geometry, policy, mask, indices, "a cup", "image-huffman", "huffman")
    packets = packetize(msg, 5, LinkConfig())
    assert peek_control(pack_message(msg)).index_table is not None
    dropped = next(p for p in packets if p.kind.name == "INDICES")
    reassembler = Reassembler()
    for packet in packets:
        if packet is not dropped:
            assert reassembler.push(packet.to_bytes()) == []
    (received,) = reassembler.flush()
    lost = received.lost
    assert 0 < lost.sum() < 0.1 * (~mask).sum()
    kept = ~mask & ~lost
    np.testing.assert_array_equal(received.message.indices[kept], indices[kept])
    np.testing.assert_array_equal(unpack_message(pack_message(msg)).indices[~mask], indices[~mask])


def test_table_claims_are_bounded_by_the_message_and_the_codebook():
    symbols = _skewed(500)
    table = CodeTable.from_counts(np.bincount(symbols, minlength=K), 1)
    data = table.to_bytes()
    CodeTable.from_bytes(data, K, symbols.size)
    members = int((table.lengths > 0).sum())
    with pytest.raises(MessageError, match="more codewords"):
        CodeTable.from_bytes(data, K, members - 1)  # more codewords listed than indices sent
    with pytest.raises(MessageError):
        CodeTable.from_bytes(data, 64, symbols.size)  # codewords beyond the codebook
    out = Writer()
    out.blob(bytes(200))
    with pytest.raises(MessageError, match="larger than"):  # refused before any bit is read
        ImageHuffmanCoder.read_table(Reader(out.getvalue()), K, 3)


def test_a_table_that_is_no_prefix_code_is_refused():
    lengths = np.zeros(K, dtype=np.int64)
    lengths[:3] = 1  # three codes of one bit
    with pytest.raises(MessageError, match="Kraft"):
        CodeTable.from_bytes(CodeTable(lengths, 0).to_bytes(), K, 100)
    lengths[:3] = MAX_CODE_LENGTH
    lengths[3] = 1
    CodeTable.from_bytes(CodeTable(lengths, 0).to_bytes(), K, 100)  # incomplete codes decode


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=120), symbols=st.integers(0, 5000))
def test_any_bytes_as_a_table_raise_only_message_error(data, symbols):
    try:
        table = CodeTable.from_bytes(data, K, symbols)
    except MessageError:
        return
    assert (table.lengths > 0).sum() <= symbols
    coder = get_index_coder("image-huffman", K, IndexPrior.uniform(K)).with_table(table)
    try:
        coder.decode(data, 50)
    except MessageError:
        pass
