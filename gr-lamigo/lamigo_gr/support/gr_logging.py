"""GNU Radio's log level as our flowgraphs start. Debian configures GNU Radio to log at `debug`,
which prints a line for every packet that fails a radio CRC (81 lines in 2.5 minutes of the GUI
loopback). Importing `lamigo_gr` (every flowgraph script does) lowers a `debug` default to
`info`, unless the environment variable LAMIGO_GR_VERBOSE is set (to anything but empty or 0);
a level the user chose other than `debug` is left alone. The apps' `--verbose` sets `debug`."""

from __future__ import annotations

import os

from gnuradio import gr

VERBOSE_VARIABLE = "LAMIGO_GR_VERBOSE"


def quiet_debug_logging() -> None:
    """Lower GNU Radio's default log level from debug to info, unless LAMIGO_GR_VERBOSE is set."""
    if os.environ.get(VERBOSE_VARIABLE, "") not in ("", "0"):
        return
    logging = gr.logging()
    if logging.default_level() == gr.log_levels.debug:
        logging.set_default_level(gr.log_levels.info)
