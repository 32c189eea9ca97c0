"""Options and helpers that several subcommands share."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lamigo.errors import ConfigError


def add_model_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("models (both ends of a link must use the same set)")
    group.add_argument(
        "--model-set", metavar="NAME|DIR", default=None,
        help="tiny (built in code, untrained), default (shipped trained weights), paella-v3 "
        "(public Paella checkpoints in --weights), or a folder written by `lamigo train`; "
        "default: paella-v3 when a weights folder is given, else default when installed, else tiny",
    )
    group.add_argument(
        "--weights", metavar="DIR", default=None,
        help="folder with vqgan_f4.pt, paella_v3.pt and the text encoders' folders "
        "(also read from $LAMIGO_WEIGHTS)",
    )
    group.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")


def load_models(args: argparse.Namespace, captioner: bool = True):
    """The model set, and its index prior, that `add_model_options` selected.

    `captioner=False` leaves out the set's captioner (receivers do not caption)."""
    import torch

    from lamigo.models.registry import default_model_set_name, load_model_set
    from lamigo.pipeline import load_index_prior

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    name = args.model_set or default_model_set_name(args.weights)
    models = load_model_set(name, device=device, weights=args.weights, captioner=captioner)
    return models, load_index_prior(models, args.weights)


def read_input(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"{path} is a folder, not a message file") from None


def write_output(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def print_json(record: dict) -> None:
    json.dump(record, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
