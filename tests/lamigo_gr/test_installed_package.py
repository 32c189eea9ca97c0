"""The installed package needs no checkout: a wheel of the project, installed (not editable) into
a fresh venv made as `make setup` makes one (`/usr/bin/python3 -m venv --system-site-packages`),
lists our GRC blocks, compiles and runs `loopback_sim` headless into a decoder service's socket,
and prepares `lamigo grc` with the installed block YAML and console terminal, all from a folder
that holds no checkout.

The project's other dependencies (torch and the rest) are not installed a second time: the fresh
venv sees the project venv's site-packages through a `.pth` line, which adds that folder without
running its `.pth` files, so the editable install's finder stays out and `lamigo`/`lamigo_gr` come
from the wheel alone (checked)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
SOURCES = ["pyproject.toml", "README.md", "python", "gr-lamigo", "grc", "flowgraphs"]

CHECK = r"""
import json, os, sys
import lamigo, lamigo_gr
from lamigo_gr.apps.flowgraphs import FLOWGRAPHS_DIR, GRC_BLOCKS_DIR, check_flowgraph, compile_flowgraph
from lamigo_gr.apps.grc import CONSOLE_TERMINAL, TERMINAL_VARIABLE, grc_command
command, env = grc_command(["loopback_sim"])
script = compile_flowgraph("loopback_sim")
print(json.dumps({
    "lamigo": lamigo.__file__, "lamigo_gr": lamigo_gr.__file__,
    "blocks": sorted(p.name for p in GRC_BLOCKS_DIR.glob("*.block.yml")),
    "flowgraphs": sorted(p.stem for p in FLOWGRAPHS_DIR.glob("*.grc")),
    "problems": check_flowgraph("loopback_sim"),
    "script": str(script.resolve()),
    "grc_command": command, "blocks_path": env["GRC_BLOCKS_PATH"], "terminal": env[TERMINAL_VARIABLE],
    "terminal_executable": os.access(CONSOLE_TERMINAL, os.X_OK),
}))
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(the fresh venv's python, a working folder outside the repository, its environment)."""
    root = tmp_path_factory.mktemp("installed")
    source = root / "source"
    source.mkdir()
    for name in SOURCES:  # a copy, so the build leaves nothing in the checkout
        path = REPOSITORY / name
        if path.is_dir():
            shutil.copytree(path, source / name, symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(path, source / name)
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    wheels = root / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                    "--disable-pip-version-check", "-w", str(wheels), str(source)],
                   check=True, env=env, capture_output=True, timeout=300)
    venv = root / "venv"
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "project_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "--quiet",
                    "--disable-pip-version-check", *map(str, wheels.glob("*.whl"))],
                   check=True, env=env, capture_output=True, timeout=300)
    work = root / "work"
    work.mkdir()
    return python, work, env


@pytest.mark.slow
def test_a_wheel_install_lists_compiles_and_runs_the_flowgraphs_without_a_checkout(installed, pull_socket,
                                                                                    receive_all):
    python, work, env = installed
    done = subprocess.run([str(python), "-c", CHECK], cwd=work, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    venv = str(python.parent.parent)
    for module in ("lamigo", "lamigo_gr"):
        assert found[module].startswith(venv), f"{module} came from {found[module]}, not the wheel"
    assert "lamigo_packetizer.block.yml" in found["blocks"] and "lamigo_image_source.block.yml" in found["blocks"]
    assert {"loopback_sim", "loopback_gui", "tx_zmq", "rx_zmq"} <= set(found["flowgraphs"])
    assert found["problems"] == []
    assert found["script"] == str(work / "out" / "flowgraphs" / "loopback_sim.py")  # below the working folder
    assert found["grc_command"][0] == str(python)
    assert found["blocks_path"].split(":")[0].startswith(venv)
    assert found["terminal"].startswith(venv) and found["terminal_executable"]

    # the compiled flowgraph runs headless and its message reaches the decoder service's socket
    socket, address = pull_socket
    run = subprocess.run([str(python), found["script"], "--size", "64x64", "--model-set", "tiny",
                          "--service", address], cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(receive_all(socket)) == 1

    # the installed command hands over to the installed GRC launcher
    launcher = subprocess.run([str(python.parent / "lamigo"), "grc", "--help"], cwd=work, env=env,
                              capture_output=True, text=True, timeout=120)
    assert launcher.returncode == 0 and "GNU Radio Companion" in launcher.stdout
