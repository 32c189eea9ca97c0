"""Named model sets and weights folders.

A model set is what both ends of a LaMI-GO link share: the VQGAN, the token denoiser, the
condition builder and, at the transmitter, an optional captioner. Three names exist:

- "tiny": built in code from a fixed seed (no files), so every process gets identical weights;
  for tests and CPU demos.
- "default": the small trained set shipped in `lamigo/models/weights/default/`.
- "paella-v3": the public Paella checkpoints in a weights folder given by `--weights DIR` or
  the `LAMIGO_WEIGHTS` environment variable.

Any other argument is taken as a folder, in either of the two layouts below.

Paella layout (`PAELLA_LAYOUT`)::

    vqgan_f4.pt                    (or vqgan/diffusion_pytorch_model.safetensors, diffusers)
    paella_v3.pt
    byt5-xl/                       transformers folder of google/byt5-xl (T5 encoder)
    clip-vit-h-14/                 optional: CLIPTextModelWithProjection, laion ViT-H/14
    captioner/                     optional: BLIP or BLIP-2 captioner

LaMI-GO layout (what `save_model_set` writes)::

    model_set.json                 configs of both models and of the condition builder
    vqgan.safetensors
    denoiser.safetensors
    captioner/                     optional
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

from lamigo.errors import ConfigError, WeightsError
from lamigo.models.captioner import Captioner
from lamigo.models.checkpoints import (
    compare_state_dict,
    load_state_dict_checked,
    model_shapes,
    read_shapes,
    read_state_dict,
)
from lamigo.models.conditions import (
    ByteConditionBuilder,
    ConditionBuilder,
    TransformersConditionBuilder,
)
from lamigo.models.paella import Denoiser, PaellaConfig
from lamigo.models.vqgan import VQGAN, VQGANConfig, from_diffusers_state_dict

__all__ = [
    "ModelSet",
    "ComponentCheck",
    "MODEL_SET_NAMES",
    "WEIGHTS_ENV",
    "DEFAULT_SET_FOLDER",
    "resolve_weights_dir",
    "default_model_set_name",
    "build_tiny_model_set",
    "load_model_set",
    "save_model_set",
    "check_weights_dir",
]

logger = logging.getLogger(__name__)

MODEL_SET_NAMES = ("tiny", "default", "paella-v3")
WEIGHTS_ENV = "LAMIGO_WEIGHTS"
DEFAULT_SET_FOLDER = Path(__file__).parent / "weights" / "default"
TINY_SEED = 0

MODEL_SET_FILE = "model_set.json"
VQGAN_FILE = "vqgan.safetensors"
DENOISER_FILE = "denoiser.safetensors"
CAPTIONER_FOLDER = "captioner"

PAELLA_VQGAN_FILES = ("vqgan_f4.pt", "vqgan/diffusion_pytorch_model.safetensors")
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


def _first_existing(folder: Path, candidates: tuple[str, ...]) -> Path | None:
    return next((folder / name for name in candidates if (folder / name).exists()), None)


def _load_vqgan_checkpoint(path: Path, config: VQGANConfig) -> VQGAN:
    # A diffusers PaellaVQModel layout loads from any file type, as `check_weights_dir` accepts it.
    state_dict = from_diffusers_state_dict(read_state_dict(path))
    with torch.device("meta"):
        vqgan = VQGAN(config)
    return load_state_dict_checked(vqgan, state_dict, path)


def _load_denoiser_checkpoint(path: Path, config: PaellaConfig) -> Denoiser:
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
    folder: Path, captioner: bool, device: str | torch.device, dtype: torch.dtype
) -> ModelSet:
    vqgan_path = _first_existing(folder, PAELLA_VQGAN_FILES)
    # Everything required is looked for first, before gigabytes of weights are read.
    missing = [
        name for name in (PAELLA_DENOISER_FILE, f"{PAELLA_BYT5_FOLDER}/config.json")
        if not (folder / name).is_file()
    ]
    if vqgan_path is None:
        missing.insert(0, " or ".join(PAELLA_VQGAN_FILES))
    if missing:
        raise WeightsError(
            f"incomplete Paella weights folder {folder}: expected {', '.join(missing)} "
            f"(`lamigo models check {folder}` lists every component)"
        )
    vqgan = _load_vqgan_checkpoint(vqgan_path, VQGANConfig.full())
    denoiser_config = PaellaConfig.full()
    denoiser = _load_denoiser_checkpoint(folder / PAELLA_DENOISER_FILE, denoiser_config)
    clip_folder = folder / PAELLA_CLIP_FOLDER
    conditions = TransformersConditionBuilder(
        folder / PAELLA_BYT5_FOLDER,
        clip_folder if clip_folder.is_dir() else None,
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


def _read_lamigo_config(folder: Path) -> tuple[VQGANConfig, PaellaConfig, dict]:
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
    vqgan_config, denoiser_config, conditions_spec = _read_lamigo_config(folder)
    vqgan = _load_vqgan_checkpoint(folder / VQGAN_FILE, vqgan_config)
    denoiser = _load_denoiser_checkpoint(folder / DENOISER_FILE, denoiser_config)
    return ModelSet(
        name,
        vqgan.to(device).eval(),
        denoiser.to(device, dtype).eval(),
        _build_conditions(conditions_spec, folder, denoiser_config, device, dtype),
        _optional_captioner(folder, captioner, device, dtype),
    )


def _load_folder(
    folder: Path, name: str, captioner: bool, device: str | torch.device, dtype: torch.dtype
) -> ModelSet:
    if not folder.is_dir():
        raise WeightsError(f"weights folder not found: {folder}")
    if (folder / MODEL_SET_FILE).is_file():
        return _load_lamigo_folder(folder, name, captioner, device, dtype)
    return _load_paella_folder(folder, captioner, device, dtype)


def load_model_set(
    name_or_dir: str | Path,
    device: str | torch.device = "cpu",
    weights: str | Path | None = None,
    dtype: torch.dtype = torch.float32,
    captioner: bool = True,
) -> ModelSet:
    """Load a model set by name ("tiny", "default", "paella-v3") or from a folder.

    `weights` (else $LAMIGO_WEIGHTS) is the folder of the "paella-v3" set. `dtype` applies to
    the denoiser and the text models; the VQGAN stays in float32. `captioner=False` skips the
    folder's captioner, which only a transmitter uses. Raises WeightsError naming the file
    expected when one is missing, ConfigError for an unknown name.
    """
    if name_or_dir == "tiny":
        return build_tiny_model_set(device)
    if name_or_dir == "default":
        if not (DEFAULT_SET_FOLDER / MODEL_SET_FILE).is_file():
            raise WeightsError(
                f"the default model set is not installed: expected {MODEL_SET_FILE}, "
                f"{VQGAN_FILE} and {DENOISER_FILE} in {DEFAULT_SET_FOLDER}"
            )
        return _load_lamigo_folder(DEFAULT_SET_FOLDER, "default", captioner, device, dtype)
    if name_or_dir == "paella-v3":
        folder = resolve_weights_dir(weights)
        if folder is None:
            raise WeightsError(
                f"the paella-v3 model set needs the public Paella weights: pass --weights DIR "
                f"or set {WEIGHTS_ENV}; DIR holds {PAELLA_VQGAN_FILES[0]}, "
                f"{PAELLA_DENOISER_FILE} and {PAELLA_BYT5_FOLDER}/"
            )
        return _load_folder(folder, "paella-v3", captioner, device, dtype)
    folder = Path(name_or_dir).expanduser()
    if not folder.exists():
        raise ConfigError(
            f"unknown model set {str(name_or_dir)!r}: use one of {', '.join(MODEL_SET_NAMES)} "
            f"or a weights folder"
        )
    return _load_folder(folder, folder.name, captioner, device, dtype)


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


@dataclass
class ComponentCheck:
    """The verdict on one component of a weights folder."""

    component: str
    path: Path | None
    # "ok", "missing", "mismatch" or "absent" (an optional component not provided)
    status: str
    detail: str

    @property
    def failed(self) -> bool:
        """True for a required component that is missing or does not fit."""
        return self.status in ("missing", "mismatch")


def _check_checkpoint(component: str, path: Path | None, expected: dict, hint: str) -> ComponentCheck:
    if path is None or not path.is_file():
        return ComponentCheck(component, path, "missing", f"expected {hint}")
    try:
        found = read_shapes(path)
    except WeightsError as err:
        return ComponentCheck(component, path, "mismatch", str(err))
    diff = compare_state_dict(expected, from_diffusers_state_dict(found))
    status = "ok" if diff.ok else "mismatch"
    detail = f"{len(found)} tensors, {diff.describe()}"
    return ComponentCheck(component, path, status, detail)


def _check_transformers_folder(
    component: str,
    folder: Path,
    required: bool,
    expected: dict[str, object],
    hint: str,
) -> ComponentCheck:
    config_path = folder / "config.json"
    if not folder.is_dir():
        return ComponentCheck(
            component, folder, "missing" if required else "absent", f"expected {hint}"
        )
    if not config_path.is_file():
        return ComponentCheck(component, folder, "mismatch", "no config.json (not a transformers folder)")
    weight_files = sorted(
        path.name for pattern in ("*.safetensors", "pytorch_model*.bin") for path in folder.glob(pattern)
    )
    if not weight_files:
        return ComponentCheck(component, folder, "mismatch", "config.json but no weight files")
    try:
        config = json.loads(config_path.read_text())
    except ValueError as err:
        return ComponentCheck(component, folder, "mismatch", f"unreadable config.json: {err}")
    differences = []
    for key, wanted in expected.items():
        value = config.get(key)
        allowed = wanted if isinstance(wanted, tuple) else (wanted,)
        if value not in allowed:
            differences.append(f"{key} is {value!r}, expected {' or '.join(map(repr, allowed))}")
    if differences:
        return ComponentCheck(component, folder, "mismatch", "; ".join(differences))
    return ComponentCheck(component, folder, "ok", f"{config.get('model_type')}, {', '.join(weight_files)}")


def _meta_shapes(module_type: type, config: object) -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):
        return model_shapes(module_type(config))


def check_weights_dir(folder: str | Path) -> list[ComponentCheck]:
    """Check every component of a weights folder (either layout) against the architecture.

    Checkpoints are compared key by key and shape by shape (without loading their values);
    transformers folders by their config.json and the presence of weight files.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise WeightsError(f"weights folder not found: {folder}")
    captioner_check = _check_transformers_folder(
        "captioner",
        folder / CAPTIONER_FOLDER,
        required=False,
        expected={"model_type": ("blip", "blip-2")},
        hint="a BLIP or BLIP-2 transformers folder (optional; --caption replaces it)",
    )
    if (folder / MODEL_SET_FILE).is_file():
        try:
            vqgan_config, denoiser_config, conditions_spec = _read_lamigo_config(folder)
        except WeightsError as err:
            return [ComponentCheck("model set", folder / MODEL_SET_FILE, "mismatch", str(err))]
        checks = [
            _check_checkpoint("vqgan", folder / VQGAN_FILE, _meta_shapes(VQGAN, vqgan_config), VQGAN_FILE),
            _check_checkpoint(
                "denoiser", folder / DENOISER_FILE, _meta_shapes(Denoiser, denoiser_config), DENOISER_FILE
            ),
        ]
        if conditions_spec.get("kind") == "transformers":
            checks.append(
                _check_transformers_folder(
                    "byt5", folder / conditions_spec["byt5"], True,
                    {"d_model": denoiser_config.byt5_dim}, "a T5 encoder transformers folder",
                )
            )
            if conditions_spec.get("clip"):
                checks.append(
                    _check_transformers_folder(
                        "clip", folder / conditions_spec["clip"], True,
                        {"projection_dim": denoiser_config.clip_dim},
                        "a CLIPTextModelWithProjection transformers folder",
                    )
                )
        return [*checks, captioner_check]

    config = PaellaConfig.full()
    vqgan_path = _first_existing(folder, PAELLA_VQGAN_FILES)
    return [
        _check_checkpoint(
            "vqgan",
            vqgan_path or folder / PAELLA_VQGAN_FILES[0],
            _meta_shapes(VQGAN, VQGANConfig.full()),
            " or ".join(PAELLA_VQGAN_FILES),
        ),
        _check_checkpoint(
            "denoiser", folder / PAELLA_DENOISER_FILE, _meta_shapes(Denoiser, config), PAELLA_DENOISER_FILE
        ),
        _check_transformers_folder(
            "byt5",
            folder / PAELLA_BYT5_FOLDER,
            required=True,
            expected={"d_model": config.byt5_dim},
            hint="google/byt5-xl in transformers format",
        ),
        _check_transformers_folder(
            "clip",
            folder / PAELLA_CLIP_FOLDER,
            required=False,
            expected={"projection_dim": config.clip_dim},
            hint="CLIP ViT-H/14 text model in transformers format (optional)",
        ),
        captioner_check,
    ]
