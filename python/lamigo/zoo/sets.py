"""Which model set a name means, and loading it: the one answer both ends of a link use.

A model set is what both ends of a LaMI-GO link share: the VQGAN, the token denoiser, the
condition builder and, at the transmitter, an optional captioner. Three names exist:

- "tiny": built in code from a fixed seed (no files), so every process gets identical weights;
  for tests and CPU demos.
- "default": the small trained set shipped in `lamigo/zoo/weights/default/`.
- "paella-v3": the public Paella checkpoints in a weights folder given by `--weights DIR` or
  the `LAMIGO_WEIGHTS` environment variable.

Any other argument is taken as a folder, in either of the two layouts below. `resolve_model_set`
answers "which set, in which folder" for every caller (the loaders here, the index prior of
`lamigo.zoo.index_prior`, the CLI and the GNU Radio blocks), with one error for each way a name
can fail.

Paella layout::

    vqgan_f4.pt                    (or vqgan/diffusion_pytorch_model.safetensors, diffusers;
                                   vqgan_f4.pt wins when both are there)
    paella_v3.pt
    byt5-xl/                       transformers folder of google/byt5-xl (T5 encoder)
    clip-vit-h-14/                 CLIPTextModelWithProjection, laion ViT-H/14 (required unless
                                   allow_missing_clip)
    captioner/                     optional: BLIP or BLIP-2 captioner

LaMI-GO layout (what `save_model_set` writes)::

    model_set.json                 configs of both models and of the condition builder
    vqgan.safetensors
    denoiser.safetensors
    captioner/                     optional

`lamigo.zoo.weights_check` checks a folder of either layout without loading it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import safetensors.torch
import torch

from lamigo.errors import ConfigError, WeightsError, WeightsFolderError
from lamigo.models.captioner import Captioner
from lamigo.models.checkpoints import load_state_dict_checked, read_state_dict
from lamigo.models.conditions import (
    ByteConditionBuilder,
    ConditionBuilder,
    TransformersConditionBuilder,
)
from lamigo.models.paella import Denoiser, PaellaConfig
from lamigo.models.vqgan import VQGAN, VQGANConfig, from_diffusers_state_dict

__all__ = [
    "ModelSet",
    "MODEL_SET_NAMES",
    "WEIGHTS_ENV",
    "DEFAULT_SET_FOLDER",
    "resolve_weights_dir",
    "resolve_model_set",
    "model_set_folder",
    "default_model_set_name",
    "build_tiny_model_set",
    "load_model_set",
    "save_model_set",
    "read_model_set_config",
    "paella_vqgan_path",
    "load_vqgan_checkpoint",
    "load_denoiser_checkpoint",
]

logger = logging.getLogger(__name__)

MODEL_SET_NAMES = ("tiny", "default", "paella-v3")
WEIGHTS_ENV = "LAMIGO_WEIGHTS"
DEFAULT_SET_FOLDER = Path(__file__).parent / "weights" / "default"  #: the shipped "default" set
TINY_SEED = 0

MODEL_SET_FILE = "model_set.json"
VQGAN_FILE = "vqgan.safetensors"
DENOISER_FILE = "denoiser.safetensors"
CAPTIONER_FOLDER = "captioner"

PAELLA_VQGAN_FILE = "vqgan_f4.pt"
DIFFUSERS_VQGAN_FILE = "vqgan/diffusion_pytorch_model.safetensors"
PAELLA_VQGAN_FILES = (PAELLA_VQGAN_FILE, DIFFUSERS_VQGAN_FILE)
# Issue 12: the two files have the same layout but nothing shows they hold the same weights.
DIFFUSERS_VQGAN_NOTE = (
    "the diffusers PaellaVQModel was converted from Wuerstchen's vqgan_f4_v1_500k.pt and may not "
    "hold the weights paella_v3.pt was trained with (its indices could name other codewords); "
    f"prefer Paella's {PAELLA_VQGAN_FILE}"
)
PAELLA_DENOISER_FILE = "paella_v3.pt"
PAELLA_BYT5_FOLDER = "byt5-xl"
PAELLA_CLIP_FOLDER = "clip-vit-h-14"


@dataclass
class ModelSet:
    """The models one end of a link uses. `captioner` is None where none was provided."""

    name: str
    vqgan: VQGAN
    denoiser: Denoiser
    conditions: ConditionBuilder
    captioner: Captioner | None = None


def resolve_weights_dir(weights: str | Path | None = None) -> Path | None:
    """The weights folder: `weights` when given, else $LAMIGO_WEIGHTS, else None."""
    chosen = weights if weights is not None else os.environ.get(WEIGHTS_ENV) or None
    return None if chosen is None else Path(chosen).expanduser()


def default_model_set_name(weights: str | Path | None = None) -> str:
    """The set to use when none is named: paella-v3 with a weights folder, else default when
    its files ship with the package, else tiny."""
    if resolve_weights_dir(weights) is not None:
        return "paella-v3"
    if (DEFAULT_SET_FOLDER / MODEL_SET_FILE).is_file():
        return "default"
    return "tiny"


def resolve_model_set(model_set: str | Path | None, weights: str | Path | None = None) -> tuple[str, Path | None]:
    """Which model set `model_set` means: (its name, its folder). The folder is None for "tiny"
    (built in code), the shipped folder of "default", the weights folder of "paella-v3"
    (`weights`, else $LAMIGO_WEIGHTS), or the folder named (the set is named after it). No name:
    the set `default_model_set_name` picks.

    Raises WeightsError when "default" is not installed, WeightsFolderError (a WeightsError and
    a ConfigError) when "paella-v3" has no weights folder or it is not there, ConfigError for a
    name that is neither a set nor a folder. Nothing is read beyond the folder's existence."""
    name = str(model_set) if model_set else default_model_set_name(weights)
    if name == "tiny":
        return name, None
    if name == "default":
        if not (DEFAULT_SET_FOLDER / MODEL_SET_FILE).is_file():
            raise WeightsError(
                f"the default model set is not installed: expected {MODEL_SET_FILE}, "
                f"{VQGAN_FILE} and {DENOISER_FILE} in {DEFAULT_SET_FOLDER}"
            )
        return name, DEFAULT_SET_FOLDER
    if name == "paella-v3":
        folder = resolve_weights_dir(weights)
        if folder is None:
            raise WeightsFolderError(
                f"the paella-v3 model set needs the public Paella weights: pass --weights DIR "
                f"or set {WEIGHTS_ENV}; DIR holds {PAELLA_VQGAN_FILES[0]}, "
                f"{PAELLA_DENOISER_FILE}, {PAELLA_BYT5_FOLDER}/ and {PAELLA_CLIP_FOLDER}/"
            )
        if not folder.is_dir():
            raise WeightsFolderError(f"weights folder not found: {folder}")
        return name, folder
    folder = Path(name).expanduser()
    if not folder.is_dir():
        raise ConfigError(
            f"unknown model set {name!r}: use one of {', '.join(MODEL_SET_NAMES)} or a model set folder"
        )
    return folder.name, folder


