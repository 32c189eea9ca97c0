"""`lamigo models`: list the model sets and check a weights folder.

Also holds the `--model` / `--weights` options other subcommands share.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch

from lamigo.errors import ConfigError
from lamigo.models.registry import (
    DEFAULT_SET_FOLDER,
    MODEL_SET_FILE,
    MODEL_SET_NAMES,
    WEIGHTS_ENV,
    ModelSet,
    check_weights_dir,
    default_model_set_name,
    load_model_set,
    resolve_weights_dir,
)

logger = logging.getLogger(__name__)


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Add `--model NAME|DIR` and `--weights DIR` to a subcommand's parser."""
    parser.add_argument(
        "--model",
        metavar="NAME|DIR",
        help=f"model set: {', '.join(MODEL_SET_NAMES)} or a weights folder (default: paella-v3 "
        f"with a weights folder, else default when installed, else tiny)",
    )
    parser.add_argument(
        "--weights",
        metavar="DIR",
        help=f"folder of the public Paella weights (default: ${WEIGHTS_ENV})",
    )


def model_set_from_args(
    args: argparse.Namespace, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
) -> ModelSet:
    """Load the model set that `--model` / `--weights` (see add_model_arguments) select."""
    name = args.model or default_model_set_name(args.weights)
    if name == "tiny" and not args.model:
        logger.warning("no weights folder and no default weights installed: using the untrained tiny set")
    return load_model_set(name, device=device, weights=args.weights, dtype=dtype)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "models", help="list model sets, check a weights folder", description=__doc__
    )
    actions = parser.add_subparsers(dest="models_command", required=True, metavar="ACTION")

    listing = actions.add_parser("list", help="the named model sets and where they load from")
    listing.add_argument("--weights", metavar="DIR", help=f"weights folder (default: ${WEIGHTS_ENV})")
    listing.set_defaults(func=run_list)

    check = actions.add_parser(
        "check",
        help="compare a weights folder's files with the architecture; exit 1 on a mismatch",
    )
    check.add_argument(
        "folder", nargs="?", metavar="DIR", help=f"weights folder (default: --weights or ${WEIGHTS_ENV})"
    )
    check.add_argument("--weights", metavar="DIR", help=argparse.SUPPRESS)
    check.set_defaults(func=run_check)


def run_list(args: argparse.Namespace) -> int:
    weights = resolve_weights_dir(args.weights)
    default_state = "installed" if (DEFAULT_SET_FOLDER / MODEL_SET_FILE).is_file() else "not installed"
    if weights is None:
        paella_where, paella_state = f"(no --weights, ${WEIGHTS_ENV} unset)", "unavailable"
    else:
        paella_where = str(weights)
        paella_state = "folder found" if weights.is_dir() else "folder not found"
    rows = [
        ("tiny", "built in code from a fixed seed", "available"),
        ("default", str(DEFAULT_SET_FOLDER), default_state),
        ("paella-v3", paella_where, paella_state),
    ]
    for name, where, state in rows:
        print(f"{name:<10} {state:<16} {where}")
    print(f"when --model is not given: {default_model_set_name(args.weights)}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    folder = Path(args.folder) if args.folder else resolve_weights_dir(args.weights)
    if folder is None:
        raise ConfigError(f"name the weights folder: lamigo models check DIR (or set ${WEIGHTS_ENV})")
    layout = "LaMI-GO layout" if (folder / MODEL_SET_FILE).is_file() else "Paella layout"
    checks = check_weights_dir(folder)
    print(f"weights folder {folder} ({layout})")
    for check in checks:
        where = check.path.name if check.path is not None else "-"
        print(f"  {check.component:<10} {check.status.upper():<9} {where}: {check.detail}")
    failed = [check.component for check in checks if check.failed]
    if failed:
        print(f"FAILED: {', '.join(failed)} missing or not matching the architecture")
        return 1
    print("OK: every required component matches")
    return 0
