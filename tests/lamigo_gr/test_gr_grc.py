"""The shipped flowgraphs as a GNU Radio Companion user meets them: no block from GNU Radio's
[Core]/Deprecated category (checked against GNU Radio's own block YAML), no overlapping blocks,
signal flowing left to right, and the GRC launcher's Run executing a flowgraph with this
interpreter (what `python -m lamigo_gr.apps.grc` sets up, run headless)."""

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from gnuradio import gr

from lamigo_gr.apps.flowgraphs import FLOWGRAPHS_DIR, GRC_BLOCKS_DIR, _grc_platform, flowgraph_path
from lamigo_gr.apps.grc import CONSOLE_TERMINAL, TERMINAL_VARIABLE, grc_command

FLOWGRAPHS = sorted(path.stem for path in FLOWGRAPHS_DIR.glob("*.grc"))
GNURADIO_BLOCKS = Path(gr.prefix()) / "share" / "gnuradio" / "grc" / "blocks"


def _categories(folder: Path) -> dict[str, str]:
    """Block id -> category, from the block YAML files in `folder`."""
    categories = {}
    for path in folder.glob("*.block.yml"):
        block = yaml.safe_load(path.read_text())
        categories[block["id"]] = block.get("category", "")
    return categories


@pytest.fixture(scope="module")
def categories():
    ours = _categories(GRC_BLOCKS_DIR)
    assert all(category.startswith("[LaMI-GO]/") for category in ours.values())
    return {**_categories(GNURADIO_BLOCKS), **ours}


def test_gnuradio_files_clock_recovery_mm_as_deprecated(categories):
    assert "Deprecated" in categories["digital_clock_recovery_mm_xx"]  # what the check looks for


@pytest.mark.parametrize("name", FLOWGRAPHS)
def test_no_deprecated_block(name, categories):
    graph = yaml.safe_load(flowgraph_path(name).read_text())
    for block in graph["blocks"]:
        assert block["id"] in categories, f"{block['name']}: no YAML for {block['id']}"
        assert "Deprecated" not in categories[block["id"]], f"{block['name']} ({block['id']}) is deprecated"


def _boxes(name: str) -> dict[str, tuple[float, float, float, float]]:
    """Each block's rectangle on GRC's canvas, estimated as GRC draws it: its label and one line
    per shown parameter (GRC truncates values to 27 characters with the name), ports on the
    sides, comment lines below (as wide as their text); about 7 x 15 pixels per character of GRC's
    fonts, 6 of the comments'."""
    platform = _grc_platform()
    flow_graph = platform.make_flow_graph()
    flow_graph.import_data(platform.parse_flow_graph(str(flowgraph_path(name))))
    flow_graph.rewrite()
    boxes = {}
    for block in flow_graph.blocks:
        shown = [param for param in block.params.values() if param.hide == "none"]
        lines = [block.label] + [f"{param.name}: {param.get_value()[:max(27 - len(param.name), 3)]}"
                                 for param in shown]
        comment = block.comment.splitlines()  # drawn under the block, in a smaller font
        width = max([7 * max(len(line) for line in lines) + 40] + [6 * len(line) for line in comment])
        ports = max(len(block.sinks), len(block.sources))
        height = max(15 * len(lines) + 20, 24 * ports + 16) + 15 * len(comment)
        x, y = block.states["coordinate"]
        boxes[block.name] = (x, y, x + width, y + height)
    return boxes


@pytest.mark.parametrize("name", FLOWGRAPHS)
def test_blocks_do_not_overlap_and_signals_flow_left_to_right(name):
    boxes = _boxes(name)
    items = sorted(boxes.items())
    for i, (a, (ax0, ay0, ax1, ay1)) in enumerate(items):
        for b, (bx0, by0, bx1, by1) in items[i + 1:]:
            assert ax1 <= bx0 or bx1 <= ax0 or ay1 <= by0 or by1 <= ay0, f"{a} overlaps {b}"
    graph = yaml.safe_load(flowgraph_path(name).read_text())
    for source, _, sink, _ in graph["connections"]:
        assert boxes[source][0] < boxes[sink][0], f"{source} -> {sink} runs right to left"


# What GRC does on Run (F6), under the launcher's interpreter and environment: generate the
# script beside the flowgraph's copy and run it as gui/Executor.py does (through the configured
# terminal, here the launcher's console runner, for a no-GUI flowgraph). Extra arguments keep the
# run small.
GRC_RUN = r"""
import json, shlex, shutil, subprocess, sys
from pathlib import Path
from gnuradio import gr
from gnuradio.grc.core.platform import Platform

path, extra = sys.argv[1], sys.argv[2]
platform = Platform(name="grc", prefs=gr.prefs(), version=gr.version(),
                    version_parts=(gr.major_version(), gr.api_version(), gr.minor_version()))
platform.build_library()
flow_graph = platform.make_flow_graph()
flow_graph.import_data(platform.parse_flow_graph(path))
flow_graph.rewrite()
flow_graph.validate()
generator = platform.Generator(flow_graph, str(Path(path).parent))
generator.write()
run_command = flow_graph.get_run_command(generator.file_path) + " " + extra
args = shlex.split(run_command)
terminal = shutil.which(gr.prefs().get_string("grc", "xterm_executable", "xterm"))
if generator.generate_options == "no_gui" and terminal:
    args = [terminal, "-e", run_command]
done = subprocess.run(args, cwd=Path(path).parent, capture_output=True, text=True, timeout=240)
print(json.dumps({"run_command": run_command, "args": args, "returncode": done.returncode,
                  "output": done.stdout + done.stderr}))
"""


@pytest.mark.slow
def test_the_launcher_starts_grc_so_that_run_executes_with_this_interpreter(tmp_path, pull_socket, receive_all):
    service, address = pull_socket
    copy = tmp_path / "loopback_sim.grc"
    shutil.copy(flowgraph_path("loopback_sim"), copy)
    command, env = grc_command([str(copy)])
    assert command[0] == sys.executable and Path(command[1]).name == "gnuradio-companion"
    assert command[2:] == [str(copy)]
    assert str(GRC_BLOCKS_DIR) in env["GRC_BLOCKS_PATH"].split(":")
    assert env[TERMINAL_VARIABLE] == str(CONSOLE_TERMINAL)  # Run prints into GRC's console
    extra = f"--size 64x64 --service {address}"
    done = subprocess.run([command[0], "-c", GRC_RUN, str(copy), extra], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    run = json.loads(done.stdout.strip().splitlines()[-1])
    assert run["run_command"].startswith(shlex.quote(sys.executable) + " -u ")
    assert run["returncode"] == 0, run["output"][-3000:]
    assert len(receive_all(service)) == 1  # the message reached the decoder service's socket


def test_the_launcher_refuses_an_unknown_flowgraph_in_one_line(capsys):
    from lamigo_gr.apps.grc import main

    assert main(["no_such_flowgraph"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no flowgraph" in err[0] and "loopback_gui" in err[0]


def test_the_launcher_without_a_display_says_so_in_one_line(capsys, monkeypatch):
    from lamigo_gr.apps.grc import main

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main([]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lamigo grc: error:") and "DISPLAY" in err[0]
