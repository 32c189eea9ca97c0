"""The model zoo, apart from the model classes of `lamigo.models` (as CompressAI keeps `zoo/`
apart from `models/`): which model set a name means and loading it (`sets`), the index prior a
set owns (`index_prior`), the check of a
weights folder without loading it (`weights_check`), and the trained "default" set shipped in
`weights/default/`."""

from lamigo.zoo.index_prior import INDEX_PRIOR_FILE, model_set_index_prior
from lamigo.zoo.sets import (
    MODEL_SET_NAMES,
    ModelSet,
    default_model_set_name,
    load_model_set,
    resolve_model_set,
    save_model_set,
)

__all__ = [
    "INDEX_PRIOR_FILE",
    "MODEL_SET_NAMES",
    "ModelSet",
    "default_model_set_name",
    "load_model_set",
    "model_set_index_prior",
    "resolve_model_set",
    "save_model_set",
]
