import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lamigo.classical import encode_at_budget, highest_fitting
from lamigo.classical.jpeg import encode as jpeg_encode
from lamigo.images import fit_image, load_image


def exhaustive(costs, budget):
    return max((i for i, c in enumerate(costs) if c <= budget), default=None)


def test_quality_1_larger_than_quality_2_still_finds_2():
    # libjpeg allows this; a plain bisection probes 1 last, finds it too large and returns nothing.
    costs = [300, 250] + [400 + 10 * i for i in range(98)]
    found = highest_fitting(range(100), lambda i: costs[i], lambda c: c, 260)
    assert found == (1, 250)


@settings(max_examples=300, deadline=None)
@given(steps=st.lists(st.integers(1, 50), min_size=2, max_size=120), data=st.data())
def test_exact_when_a_size_dips_no_further_back_than_the_window(steps, data):
    costs = list(itertools.accumulate(steps))
    dipping = data.draw(st.integers(1, len(costs) - 1))
    back = data.draw(st.integers(1, dipping))
    costs[dipping] = costs[dipping - back] - 1  # cheaper than the `back` settings below it
    budget = data.draw(st.integers(0, costs[-1] + 10))
    found = highest_fitting(range(len(costs)), costs.__getitem__, lambda c: c, budget, window=back + 1)
    assert (found[0] if found else None) == exhaustive(costs, budget)


def test_exhaustive_search_on_any_order():
    costs = [9, 1, 8, 2, 7, 3, 6, 4, 5, 10]
    for budget in range(12):
        found = highest_fitting(range(10), lambda i: costs[i], lambda c: c, budget, window=None)
        assert (found[0] if found else None) == exhaustive(costs, budget)


@pytest.fixture(scope="module")
def small_coffee():
    return fit_image(load_image("photo:coffee"), (32, 32))


def test_real_jpeg_size_not_monotonic_in_quality(small_coffee):
    sizes = [len(jpeg_encode(small_coffee, q, False)) for q in range(1, 101)]
    dips = [q for q in range(2, 101) if sizes[q - 1] < sizes[q - 2]]
    assert dips, "libjpeg made every quality at least as large as the one below on this image"
    for q in dips:
        budget = sizes[q - 1]
        chosen = encode_at_budget("jpeg", small_coffee, budget)
        # The highest quality that fits, though the quality just below it does not fit.
        assert chosen.setting == max(i + 1 for i, s in enumerate(sizes) if s <= budget)
        assert len(chosen.data) <= budget < sizes[q - 2]


def test_bytes_on_air_function_decides_the_fit(small_coffee):
    plain = encode_at_budget("jpeg", small_coffee, 1000)
    # A link that adds 20 bytes per 50-byte payload and repeats the header: fewer bytes for the file.
    def on_air(data):
        return len(data) + 20 * -(-len(data) // 50) + len(data[:plain.header_bytes])

    on_link = encode_at_budget("jpeg", small_coffee, 1000, bytes_on_air=on_air)
    assert on_link.bytes_on_air == on_air(on_link.data) <= 1000
    assert on_link.setting < plain.setting
    assert encode_at_budget("jpeg", small_coffee, 2000, bytes_on_air=on_air).bytes_on_air > 1000


def test_nothing_fits_a_budget_below_the_smallest_file(small_coffee):
    for codec in ("jpeg", "jpeg-rst", "jpeg2000"):
        assert encode_at_budget(codec, small_coffee, 50) is None
