import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lamigo.coding.wire import Reader, Writer
from lamigo.errors import ConfigError, MessageError
from lamigo.masking import PDM_PATTERNS, POLICIES, make_policy
from lamigo.masking.policies import pseudo_random_mask

SHAPE = (64, 64)


def test_prm_masks_exactly_the_ratio_and_depends_on_seed():
    a = make_policy("prm", ratio=0.35, seed=1).select(SHAPE)
    b = make_policy("prm", ratio=0.35, seed=2).select(SHAPE)
    assert a.sum() == b.sum() == round(0.35 * 64 * 64)
    assert (a != b).any()
    np.testing.assert_array_equal(a, make_policy("prm", ratio=0.35, seed=1).select(SHAPE))


def test_prm_mask_is_pinned_across_versions():
    # The receiver rebuilds the mask from (count, seed): this must never change between releases.
    mask = pseudo_random_mask((4, 4), 5, seed=42)
    assert np.flatnonzero(mask).tolist() == [0, 2, 11, 13, 15]


def test_prm_spreads_over_the_image():
    mask = make_policy("prm", ratio=0.25, seed=0).select(SHAPE)
    quadrants = [mask[:32, :32], mask[:32, 32:], mask[32:, :32], mask[32:, 32:]]
    assert all(0.18 < q.mean() < 0.32 for q in quadrants)


def test_pdm_2x2_is_equation_15():
    mask = make_policy("pdm", pattern="2x2").select((6, 8))
    a, b = np.indices((6, 8))
    np.testing.assert_array_equal(mask, (a % 2 == 0) & (b % 2 == 0))
    assert mask.mean() == 0.25
    np.testing.assert_array_equal(make_policy("pdm", pattern="2x2-inverse").select((6, 8)), ~mask)


def test_ebm_masks_n_lowest_distances():
    distances = np.random.default_rng(0).random(SHAPE)
    mask = make_policy("ebm", ratio=0.25).select(SHAPE, distances)
    assert mask.sum() == 1024
    assert distances[mask].max() < distances[~mask].min()


def test_ebm_highest_and_threshold():
    distances = np.random.default_rng(0).random(SHAPE)
    highest = make_policy("ebm", ratio=0.25, order="highest").select(SHAPE, distances)
    assert distances[highest].min() > distances[~highest].max()
    below = make_policy("ebm", ratio=None, threshold=0.1).select(SHAPE, distances)
    np.testing.assert_array_equal(below, distances < 0.1)


def test_ebm_needs_distances_of_the_right_shape():
    with pytest.raises(ConfigError, match="distances"):
        make_policy("ebm").select(SHAPE)
    with pytest.raises(ConfigError, match="shape"):
        make_policy("ebm").select(SHAPE, np.zeros((4, 4)))


@pytest.mark.parametrize(
    "name, params, match",
    [
        ("random", {}, "unknown masking policy"),
        ("prm", {"ratio": 1.5}, "ratio must lie in"),
        ("prm", {"seed": -1}, "seed"),
        ("pdm", {"pattern": "5x5"}, "unknown PDM pattern"),
        ("ebm", {"ratio": 0.2, "threshold": 0.1}, "exactly one"),
        ("ebm", {"order": "middle"}, "order"),
        ("prm", {"colour": "red"}, "bad parameters"),
    ],
)
def test_bad_policy_parameters(name, params, match):
    with pytest.raises(ConfigError, match=match):
        make_policy(name, **params)


POLICY_CASES = [("none", {}), ("prm", {"ratio": 0.3, "seed": 9}), ("ebm", {"ratio": 0.4})] + [
    ("pdm", {"pattern": p}) for p in PDM_PATTERNS
]


@pytest.mark.parametrize("name, params", POLICY_CASES)
def test_receiver_rebuilds_the_same_mask(name, params):
    distances = np.random.default_rng(3).random((13, 21))
    policy = make_policy(name, **params)
    mask = policy.select((13, 21), distances)
    out = Writer()
    policy.write(mask, out)
    inp = Reader(out.getvalue())
    received_policy, received_mask = type(policy).read(inp, (13, 21))
    inp.expect_end()
    np.testing.assert_array_equal(received_mask, mask)
    assert received_policy.name == name


@settings(max_examples=100, deadline=None)
@given(policy_name=st.sampled_from(sorted(POLICIES)), data=st.binary(max_size=40))
def test_reading_garbage_parameters_raises_only_message_error(policy_name, data):
    try:
        _, mask = POLICIES[policy_name].read(Reader(data), (8, 8))
    except MessageError:
        return
    assert mask.shape == (8, 8)
