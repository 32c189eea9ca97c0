"""Small GO messages for the link-layer tests (a 16x16 latent keeps every test fast)."""

import numpy as np
import pytest

from lamigo.masking import make_policy
from lamigo.message import Geometry, GOMessage

GEOMETRY = Geometry(height=64, width=64, latent_height=16, latent_width=16, codebook_size=512)
CAPTION = "a red car parked in front of a small house with a green door and two windows"


def _build_message(
    policy: str = "prm",
    index_coder: str = "huffman",
    text_coder: str = "huffman",
    caption: str = CAPTION,
    seed: int = 0,
    geometry: Geometry = GEOMETRY,
    **policy_params,
) -> GOMessage:
    rng = np.random.default_rng(seed)
    shape = geometry.latent_shape
    indices = rng.integers(0, geometry.codebook_size, size=shape)
    params = {"prm": {"ratio": 0.25, "seed": seed}, "pdm": {"pattern": "2x2"}, "ebm": {"ratio": 0.3}}
    policy_obj = make_policy(policy, **{**params.get(policy, {}), **policy_params})
    mask = policy_obj.select(shape, distances=rng.random(shape))
    return GOMessage(geometry, policy_obj, mask, indices, caption, index_coder, text_coder)


@pytest.fixture(scope="session")
def build_message():
    """build_message(policy="prm", index_coder="huffman", text_coder="huffman", caption=CAPTION,
    seed=0, geometry=GEOMETRY, **policy_params) -> GOMessage with random indices."""
    return _build_message


@pytest.fixture(scope="session")
def caption() -> str:
    return CAPTION


@pytest.fixture
def rs_decodes(monkeypatch) -> list[int]:
    """[n]: the Reed-Solomon decodes the protected-block vote makes from now on."""
    import lamigo.link.protected_block as protected_block

    calls = [0]
    decode = protected_block.decode_chunk

    def counted(copies):
        calls[0] += len(copies)
        return decode(copies)

    monkeypatch.setattr(protected_block, "decode_chunk", counted)
    return calls
