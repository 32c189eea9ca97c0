"""Which index prior a model set uses: the one question both ends of a link must answer alike.

A model set owns its folder, and the folder owns `index_prior.safetensors`. The CLI, the GNU
Radio blocks, the decoder service and `lamigo train export` all go through this module, so a
message made by one passes the prior-fingerprint check of every other. No network is loaded."""

from __future__ import annotations

import logging
from pathlib import Path

from lamigo.coding.prior import IndexPrior
from lamigo.errors import ConfigError
from lamigo.models.registry import (
    DEFAULT_SET_FOLDER,
    MODEL_SET_NAMES,
    WEIGHTS_ENV,
    default_model_set_name,
    resolve_weights_dir,
)

__all__ = ["INDEX_PRIOR_FILE", "model_set_codebook_size", "model_set_folder", "model_set_index_prior"]

logger = logging.getLogger(__name__)

INDEX_PRIOR_FILE = "index_prior.safetensors"


def model_set_folder(model_set: str | Path | None, weights: str | Path | None = None) -> Path | None:
    """The folder of a model set as `load_model_set` reads it: None for "tiny" (built in code),
    the shipped folder of "default", the weights folder of "paella-v3" (`weights`, else
    $LAMIGO_WEIGHTS), or the folder named. No name: the set `default_model_set_name` picks.
    ConfigError when that folder does not exist."""
    name = str(model_set) if model_set else default_model_set_name(weights)
    if name == "tiny":
        return None
    if name == "default":
        return DEFAULT_SET_FOLDER
    if name == "paella-v3":
        folder = resolve_weights_dir(weights)
        if folder is None:
            raise ConfigError(f"the paella-v3 model set needs its weights folder: pass --weights DIR "
                              f"or set {WEIGHTS_ENV}")
        if not folder.is_dir():
            raise ConfigError(f"weights folder not found: {folder}")
        return folder
    folder = Path(name).expanduser()
    if not folder.is_dir():
        raise ConfigError(f"unknown model set {name!r}: use one of {', '.join(MODEL_SET_NAMES)} "
                          "or a model set folder")
    return folder


def model_set_index_prior(model_set: str | Path | None, weights: str | Path | None = None) -> IndexPrior | None:
    """The pre-shared index prior of a model set: `index_prior.safetensors` in its folder, or
    None (uniform: Huffman and range coding then do not compress) where it has none."""
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
