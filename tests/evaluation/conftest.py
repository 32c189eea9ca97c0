"""Fixtures of the evaluation tests."""

import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """The tiny models' small ops run far faster on one thread than on two shared cores
    (`pytestmark = pytest.mark.usefixtures("one_thread")` in a module)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
