"""Options and helpers that several subcommands share."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from lamigo.errors import ConfigError
from lamigo.threads import add_threads_option, apply_threads


class _OldName(argparse.Action):
    """Stores like "store", and logs a warning when the option is given by its old name."""

    def __init__(self, *args: Any, old: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.old = old

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        if option_string == self.old:
            logging.getLogger("lamigo.cli").warning("%s is the old name of %s; it will go", self.old,
                                                    self.option_strings[0])
        setattr(namespace, self.dest, values)


def add_renamed_option(parser: argparse.ArgumentParser | argparse._ArgumentGroup, name: str, old: str,
                       **kwargs: Any) -> None:
    """Option `name`, still read under its `old` name (a warning says it is renamed), so each
    option name means one thing in every command while old command lines keep working."""
    kwargs["help"] = f"{kwargs['help']} ({old}: its old name)"
    parser.add_argument(name, old, action=_OldName, old=old, **kwargs)


def add_realisations_option(parser: argparse.ArgumentParser | argparse._ArgumentGroup, per: str) -> None:
    """--seeds N: channel realisations per point of `lamigo eval` and the loopback sweep (dest
    `realisations`; --realisations, its old name, still read)."""
    add_renamed_option(parser, "--seeds", "--realisations", dest="realisations", type=int, default=1, metavar="N",
                       help=f"channel realisations per {per}, each of its own seed derived from the run's; "
                       "the tables give the means over all and the spread (standard deviation) over "
                       "the realisations (default: %(default)s)")


def add_model_set_option(parser: argparse.ArgumentParser | argparse._ArgumentGroup, weights_option: bool = True) -> None:
    """--model-set, for every command and app that loads a model set (`lamigo.zoo.sets`);
    `weights_option`: the command also has --weights (`add_model_options`)."""
    where = "--weights or $LAMIGO_WEIGHTS" if weights_option else "$LAMIGO_WEIGHTS"
    parser.add_argument(
        "--model-set", metavar="NAME|DIR", default=None,
        help="model set of both ends of the link: tiny (built in code, untrained), default (shipped "
        f"trained weights), paella-v3 (public Paella checkpoints in {where}), or a folder written by "
        "`lamigo train`; default: paella-v3 when a weights folder is given, else default when "
        "installed, else tiny",
    )


def add_model_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("models (both ends of a link must use the same set)")
    add_model_set_option(group)
    group.add_argument(
        "--weights", metavar="DIR", default=None,
        help="folder with vqgan_f4.pt, paella_v3.pt and the text encoders' folders "
        "(also read from $LAMIGO_WEIGHTS)",
    )
    group.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    add_threads_option(group)
    group.add_argument(
        "--allow-missing-clip", action="store_true",
        help="run paella-v3 without its clip-vit-h-14/ folder (ByT5 alone, a combination Paella v3 "
        "was never trained on; logged as a warning)",
    )


def add_transmitter_options(parser: argparse.ArgumentParser, seed_help: str) -> None:
    """The masking policy, caption and image size options of every command that transmits."""
    from lamigo import masking
    from lamigo.images import DEFAULT_SIZE

    parser.add_argument("--policy", choices=sorted(masking.POLICIES), default=masking.DEFAULT_POLICY,
                        help="masking policy: prm pseudo-random, pdm pre-determined pattern, "
                        "ebm lowest codeword distance (mask sent), none (default: %(default)s)")
    parser.add_argument("--ratio", type=float, default=masking.DEFAULT_RATIO,
                        help="fraction of tokens masked by prm and ebm (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help=f"{seed_help} (default: %(default)s)")
    parser.add_argument("--pattern", choices=list(masking.PDM_PATTERNS), default=masking.DEFAULT_PATTERN,
                        help="pdm pattern from the pre-shared set; 2x2 is the paper's eq. 15 (default: %(default)s)")
    parser.add_argument("--threshold", type=float, default=None, metavar="ETA",
                        help="ebm: mask every token whose distance is below ETA instead of --ratio")
    parser.add_argument("--order", choices=masking.EBM_ORDERS, default=masking.DEFAULT_ORDER,
                        help="ebm: mask the lowest (paper) or highest distances (default: %(default)s)")
    parser.add_argument("--caption", default=None,
                        help="caption text sent with the indices; overrides any captioner")
    parser.add_argument("--captioner", default=None, metavar="DIR",
                        help="BLIP or BLIP-2 transformers folder that captions the image when "
                        "--caption is not given (default: WEIGHTS/captioner of the model set, "
                        "when present; a bundled photo:NAME without either sends its own caption, "
                        "any other image the empty caption, with a warning)")
    parser.add_argument("--size", default=DEFAULT_SIZE, metavar="HxW",
                        help="image size sent, multiples of 32; the image is scaled and centre-cropped "
                        "(default: %(default)s)")


def policy_from_args(args: argparse.Namespace):
    """The masking policy `add_transmitter_options` selected."""
    from lamigo.masking import policy_from_options

    return policy_from_options(args.policy, args.ratio, args.seed, args.pattern, args.threshold, args.order)


def load_models(args: argparse.Namespace, captioner: bool = True):
    """The model set, and its index prior, that `add_model_options` selected.

    `captioner=False` leaves out the set's captioner (receivers do not caption)."""
    import torch

    from lamigo.zoo.index_prior import model_set_index_prior
    from lamigo.zoo.sets import default_model_set_name, load_model_set

    apply_threads(args.threads)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    name = args.model_set or default_model_set_name(args.weights)
    models = load_model_set(name, device=device, weights=args.weights, captioner=captioner,
                            allow_missing_clip=args.allow_missing_clip)
    return models, model_set_index_prior(name, args.weights)


def load_transmitter_models(args: argparse.Namespace, source: str):
    """The model set and prior of a command that transmits `source`, and the caption to send.

    The caption is --caption; else the --captioner's or the set's captioner makes it (None here);
    else a bundled photo's own; else None, and the transmitter sends the empty caption. The set's
    captioner is loaded only when nothing else gives it."""
    from lamigo.lami.transmitter import caption_to_send

    models, prior = load_models(args, captioner=args.caption is None and args.captioner is None)
    if args.caption is None and args.captioner is not None:
        from lamigo.models.captioner import Captioner

        models.captioner = Captioner(args.captioner, device=next(models.vqgan.parameters()).device)
    return models, prior, caption_to_send(source, args.caption, models)


def caption_label(caption: str) -> str:
    """A caption as the reports print it: quoted, or (none) for the empty caption."""
    return repr(caption) if caption else "(none)"


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
