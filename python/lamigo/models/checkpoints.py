"""Safe checkpoint reading and state-dict comparison.

Only `safetensors` files and `torch.load(weights_only=True)` are used, so a checkpoint can hold
tensors but never code. Comparisons run against a model built on the meta device, which costs
no memory even for the 1B-parameter denoiser.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import safetensors
import safetensors.torch
import torch
from torch import nn

from lamigo.errors import WeightsError

__all__ = [
    "StateDictDiff",
    "read_state_dict",
    "read_shapes",
    "compare_state_dict",
    "model_shapes",
    "load_state_dict_checked",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_TORCH_SUFFIXES = {".pt", ".pth", ".bin", ".ckpt"}
# Prefixes that DistributedDataParallel and torch.compile add to every key.
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")
_OPTIONAL_SUFFIX = ".num_batches_tracked"


def _strip_wrapper_prefixes(mapping: dict[str, T]) -> dict[str, T]:
    for prefix in _WRAPPER_PREFIXES:
        if mapping and all(key.startswith(prefix) for key in mapping):
            mapping = {key[len(prefix) :]: value for key, value in mapping.items()}
    return mapping


def _unwrap(checkpoint: object, path: Path) -> dict[str, torch.Tensor]:
    # Training scripts often save {"state_dict": ...} next to optimizer state.
    if isinstance(checkpoint, dict) and isinstance(checkpoint.get("state_dict"), dict):
        checkpoint = checkpoint["state_dict"]
    if not isinstance(checkpoint, dict) or not all(
        isinstance(value, torch.Tensor) for value in checkpoint.values()
    ):
        raise WeightsError(f"{path} does not hold a state dict (a mapping of names to tensors)")
    return _strip_wrapper_prefixes(checkpoint)


def _torch_load(path: Path) -> object:
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError as err:
        # Files written before torch 1.6 (or with the legacy format) cannot be memory-mapped.
        if "mmap" not in str(err):
            raise
        logger.info("%s is in torch's legacy format: reading it without mmap", path)
        return torch.load(path, map_location="cpu", weights_only=True)


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from a `.safetensors` file or a torch file (`.pt`, `.pth`, ...).

    Torch files are memory-mapped, so a multi-GB checkpoint is not copied into RAM up front.
    Raises WeightsError when the file is missing, unreadable or holds something else.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    try:
        if path.suffix == ".safetensors":
            return _strip_wrapper_prefixes(safetensors.torch.load_file(path))
        if path.suffix in _TORCH_SUFFIXES:
            return _unwrap(_torch_load(path), path)
    except WeightsError:
        raise
    except Exception as err:  # noqa: BLE001 - any parse failure means an unusable file
        kind = "safetensors" if path.suffix == ".safetensors" else "torch checkpoint"
        raise WeightsError(f"cannot read {path} as a {kind} ({type(err).__name__}: {err}): "
                           "damaged, cut short, or not a checkpoint") from err
    raise WeightsError(
        f"{path}: unknown weights format; use .safetensors or a torch state dict (.pt, .pth)"
    )


def read_shapes(path: str | Path) -> dict[str, tuple[int, ...]]:
    """Names and shapes of the tensors in a checkpoint, reading as little of it as possible."""
    path = Path(path)
    if path.suffix == ".safetensors" and path.is_file():
        try:
            with safetensors.safe_open(path, framework="pt") as handle:
                shapes = {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}
            return _strip_wrapper_prefixes(shapes)
        except Exception as err:  # noqa: BLE001 - any parse failure means an unusable file
            raise WeightsError(f"cannot read {path}: {err}") from err
    return {key: tuple(value.shape) for key, value in read_state_dict(path).items()}


@dataclass
class StateDictDiff:
    """How a checkpoint's keys and shapes differ from what a model expects."""

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    # key -> (expected shape, found shape)
    shape_mismatches: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = field(
        default_factory=dict
    )

    @property
    def ok(self) -> bool:
        """True when every key is present with the expected shape."""
        return not (self.missing or self.unexpected or self.shape_mismatches)

    def describe(self, limit: int = 5) -> str:
        """A short human-readable summary, listing at most `limit` keys per kind of difference."""
        if self.ok:
            return "all keys and shapes match"

        def listing(keys: list[str]) -> str:
            more = f", ... ({len(keys) - limit} more)" if len(keys) > limit else ""
            return ", ".join(keys[:limit]) + more

        parts = []
        if self.missing:
            parts.append(f"{len(self.missing)} missing keys: {listing(self.missing)}")
        if self.unexpected:
            parts.append(f"{len(self.unexpected)} unexpected keys: {listing(self.unexpected)}")
        if self.shape_mismatches:
            shown = [
                f"{key} expected {list(expected)} found {list(found)}"
                for key, (expected, found) in self.shape_mismatches.items()
            ]
            parts.append(f"{len(shown)} shapes differ: {listing(shown)}")
        return "; ".join(parts)


def compare_state_dict(
    expected: dict[str, tuple[int, ...]], found: dict[str, tuple[int, ...]]
) -> StateDictDiff:
    """Compare two {key: shape} maps (e.g. a model's against a checkpoint's).

    BatchNorm's `num_batches_tracked` counter may be absent: inference never reads it.
    """
    return StateDictDiff(
        missing=sorted(
            key for key in set(expected) - set(found) if not key.endswith(_OPTIONAL_SUFFIX)
        ),
        unexpected=sorted(set(found) - set(expected)),
        shape_mismatches={
            key: (tuple(expected[key]), tuple(found[key]))
            for key in sorted(set(expected) & set(found))
            if tuple(expected[key]) != tuple(found[key])
        },
    )


def model_shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    """{key: shape} of a model's state dict."""
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


def load_state_dict_checked(
    model: nn.Module, state_dict: dict[str, torch.Tensor], source: str | Path
) -> nn.Module:
    """Load `state_dict` into `model` after checking every key and shape.

    A model on the meta device takes the checkpoint's tensors as its own (no copy). Raises
    WeightsError naming `source` and the differing keys when the checkpoint does not fit.
    """
    diff = compare_state_dict(
        model_shapes(model), {key: tuple(value.shape) for key, value in state_dict.items()}
    )
    if not diff.ok:
        raise WeightsError(
            f"{source} does not fit {type(model).__name__}: {diff.describe()}"
        )
    expected = model.state_dict()
    on_meta = any(parameter.is_meta for parameter in model.parameters())
    if on_meta:
        # Assigned tensors become the parameters, so they must already have the model's
        # dtypes (a half-precision checkpoint would otherwise make a half-precision model).
        state_dict = {key: value.to(expected[key].dtype) for key, value in state_dict.items()}
    else:
        state_dict = dict(state_dict)
    for key in expected.keys() - state_dict.keys():
        state_dict[key] = torch.zeros((), dtype=torch.long)  # an absent num_batches_tracked
    model.load_state_dict(state_dict, assign=on_meta)
    logger.debug("loaded %d tensors from %s", len(state_dict), source)
    return model
