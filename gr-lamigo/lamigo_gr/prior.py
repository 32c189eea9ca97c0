"""The pre-shared index prior that the transmitter and every receiving block must agree on."""

from __future__ import annotations

import logging
from pathlib import Path

from lamigo.coding.prior import IndexPrior
from lamigo.models.registry import DEFAULT_SET_FOLDER, resolve_weights_dir
from lamigo.pipeline import INDEX_PRIOR_FILE

logger = logging.getLogger(__name__)


def index_prior(model_set: str = "tiny", weights: str | Path | None = None) -> IndexPrior | None:
    """The index prior of a model set without loading its networks: none for "tiny", the file
    `index_prior.safetensors` of "default", of the weights folder of "paella-v3", or of a model
    set folder. None (uniform, as the transmitter then uses) when the set has no such file."""
    if model_set == "tiny":
        return None
    if model_set == "default":
        folder = DEFAULT_SET_FOLDER
    elif model_set == "paella-v3":
        folder = resolve_weights_dir(weights or None)
    else:
        folder = Path(model_set).expanduser()
    if folder is None or not (folder / INDEX_PRIOR_FILE).is_file():
        logger.warning("no %s for model set %s: coders use a uniform prior", INDEX_PRIOR_FILE, model_set)
        return None
    return IndexPrior.load(folder / INDEX_PRIOR_FILE)
