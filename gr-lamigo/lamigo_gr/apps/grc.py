"""Open GNU Radio Companion ready to run our flowgraphs: `python -m lamigo_gr.apps.grc
[FLOWGRAPH...]` (also `make grc`, `lamigo grc`).

GRC runs a flowgraph with the interpreter it runs under (`{python}` in the flowgraph's run
command is GRC's own sys.executable), so GRC started under the project's interpreter generates
and runs scripts that import `lamigo_gr`, torch and the rest. Our block YAML goes on
GRC_BLOCKS_PATH. GRC would run a no-GUI flowgraph in a terminal emulator (`xterm_executable`
under `[grc]` in GNU Radio's config), which a plain install may lack or which cannot open
without a display; the launcher makes GRC run it in place instead, so its output shows in GRC's
own console and GRC's Kill button (F7) stops it cleanly.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from lamigo.errors import ConfigError, LamigoError
from lamigo_gr.apps.flowgraphs import FLOWGRAPHS_DIR, flowgraph_path, grc_environment

CONSOLE_TERMINAL = Path(__file__).with_name("grc-console-terminal")  #: package data, executable
TERMINAL_VARIABLE = "GR_CONF_GRC_XTERM_EXECUTABLE"  #: GNU Radio reads [grc] xterm_executable from it
DEFAULT_FLOWGRAPH = "loopback_sim"


def grc_command(flowgraphs: list[str]) -> tuple[list[str], dict[str, str]]:
    """(argv, environment) that start GNU Radio Companion on `flowgraphs` (names or paths) under
    this interpreter with our blocks; ConfigError when GRC or a flowgraph is missing."""
    companion = shutil.which("gnuradio-companion")
    if companion is None:
        raise ConfigError("gnuradio-companion not found: install GNU Radio (Debian: gnuradio)")
    paths = [str(flowgraph_path(name)) for name in flowgraphs]
    env = grc_environment()
    env[TERMINAL_VARIABLE] = str(CONSOLE_TERMINAL)
    return [sys.executable, companion, *paths], env


def build_parser() -> argparse.ArgumentParser:
    known = ", ".join(sorted(path.stem for path in FLOWGRAPHS_DIR.glob("*.grc")))
    parser = argparse.ArgumentParser(
        prog="lamigo grc",
        description="Start GNU Radio Companion under the project's interpreter with the LaMI-GO "
        "blocks on its path, so that Run (F6) executes our flowgraphs.",
    )
    parser.add_argument("flowgraphs", nargs="*", default=[DEFAULT_FLOWGRAPH], metavar="FLOWGRAPH",
                        help=f"flowgraphs to open, by name ({known}) or as .grc paths "
                        "(default: %(default)s)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        command, env = grc_command(args.flowgraphs)
        if not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")):
            raise ConfigError("GNU Radio Companion needs a display and neither DISPLAY nor WAYLAND_DISPLAY "
                              "is set: log in graphically (or ssh -X), or run a flowgraph headless, e.g. "
                              "python -m lamigo_gr.apps.loopback --help")
    except LamigoError as err:
        print(f"lamigo grc: error: {err}", file=sys.stderr)
        return 2
    os.execve(command[0], command, env)


if __name__ == "__main__":
    sys.exit(main())