def model_set_folder(model_set: str | Path | None, weights: str | Path | None = None) -> Path | None:
    """The folder of a model set (`resolve_model_set`): None for "tiny"."""
    return resolve_model_set(model_set, weights)[1]


def build_tiny_model_set(device: str | torch.device = "cpu", seed: int = TINY_SEED) -> ModelSet:
    """Tiny untrained models from a fixed seed; identical in every process with the same seed."""
    vqgan_config = VQGANConfig.tiny()
    denoiser_config = PaellaConfig.tiny(codebook_size=vqgan_config.codebook_size)
    # A private RNG stream keeps the global one untouched and the weights reproducible.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        vqgan = VQGAN(vqgan_config)
        denoiser = Denoiser(denoiser_config)
    conditions = ByteConditionBuilder(denoiser_config.byt5_dim, seed=seed, device=device)
    return ModelSet("tiny", vqgan.to(device).eval(), denoiser.to(device).eval(), conditions)


def paella_vqgan_path(folder: Path) -> Path | None:
    """The VQGAN checkpoint of a Paella-layout folder: vqgan_f4.pt when present (even beside the
    diffusers file), else the diffusers file, else None."""
    return next((folder / name for name in PAELLA_VQGAN_FILES if (folder / name).is_file()), None)


def load_vqgan_checkpoint(path: Path, config: VQGANConfig) -> VQGAN:
    """A VQGAN of `config` with the weights of `path` (safetensors, a torch state dict or
    {'state_dict': ...}, Paella's or diffusers' key names); WeightsError when they do not fit."""
    # A diffusers PaellaVQModel layout loads from any file type, as `check_weights_dir` accepts it.
    state_dict = from_diffusers_state_dict(read_state_dict(path))
    with torch.device("meta"):
        vqgan = VQGAN(config)
    return load_state_dict_checked(vqgan, state_dict, path)


