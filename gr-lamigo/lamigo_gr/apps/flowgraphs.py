"""The repository's flowgraphs as files: find, check with GRC's own loader, compile with grcc,
load the generated top block, and read a flowgraph's own parameter defaults.

The scripts grcc writes import `lamigo_gr`, so run them with the project's interpreter
(`.venv/bin/python out/flowgraphs/loopback_sim.py --help`), as `lamigo_gr.apps.grc` makes GRC do.
"""

from __future__ import annotations

import ast
import functools
import importlib.resources
import importlib.util
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from lamigo.errors import ConfigError, RunError

# The block YAML and the flowgraphs are package data (the repository's top-level grc/ and
# flowgraphs/ folders, which the package links to), so an installed package needs no checkout.
PACKAGE_DIR = Path(str(importlib.resources.files("lamigo_gr")))
GRC_BLOCKS_DIR = PACKAGE_DIR / "grc"  #: our block YAML: put it on GRC_BLOCKS_PATH
FLOWGRAPHS_DIR = PACKAGE_DIR / "flowgraphs"
BUILD_DIR = Path("out") / "flowgraphs"  #: where compile_flowgraph writes by default, below the working folder


def grc_environment() -> dict[str, str]:
    """The environment with `grc/` on GRC_BLOCKS_PATH, so GRC and grcc find our blocks."""
    env = dict(os.environ)
    paths = [str(GRC_BLOCKS_DIR)] + [p for p in env.get("GRC_BLOCKS_PATH", "").split(os.pathsep) if p]
    env["GRC_BLOCKS_PATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


def flowgraph_path(name: str | Path) -> Path:
    """A flowgraph by name (`loopback_sim`) or path; ConfigError when there is none."""
    path = Path(name)
    if path.suffix != ".grc":
        path = FLOWGRAPHS_DIR / f"{name}.grc"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in FLOWGRAPHS_DIR.glob("*.grc")))
        raise ConfigError(f"no flowgraph {path}; the repository has {known}")
    return path


@functools.cache
def _grc_platform():
    """GRC's platform with GNU Radio's blocks and ours (loading the library takes a second)."""
    from gnuradio import gr
    from gnuradio.grc.core.platform import Platform

    platform = Platform(
        name="gr-lamigo check", prefs=gr.prefs(), version=gr.version(),
        version_parts=(gr.major_version(), gr.api_version(), gr.minor_version()),
    )
    platform.build_library(path=[*platform.config.block_paths, str(GRC_BLOCKS_DIR)])
    return platform


def check_flowgraph(name: str | Path) -> list[str]:
    """Problems GRC finds in a flowgraph, loaded with GRC's own loader and our blocks: unknown
    (placeholder) blocks, which grcc drops without failing, and validation errors. Empty = good."""
    platform = _grc_platform()
    flow_graph = platform.make_flow_graph()
    flow_graph.import_data(platform.parse_flow_graph(str(flowgraph_path(name))))
    flow_graph.rewrite()
    flow_graph.validate()
    problems = [f"unknown block {block.key!r} ({block.name})" for block in flow_graph.blocks
                if getattr(block, "is_dummy_block", False)]
    problems += [f"{element}: {message}" for element, message in flow_graph.iter_error_messages()]
    return problems


def compile_flowgraph(name: str | Path, output_dir: str | Path = BUILD_DIR) -> Path:
    """Compile a flowgraph with grcc (our blocks on GRC_BLOCKS_PATH); the generated script's path.
    RunError with grcc's output when it fails or leaves out one of our blocks."""
    path = flowgraph_path(name)
    grcc = shutil.which("grcc")
    if grcc is None:
        raise ConfigError("grcc not found: install GNU Radio (Debian: gnuradio)")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([grcc, "-o", str(output_dir), str(path)], env=grc_environment(),
                          capture_output=True, text=True)
    script = output_dir / f"{path.stem}.py"
    if done.returncode != 0 or not script.is_file():
        raise RunError(f"grcc could not compile {path}:\n{done.stdout}{done.stderr}")
    return script


def load_top_block_class(name: str | Path, output_dir: str | Path = BUILD_DIR) -> type:
    """The top block class of a flowgraph, compiled when its script is missing or older than the
    flowgraph or our block YAML."""
    path = flowgraph_path(name)
    script = Path(output_dir) / f"{path.stem}.py"
    sources = [path, *GRC_BLOCKS_DIR.glob("*.yml")]
    if not script.is_file() or script.stat().st_mtime < max(p.stat().st_mtime for p in sources):
        script = compile_flowgraph(path, output_dir)
    spec = importlib.util.spec_from_file_location(f"lamigo_flowgraph_{path.stem}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, path.stem)


# GRC parameter types -> Python (grcc writes the same conversions into the script's argparse)
_PARAMETER_TYPES = {"str": str, "intx": int, "long": int, "eng_float": float, "real": float,
                    "complex": complex, "eng_float_no_units": float}


def flowgraph_parameters(name: str | Path) -> dict[str, Any]:
    """A flowgraph's parameter blocks and their default values (what `--help` of its script
    shows), read from the .grc file: runners take their defaults from here, never re-type them."""
    graph = yaml.safe_load(flowgraph_path(name).read_text())
    defaults = {}
    for block in graph["blocks"]:
        if block["id"] != "parameter":
            continue
        params = block["parameters"]
        convert = _PARAMETER_TYPES.get(params.get("type") or "str", str)
        value = params.get("value", "")
        defaults[block["name"]] = convert(value) if convert is str else convert(ast.literal_eval(str(value)))
    return defaults
