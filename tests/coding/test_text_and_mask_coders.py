import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lamigo.coding import TEXT_CODERS, decode_mask, encode_mask, get_text_coder
from lamigo.errors import ConfigError, MessageError

CAPTION = "a man riding a bicycle down a city street next to parked cars"


@settings(max_examples=80, deadline=None)
@given(name=st.sampled_from(sorted(TEXT_CODERS)), text=st.text(max_size=120))
def test_text_round_trip_any_unicode(name, text):
    coder = get_text_coder(name)
    assert coder.decode(coder.encode(text), len(text)) == text


@pytest.mark.parametrize("name, word_padding", [("huffman", 0), ("range", 4)])
def test_english_model_compresses_captions(name, word_padding):
    # The range coder emits whole 32-bit words: up to 4 bytes of padding on top of the code.
    coded_bytes = len(get_text_coder(name).encode(CAPTION)) - word_padding
    assert 8 * coded_bytes / len(CAPTION) < 4.6  # UTF-8 spends 8


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(sorted(TEXT_CODERS)), data=st.binary(max_size=64), n_chars=st.integers(0, 80))
def test_text_garbage_raises_only_message_error(name, data, n_chars):
    try:
        text = get_text_coder(name).decode(data, n_chars)
    except MessageError:
        return
    assert len(text) == n_chars


def test_truncated_caption_is_reported():
    coder = get_text_coder("huffman")
    with pytest.raises(MessageError, match="caption truncated"):
        coder.decode(coder.encode(CAPTION)[:5], len(CAPTION))


def test_unknown_text_coder():
    with pytest.raises(ConfigError, match="unknown text coder"):
        get_text_coder("morse")


@settings(max_examples=60, deadline=None)
@given(mask=arrays(bool, st.tuples(st.integers(1, 24), st.integers(1, 24))))
def test_mask_round_trip(mask):
    np.testing.assert_array_equal(decode_mask(encode_mask(mask), mask.shape), mask)


def test_mask_coding_approaches_entropy():
    rng = np.random.default_rng(0)
    sparse = rng.random((64, 64)) < 0.25
    assert len(encode_mask(sparse)) < 0.85 * 64 * 64 / 8  # H(0.25) = 0.81 bit per position
    block = np.zeros((64, 64), dtype=bool)
    block[8:40, 16:48] = True
    assert len(encode_mask(block)) < 40  # runs cost almost nothing with neighbour contexts


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=80), height=st.integers(1, 16), width=st.integers(1, 16))
def test_mask_garbage_raises_only_message_error(data, height, width):
    try:
        mask = decode_mask(data, (height, width))
    except MessageError:
        return
    assert mask.shape == (height, width)