def load_denoiser_checkpoint(path: Path, config: PaellaConfig) -> Denoiser:
    """A denoiser of `config` with the weights of `path`; WeightsError when they do not fit."""
    with torch.device("meta"):
        denoiser = Denoiser(config)
    return load_state_dict_checked(denoiser, read_state_dict(path), path)


def _optional_captioner(
    folder: Path, wanted: bool, device: str | torch.device, dtype: torch.dtype
) -> Captioner | None:
    if not wanted or not (folder / CAPTIONER_FOLDER).is_dir():
        return None
    return Captioner(folder / CAPTIONER_FOLDER, device=device, dtype=dtype)


def _check_condition_widths(conditions: TransformersConditionBuilder, config: PaellaConfig) -> None:
    if conditions.byt5_dim != config.byt5_dim:
        raise WeightsError(
            f"the ByT5 encoder gives {conditions.byt5_dim}-d states but the denoiser expects "
            f"{config.byt5_dim}-d (google/byt5-xl)"
        )
    if conditions.clip_dim is not None and conditions.clip_dim != config.clip_dim:
        raise WeightsError(
            f"the CLIP text model gives {conditions.clip_dim}-d embeddings but the denoiser "
            f"expects {config.clip_dim}-d (laion ViT-H/14)"
        )


def _load_paella_folder(
    folder: Path, captioner: bool, device: str | torch.device, dtype: torch.dtype,
    allow_missing_clip: bool,
) -> ModelSet:
    vqgan_path = paella_vqgan_path(folder)
    clip_folder = folder / PAELLA_CLIP_FOLDER
    # Everything required is looked for first, before gigabytes of weights are read.
    required = [PAELLA_DENOISER_FILE, f"{PAELLA_BYT5_FOLDER}/config.json"]
    if not allow_missing_clip:
        required.append(f"{PAELLA_CLIP_FOLDER}/config.json")
    missing = [name for name in required if not (folder / name).is_file()]
    if vqgan_path is None:
        missing.insert(0, " or ".join(PAELLA_VQGAN_FILES))
    if missing:
        clip_hint = (
            "; Paella v3 was never trained without its CLIP text embedding (--allow-missing-clip "
            "runs it anyway)"
            if f"{PAELLA_CLIP_FOLDER}/config.json" in missing else ""
        )
        raise WeightsError(
            f"incomplete Paella weights folder {folder}: expected {', '.join(missing)} "
            f"(`lamigo models check {folder}` lists every component){clip_hint}"
        )
    if not (clip_folder / "config.json").is_file():
        logger.warning("paella-v3 without %s/: the denoiser gets ByT5 alone, a combination it was "
                       "never trained on (--allow-missing-clip)", PAELLA_CLIP_FOLDER)
    if vqgan_path.name != PAELLA_VQGAN_FILE:
        logger.warning("using %s: %s", vqgan_path, DIFFUSERS_VQGAN_NOTE)
    vqgan = load_vqgan_checkpoint(vqgan_path, VQGANConfig.full())
    denoiser_config = PaellaConfig.full()
    denoiser = load_denoiser_checkpoint(folder / PAELLA_DENOISER_FILE, denoiser_config)
    conditions = TransformersConditionBuilder(
        folder / PAELLA_BYT5_FOLDER,
        clip_folder if (clip_folder / "config.json").is_file() else None,
        device=device,
        dtype=dtype,
    )
    _check_condition_widths(conditions, denoiser_config)
    return ModelSet(
        "paella-v3",
        vqgan.to(device).eval(),
        denoiser.to(device, dtype).eval(),
        conditions,
        _optional_captioner(folder, captioner, device, dtype),
    )


