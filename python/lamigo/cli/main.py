"""Entry point of the `lamigo` command."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from lamigo import __version__
from lamigo.errors import LamigoError

# Each name is a module lamigo.cli.<name> with `register(subparsers)`; the parser it adds sets
# `func(args) -> int`, and `exit_at_once=True` when nothing is left to tear down once it returns.
SUBCOMMANDS = ["encode", "decode", "inspect", "prior", "models", "simulate", "train", "serve", "eval", "grc"]


class _Parser(argparse.ArgumentParser):
    """Usage errors on one line with exit status 2, like every other user error (subparsers
    inherit the class)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.set_defaults(_usage_parser=self)  # the deepest (sub)command parsed sets it last

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def parse_args(self, args=None, namespace=None):
        """As argparse's, but an unknown argument is reported by the subcommand it was given to
        (`lamigo decode: error: ... (see lamigo decode --help)`), not by `lamigo`."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            getattr(parsed, "_usage_parser", self).error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="lamigo",
        description="LaMI-GO goal-oriented image communication: encode images into GO messages, "
        "carry them over simulated or real radio links, and regenerate them with the LaMI decoder.",
    )
    parser.add_argument("--version", action="version", version=f"lamigo {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)"
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"lamigo.cli.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        code = args.func(args)
    except LamigoError as err:
        print(f"lamigo {args.command}: error: {err}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        code = 130
    if argv is None and getattr(args, "exit_at_once", False):
        # The command line of a command that closed everything it opened (`lamigo serve`): end
        # the process here, since the interpreter's teardown of torch alone takes one to two
        # seconds and a service asked to stop should be gone sooner.
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
