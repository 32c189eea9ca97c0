"""`lamigo models`: list the model sets and check a weights folder against the architecture."""

from __future__ import annotations

import argparse
from pathlib import Path

from lamigo.errors import ConfigError
from lamigo.zoo.sets import (
    DEFAULT_SET_FOLDER,
    MODEL_SET_FILE,
    MODEL_SET_NAMES,
    WEIGHTS_ENV,
    default_model_set_name,
    resolve_weights_dir,
)
from lamigo.zoo.weights_check import check_weights_dir


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list model sets, check a weights folder",
        description="List the model sets (tiny, default, paella-v3) and check a weights folder "
        "against the architecture before loading it.",
    )
    actions = parser.add_subparsers(dest="models_command", required=True, metavar="ACTION")

    listing = actions.add_parser(
        "list",
        help="the named model sets and where they load from",
        description="The named model sets, where each loads from, and which one commands use "
        "when --model-set is not given.",
    )
    listing.add_argument("--weights", metavar="DIR",
                         help=f"folder of the public Paella weights (default: ${WEIGHTS_ENV})")
    listing.set_defaults(func=run_list)

    check = actions.add_parser(
        "check",
        help="compare a weights folder's files with the architecture; exit 1 on a mismatch",
        description="Check a weights folder without loading it: which files were found, and "
        "which tensor names or shapes differ from what the architecture expects. Paella layout: "
        "vqgan_f4.pt (or vqgan/diffusion_pytorch_model.safetensors, diffusers' conversion of another "
        "checkpoint, marked CAUTION), paella_v3.pt, byt5-xl/, clip-vit-h-14/ (Paella v3 was always "
        "trained with it), optional captioner/. LaMI-GO layout (a folder with model_set.json, "
        "e.g. written by training): vqgan.safetensors, denoiser.safetensors. Exit status 0 when "
        "every required component matches, 1 otherwise.",
    )
    check.add_argument("folder", nargs="?", metavar="DIR",
                       help=f"weights folder (default: --weights, else ${WEIGHTS_ENV})")
    check.add_argument("--weights", metavar="DIR", help="the same as DIR")
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
    print(f"when --model-set is not given: {default_model_set_name(args.weights)}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    folder = Path(args.folder).expanduser() if args.folder else resolve_weights_dir(args.weights)
    if folder is None:
        raise ConfigError(f"name the weights folder: lamigo models check DIR (or set ${WEIGHTS_ENV})")
    layout = "LaMI-GO layout" if (folder / MODEL_SET_FILE).is_file() else "Paella layout"
    checks = check_weights_dir(folder)
    print(f"weights folder {folder} ({layout})")
    for check in checks:
        where = "-" if check.path is None else check.path.relative_to(folder).as_posix()
        print(f"  {check.component:<10} {check.status.upper():<9} {where}: {check.detail}")
    failed = [check.component for check in checks if check.failed]
    if failed:
        print(f"FAILED: {', '.join(failed)} missing or not matching the architecture")
        return 1
    print("OK: every required component matches")
    return 0
