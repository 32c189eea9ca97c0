"""lamigo_gr.support.gr_logging: importing lamigo_gr quiets Debian's debug-level GNU Radio logging."""

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize("verbose", ["", "1"])
def test_importing_lamigo_gr_lowers_gnuradio_debug_logging_unless_verbose(verbose):
    script = ("from gnuradio import gr; gr.logging().set_default_level(gr.log_levels.debug); "
              "import lamigo_gr; print(gr.logging().default_level())")
    env = {**os.environ, "LAMIGO_GR_VERBOSE": verbose}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("debug" if verbose else "info")
