"""`lamigo grc`: GNU Radio Companion with the LaMI-GO blocks, under this interpreter. The work
is done by `lamigo_gr.apps.grc`, which needs GNU Radio; this command only hands over to it, so
the core library still imports without GNU Radio."""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys

from lamigo.errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "grc", help="open GNU Radio Companion ready to run the LaMI-GO flowgraphs",
        description="Start GNU Radio Companion under this interpreter with the LaMI-GO blocks on "
        "its path, so that Run (F6) executes the flowgraphs (python -m lamigo_gr.apps.grc).")
    parser.add_argument("flowgraphs", nargs="*", metavar="FLOWGRAPH",
                        help="flowgraphs to open, by name (loopback_sim, loopback_gui, tx_zmq, ...) "
                        "or as .grc paths (default: loopback_sim)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("lamigo_gr") is None:
        raise ConfigError("lamigo grc needs GNU Radio and gr-lamigo's blocks (lamigo_gr), not installed here")
    command = [sys.executable, "-m", "lamigo_gr.apps.grc", *args.flowgraphs]
    os.execv(command[0], command)
