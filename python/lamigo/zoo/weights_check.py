"""Checking a weights folder against the architecture without loading it (`lamigo models check`).

Checkpoints are compared key by key and shape by shape on models built on the meta device;
transformers folders by their config.json and the presence of weight files.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch

from lamigo.errors import WeightsError
from lamigo.models.checkpoints import compare_state_dict, model_shapes, read_shapes
from lamigo.models.paella import Denoiser, PaellaConfig
from lamigo.zoo.sets import (
    CAPTIONER_FOLDER,
    DENOISER_FILE,
    DIFFUSERS_VQGAN_FILE,
    DIFFUSERS_VQGAN_NOTE,
    MODEL_SET_FILE,
    PAELLA_BYT5_FOLDER,
    PAELLA_CLIP_FOLDER,
    PAELLA_DENOISER_FILE,
    PAELLA_VQGAN_FILE,
    PAELLA_VQGAN_FILES,
    VQGAN_FILE,
    paella_vqgan_path,
    read_model_set_config,
)
from lamigo.models.vqgan import VQGAN, VQGANConfig, from_diffusers_state_dict

__all__ = ["ComponentCheck", "check_weights_dir"]


@dataclass
class ComponentCheck:
    """The verdict on one component of a weights folder."""

    component: str
    path: Path | None
    # "ok", "caution" (it fits, but read the detail), "missing", "mismatch" or "absent" (an
    # optional component not provided)
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
    unreadable = _unreadable_weights(folder, weight_files)
    if unreadable:
        return ComponentCheck(component, folder, "mismatch", unreadable)
    return ComponentCheck(component, folder, "ok", f"{config.get('model_type')}, {', '.join(weight_files)}")


def _unreadable_weights(folder: Path, names: list[str]) -> str | None:
    """Why a weight file would not load (safetensors header, or a `.bin` that
    `torch.load(weights_only=True)` refuses), read without loading the tensors; None if all read."""
    from safetensors import safe_open

    for name in names:
        path = folder / name
        try:
            if name.endswith(".safetensors"):
                with safe_open(path, framework="pt"):
                    pass
            else:  # zip checkpoints are memory-mapped, not read; the pickle is checked either way
                torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
        except Exception as err:  # any reason a loader would fail is a mismatch to report
            first_line = (str(err).strip().splitlines() or [""])[0][:160]
            return f"{name} cannot be read safely: {type(err).__name__}: {first_line}"
    return None


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
            vqgan_config, denoiser_config, conditions_spec = read_model_set_config(folder)
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
    return [
        _check_paella_vqgan(folder),
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
            required=True,
            expected={"projection_dim": config.clip_dim},
            hint="CLIP ViT-H/14 text model in transformers format: Paella v3 was always trained with "
            "it (--allow-missing-clip runs without it)",
        ),
        captioner_check,
    ]


def _check_paella_vqgan(folder: Path) -> ComponentCheck:
    """The VQGAN the loader would use, with a caution when it is the diffusers conversion."""
    path = paella_vqgan_path(folder)
    check = _check_checkpoint(
        "vqgan", path or folder / PAELLA_VQGAN_FILE, _meta_shapes(VQGAN, VQGANConfig.full()),
        " or ".join(PAELLA_VQGAN_FILES),
    )
    if check.status != "ok":
        return check
    if path.name == PAELLA_VQGAN_FILE:
        if (folder / DIFFUSERS_VQGAN_FILE).is_file():
            check.detail += f" ({DIFFUSERS_VQGAN_FILE} is also there and not used)"
        return check
    return ComponentCheck("vqgan", path, "caution", f"{check.detail}; {DIFFUSERS_VQGAN_NOTE}")
