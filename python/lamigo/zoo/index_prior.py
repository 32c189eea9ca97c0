"""Which index prior a model set uses: the one question both ends of a link must answer alike.

A model set owns its folder (`lamigo.zoo.sets.resolve_model_set`), and the folder owns
`index_prior.safetensors`. The CLI, the GNU Radio blocks, the decoder service and `lamigo train
export` all go through this module, so a message made by one passes the prior-fingerprint check
of every other. No network is loaded."""

from __future__ import annotations

import logging
from pathlib import Path

from lamigo.coding.prior import IndexPrior
from lamigo.zoo.sets import model_set_folder

__all__ = ["INDEX_PRIOR_FILE", "model_set_codebook_size", "model_set_index_prior"]

logger = logging.getLogger(__name__)

INDEX_PRIOR_FILE = "index_prior.safetensors"


def model_set_index_prior(model_set: str | Path | None, weights: str | Path | None = None) -> IndexPrior | None:
    """The pre-shared index prior of a model set: `index_prior.safetensors` in its folder, or
    None (uniform: Huffman and range coding then do not compress) where it has none. Errors as
    `resolve_model_set`'s."""
    folder = model_set_folder(model_set, weights)
    if folder is None:
        return None
    if not (folder / INDEX_PRIOR_FILE).is_file():
        logger.warning("no %s in %s: Huffman and range coding will not compress", INDEX_PRIOR_FILE, folder)
        return None
    return IndexPrior.load(folder / INDEX_PRIOR_FILE)


def model_set_codebook_size(model_set: str | Path | None, prior: IndexPrior | None) -> int | None:
    """The codebook size a receiver of this model set decodes, known without loading a network:
    its index prior's, else the tiny set's (built in code); None where neither says."""
    if prior is not None:
        return prior.codebook_size
    name = str(model_set) if model_set else None
    if name == "tiny":
        from lamigo.models.vqgan import VQGANConfig

        return VQGANConfig.tiny().codebook_size
    return None