def read_model_set_config(folder: Path) -> tuple[VQGANConfig, PaellaConfig, dict]:
    path = folder / MODEL_SET_FILE
    try:
        spec = json.loads(path.read_text())
        vqgan_config = VQGANConfig(**spec["vqgan"])
        denoiser_spec = dict(spec["denoiser"])
        for key in ("level_channels", "level_blocks", "level_pattern"):
            denoiser_spec[key] = tuple(denoiser_spec[key])
        denoiser_config = PaellaConfig(**denoiser_spec)
        conditions_spec = dict(spec["conditions"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise WeightsError(f"{path} is not a valid model set description: {err}") from err
    if conditions_spec.get("kind") == "transformers" and not conditions_spec.get("byt5"):
        raise WeightsError(f"{path}: transformers conditions need the \"byt5\" sub-folder name")
    if vqgan_config.codebook_size != denoiser_config.codebook_size:
        raise WeightsError(
            f"{path}: the VQGAN has {vqgan_config.codebook_size} codewords but the denoiser "
            f"{denoiser_config.codebook_size}"
        )
    return vqgan_config, denoiser_config, conditions_spec


def _build_conditions(
    spec: dict, folder: Path, config: PaellaConfig, device: str | torch.device, dtype: torch.dtype
) -> ConditionBuilder:
    kind = spec.get("kind")
    if kind == "bytes":
        return ByteConditionBuilder(config.byt5_dim, seed=spec.get("seed", 0), device=device)
    if kind == "transformers":
        clip = spec.get("clip")
        conditions = TransformersConditionBuilder(
            folder / spec["byt5"], None if clip is None else folder / clip, device=device, dtype=dtype
        )
        _check_condition_widths(conditions, config)
        return conditions
    raise WeightsError(
        f"{folder / MODEL_SET_FILE}: unknown conditions kind {kind!r} (bytes or transformers)"
    )


def _load_lamigo_folder(
    folder: Path, name: str, captioner: bool, device: str | torch.device, dtype: torch.dtype
) -> ModelSet:
    vqgan_config, denoiser_config, conditions_spec = read_model_set_config(folder)
    vqgan = load_vqgan_checkpoint(folder / VQGAN_FILE, vqgan_config)
    denoiser = load_denoiser_checkpoint(folder / DENOISER_FILE, denoiser_config)
    return ModelSet(
        name,
        vqgan.to(device).eval(),
        denoiser.to(device, dtype).eval(),
        _build_conditions(conditions_spec, folder, denoiser_config, device, dtype),
        _optional_captioner(folder, captioner, device, dtype),
    )


def load_model_set(
    name_or_dir: str | Path | None,
    device: str | torch.device = "cpu",
    weights: str | Path | None = None,
    dtype: torch.dtype = torch.float32,
    captioner: bool = True,
    allow_missing_clip: bool = False,
) -> ModelSet:
    """Load a model set by name ("tiny", "default", "paella-v3") or from a folder
    (`resolve_model_set`; None: the default choice).

    `weights` (else $LAMIGO_WEIGHTS) is the folder of the "paella-v3" set. `dtype` applies to
    the denoiser and the text models; the VQGAN stays in float32. `captioner=False` skips the
    folder's captioner, which only a transmitter uses. A Paella-layout folder needs its
    clip-vit-h-14/ (Paella v3 was always trained with CLIP) unless `allow_missing_clip`, which
    logs a warning. Raises WeightsError naming the file expected when one is missing,
    ConfigError for an unknown name.
    """
    name, folder = resolve_model_set(name_or_dir, weights)
    if folder is None:
        return build_tiny_model_set(device)
    if (folder / MODEL_SET_FILE).is_file():
        return _load_lamigo_folder(folder, name, captioner, device, dtype)
    return _load_paella_folder(folder, captioner, device, dtype, allow_missing_clip)


def save_model_set(
    folder: str | Path, vqgan: VQGAN, denoiser: Denoiser, conditions: dict | None = None
) -> Path:
    """Write a model set in the LaMI-GO layout (e.g. the trained default set).

    `conditions` describes the condition builder: {"kind": "bytes", "seed": 0} (the default)
    or {"kind": "transformers", "byt5": "<sub-folder>", "clip": "<sub-folder or null>"}.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    spec = {
        "vqgan": dataclasses.asdict(vqgan.config),
        "denoiser": dataclasses.asdict(denoiser.config),
        "conditions": conditions or {"kind": "bytes", "seed": TINY_SEED},
    }
    (folder / MODEL_SET_FILE).write_text(json.dumps(spec, indent=2) + "\n")
    for module, name in ((vqgan, VQGAN_FILE), (denoiser, DENOISER_FILE)):
        state_dict = {key: value.contiguous() for key, value in module.state_dict().items()}
        safetensors.torch.save_file(state_dict, folder / name)
    return folder
