"""The core library runs on a GPU host that has no GNU Radio: no module of `lamigo` may import it."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import lamigo

BLOCKED = ("gnuradio", "pmt", "lamigo_gr")


def test_every_core_module_imports_with_gnuradio_blocked():
    names = [m.name for m in pkgutil.walk_packages(lamigo.__path__, "lamigo.")]
    assert "lamigo.service.server" in names and "lamigo.cli.main" in names
    script = (
        "import sys, importlib\n"
        f"for blocked in {BLOCKED!r}: sys.modules[blocked] = None  # import raises ImportError\n"
        f"for name in {names!r}: importlib.import_module(name)\n"
        "from lamigo.cli.main import build_parser\n"
        "build_parser()\n"
        f"assert not any(b in sys.modules and sys.modules[b] is not None for b in {BLOCKED!r})\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
