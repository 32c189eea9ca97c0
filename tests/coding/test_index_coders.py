import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lamigo.coding import INDEX_CODERS, IndexPrior, get_index_coder
from lamigo.errors import ConfigError, MessageError

K = 8192


@pytest.fixture(scope="module")
def skewed_prior():
    rng = np.random.default_rng(0)
    return IndexPrior.from_indices(rng.zipf(1.4, 200_000) % K, K)


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(sorted(INDEX_CODERS)),
    codebook_size=st.integers(2, 9000),
    data=st.data(),
)
def test_round_trip_any_codebook(name, codebook_size, data):
    symbols = np.array(
        data.draw(st.lists(st.integers(0, codebook_size - 1), max_size=600)), dtype=np.int64
    )
    coder = get_index_coder(name, codebook_size)
    decoded = coder.decode(coder.encode(symbols), symbols.size)
    np.testing.assert_array_equal(decoded, symbols)


@pytest.mark.parametrize("name", sorted(INDEX_CODERS))
def test_round_trip_with_prior_across_adaptation_blocks(name, skewed_prior):
    symbols = np.random.default_rng(1).zipf(1.4, 1000) % K
    coder = get_index_coder(name, K, skewed_prior)
    np.testing.assert_array_equal(coder.decode(coder.encode(symbols), symbols.size), symbols)


def test_fixed_length_uses_ceil_log2_bits():
    coder = get_index_coder("fixed", K)
    assert len(coder.encode(np.arange(8))) == 13  # 8 indices x 13 bits = 104 bits
    assert len(get_index_coder("fixed", 5000).encode(np.arange(8))) == 13  # ceil(log2 5000) = 13


@pytest.mark.parametrize("name", ["huffman", "range"])
def test_entropy_coders_beat_fixed_length_on_skewed_indices(name, skewed_prior):
    symbols = np.random.default_rng(2).zipf(1.4, 3000) % K
    fixed = len(get_index_coder("fixed", K).encode(symbols))
    coded = len(get_index_coder(name, K, skewed_prior).encode(symbols))
    assert coded < 0.7 * fixed


def test_huffman_code_follows_prior(skewed_prior):
    lengths = get_index_coder("huffman", K, skewed_prior).code_lengths
    most, least = np.argmax(skewed_prior.counts), np.argmin(skewed_prior.counts)
    assert lengths[most] < lengths[least]


@pytest.mark.parametrize("name", sorted(INDEX_CODERS))
def test_out_of_range_indices_are_refused(name):
    with pytest.raises(ConfigError, match="indices must lie"):
        get_index_coder(name, 16).encode(np.array([3, 16]))


def test_unknown_coder_and_prior_size_mismatch():
    with pytest.raises(ConfigError, match="unknown index coder"):
        get_index_coder("lzw", K)
    with pytest.raises(ConfigError, match="prior has 16 entries"):
        get_index_coder("huffman", K, IndexPrior.uniform(16))


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(sorted(INDEX_CODERS)), data=st.binary(max_size=200), count=st.integers(0, 300))
def test_garbage_decodes_or_raises_message_error(name, data, count):
    coder = get_index_coder(name, 300)
    try:
        decoded = coder.decode(data, count)
    except MessageError:
        return
    assert decoded.shape == (count,)
    assert decoded.size == 0 or (decoded.min() >= 0 and decoded.max() < 300)


def test_truncated_fixed_length_payload_is_named():
    coder = get_index_coder("fixed", K)
    with pytest.raises(MessageError, match="10 indices need 17 bytes, got 16"):
        coder.decode(coder.encode(np.arange(10))[:-1], 10)


def test_range_coded_indices_must_be_exactly_their_code(skewed_prior):
    """A range decoder reads past its data: 4 bytes would "decode" 65,536 indices (issue 14)."""
    coder = get_index_coder("range", K, skewed_prior)
    with pytest.raises(MessageError, match="4 bytes are not the code of 65536 indices"):
        coder.decode(bytes(4), 65536)
    data = coder.encode(np.arange(300) % 50)
    with pytest.raises(MessageError):
        coder.decode(data + bytes(4), 300)
    np.testing.assert_array_equal(coder.decode(data, 300), np.arange(300) % 50)


def test_prior_save_load_round_trip(tmp_path, skewed_prior):
    path = tmp_path / "index_prior.safetensors"
    skewed_prior.save(path)
    loaded = IndexPrior.load(path)
    assert loaded.fingerprint == skewed_prior.fingerprint
    np.testing.assert_array_equal(loaded.counts, skewed_prior.counts)


def test_prior_load_errors_name_the_file(tmp_path):
    from lamigo.errors import WeightsError

    with pytest.raises(WeightsError, match="index_prior.safetensors"):
        IndexPrior.load(tmp_path / "index_prior.safetensors")
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a safetensors file")
    with pytest.raises(WeightsError, match="broken.safetensors"):
        IndexPrior.load(broken)


@pytest.mark.parametrize("name", sorted(INDEX_CODERS))
def test_coded_sizes_are_the_lengths_encode_groups_gives(name, skewed_prior):
    """The packetizer sizes its groups with coded_sizes and codes them once: the sizes must be
    the coded lengths exactly, for every coder (also with an image table fitted)."""
    rng = np.random.default_rng(7)
    symbols = rng.zipf(1.4, 3000) % K
    coder = get_index_coder(name, K, skewed_prior).fit(symbols, 3.0)
    for n_groups in (1, 7, 29, 300):
        groups = [np.sort(part) for part in np.array_split(rng.permutation(symbols.size), n_groups)]
        assert coder.coded_sizes(symbols, groups) == [len(data) for data in coder.encode_groups(symbols, groups)]
