"""The models LaMI-GO shares between transmitter and receiver.

- `vqgan`: Paella's f=4 VQGAN (images <-> index maps, with distances for masking),
- `paella`: the Paella v3 token denoiser,
- `conditions`: caption -> condition builders (ByT5 / CLIP via transformers, or a byte stand-in),
- `captioner`: BLIP-family captioning,
- `checkpoints`: safe state-dict reading and checking.

Named model sets, their loading, their index priors and the check of a weights folder are
`lamigo.zoo`'s.

Importing this package does not import `transformers`; the classes that need it do so when
they are built.
"""

from lamigo.models.paella import Denoiser, PaellaConfig
from lamigo.models.vqgan import VQGAN, VQGANConfig

__all__ = [
    "VQGAN",
    "VQGANConfig",
    "Denoiser",
    "PaellaConfig",
]
