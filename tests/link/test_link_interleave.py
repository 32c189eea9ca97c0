import numpy as np
import pytest

from lamigo.errors import ConfigError
from lamigo.link.interleave import INTERLEAVERS, seeded_permutation, token_groups


@pytest.mark.parametrize("interleaver", INTERLEAVERS)
@pytest.mark.parametrize(("count", "n_groups"), [(1, 1), (10, 3), (256, 7), (1000, 1000)])
def test_groups_partition_the_tokens_evenly(interleaver, count, n_groups):
    groups = token_groups(count, n_groups, interleaver, seed=5)
    assert len(groups) == n_groups
    np.testing.assert_array_equal(np.sort(np.concatenate(groups)), np.arange(count))
    sizes = [group.size for group in groups]
    assert max(sizes) - min(sizes) <= 1
    assert all((np.diff(group) > 0).all() for group in groups)


def test_without_interleaving_groups_are_contiguous_runs():
    groups = token_groups(10, 3, "none")
    assert [group.tolist() for group in groups] == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]


def test_block_interleaver_reads_column_by_column():
    groups = token_groups(10, 3, "block")
    assert [group.tolist() for group in groups] == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]


def test_seeded_permutation_is_pinned_across_platforms():
    # Both ends must compute the same permutation whatever their numpy version.
    assert seeded_permutation(8, 0).tolist() == PINNED_PERMUTATION
    assert seeded_permutation(8, 1).tolist() != PINNED_PERMUTATION
    np.testing.assert_array_equal(np.sort(seeded_permutation(1000, 42)), np.arange(1000))


PINNED_PERMUTATION = [1, 4, 5, 7, 6, 0, 3, 2]


@pytest.mark.parametrize("interleaver", ["block", "random"])
def test_interleaving_scatters_a_lost_group_over_the_image(interleaver):
    # A 64x128 latent in 100 packets: a lost packet's tokens should cover many rows, where a
    # contiguous run covers about one.
    rows = lambda group: np.unique(group // 128).size  # noqa: E731
    lost = token_groups(64 * 128, 100, interleaver, seed=3)[17]
    contiguous = token_groups(64 * 128, 100, "none")[17]
    assert rows(contiguous) <= 2
    assert rows(lost) >= 40


def test_bad_arguments_raise_config_error():
    with pytest.raises(ConfigError, match="interleaver"):
        token_groups(10, 2, "spiral")
    with pytest.raises(ConfigError):
        token_groups(10, 11, "block")
    with pytest.raises(ConfigError):
        token_groups(0, 1, "block")
    assert token_groups(0, 0, "random") == []
