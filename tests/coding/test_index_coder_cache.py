"""The index-coder cache is bounded: every message names its own codebook size."""

from lamigo.coding import index


def test_the_cache_keeps_the_most_recent_coders_only():
    first = index.get_index_coder("huffman", 512)
    assert index.get_index_coder("huffman", 512) is first
    for codebook_size in range(2, 2 + 3 * index.CACHE_SIZE):  # as a stream of forged headers would
        index.get_index_coder("fixed", codebook_size)
    assert len(index._cache) == index.CACHE_SIZE
    assert index.get_index_coder("huffman", 512) is not first  # rebuilt: it had aged out
