"""The repository's flowgraphs from Python: check, compile (grcc) and run the loopback.

    from lamigo_gr.flowgraphs import run_loopback
    result = run_loopback(images="photo:coffee", size="64x64", noise_voltage=0.6)
    print(result.packet_error_rate)

`grcc` runs under the system Python; the scripts it writes import `lamigo_gr`, so run them with
the project's interpreter (`.venv/bin/python build/flowgraphs/loopback_sim.py --help`).
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import logging
import math
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lamigo.errors import ConfigError

logger = logging.getLogger(__name__)

REPOSITORY = Path(__file__).resolve().parents[2]
GRC_BLOCKS_DIR = REPOSITORY / "grc"  #: our block YAML: put it on GRC_BLOCKS_PATH
FLOWGRAPHS_DIR = REPOSITORY / "flowgraphs"
BUILD_DIR = REPOSITORY / "out" / "flowgraphs"  #: where compile_flowgraph writes by default


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
    ConfigError with grcc's output when it fails or leaves out one of our blocks."""
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
        raise ConfigError(f"grcc could not compile {path}:\n{done.stdout}{done.stderr}")
    return script


def load_top_block_class(name: str | Path, output_dir: str | Path = BUILD_DIR) -> type:
    """The top block class of a flowgraph, compiled when its script is missing or older."""
    path = flowgraph_path(name)
    script = Path(output_dir) / f"{path.stem}.py"
    if not script.is_file() or script.stat().st_mtime < path.stat().st_mtime:
        script = compile_flowgraph(path, output_dir)
    spec = importlib.util.spec_from_file_location(f"lamigo_flowgraph_{path.stem}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, path.stem)


@dataclass
class LoopbackResult:
    """What one run of loopback_sim carried."""

    messages_sent: int
    packets_sent: int
    packets_received: int  #: arrived intact (radio CRC and link CRCs)
    packets_rejected: int  #: passed the radio CRC but not the link layer
    messages_received: int  #: reassembled and sent to the decoder service
    messages_failed: int  #: lost with their control block

    @property
    def packet_error_rate(self) -> float:
        return 1.0 - self.packets_received / self.packets_sent if self.packets_sent else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "packet_error_rate": round(self.packet_error_rate, 4)}


def run_loopback(build_dir: str | Path = BUILD_DIR, **parameters: Any) -> LoopbackResult:
    """Run flowgraphs/loopback_sim.grc to its end (compiled into `build_dir` when needed).
    `parameters` are its GRC parameters: images, count, size, caption, model_set, max_payload,
    control_copies, service, results, output_folder, noise_voltage, freq_offset, timing_offset,
    noise_seed. The received messages go to the decoder service at `service` (PUSH: they wait
    in the socket's queue, up to a second at the end, when no service runs)."""
    top_block = load_top_block_class("loopback_sim", build_dir)(**parameters)
    top_block.start()
    top_block.wait()
    stats = top_block.depacketizer.stats
    return LoopbackResult(
        messages_sent=top_block.go_source.messages_sent,
        packets_sent=top_block.packetizer.packets_out,
        packets_received=stats.packets_accepted,
        packets_rejected=stats.packets_rejected,
        messages_received=top_block.decoder_client.messages_sent,
        messages_failed=stats.messages_failed,
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m lamigo_gr.flowgraphs`: packet error rate of the loopback versus noise."""
    parser = argparse.ArgumentParser(
        prog="python -m lamigo_gr.flowgraphs",
        description="Carry images through flowgraphs/loopback_sim.grc (GNU Radio framing, GFSK, "
        "a noisy channel) once per noise voltage and print the packet error rate versus SNR "
        "(signal power over noise power per sample; Es/N0 is 6 dB more at 4 samples per symbol). "
        "The received messages go to the decoder service (lamigo serve).",
    )
    parser.add_argument("--images", default="photo:coffee", help="file, folder, glob or photo:NAME (default: %(default)s)")
    parser.add_argument("--count", type=int, default=1, help="messages per run (default: %(default)s)")
    parser.add_argument("--size", default="64x64", help="image size HxW, multiples of 32 (default: %(default)s)")
    parser.add_argument("--caption", default="a cup of coffee on a saucer", help="caption sent (default: %(default)r)")
    parser.add_argument("--model-set", default="tiny", help="model set of both ends (default: %(default)s)")
    parser.add_argument("--noise-voltages", default="0.2,0.5,0.6,0.7", metavar="V,V,...",
                        help="channel noise voltages; the signal amplitude is 1 (default: %(default)s)")
    parser.add_argument("--service", default="tcp://127.0.0.1:5557",
                        help="decoder service address the messages go to (default: %(default)s)")
    parser.add_argument("--results", default="",
                        help="where the service publishes decoded images, e.g. tcp://127.0.0.1:5558; "
                        "empty: do not wait for them")
    parser.add_argument("--output-folder", default="",
                        help="save the decoded images in FOLDER/noise_V/message_N.png (with --results)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from gnuradio import gr

    # Debian's GNU Radio logs at debug level: every failed radio CRC would print between the rows.
    gr.logging().set_default_level(gr.log_levels.warn)
    try:
        voltages = [float(v) for v in args.noise_voltages.split(",")]
    except ValueError:
        parser.error(f"--noise-voltages must be numbers separated by commas, got {args.noise_voltages!r}")
    print(f"{'noise V':>8} {'SNR dB':>7} {'packets':>8} {'received':>8} {'PER':>6} {'messages':>8}")
    for voltage in voltages:
        output_folder = str(Path(args.output_folder) / f"noise_{voltage:.3f}") if args.output_folder else ""
        result = run_loopback(images=args.images, count=args.count, size=args.size, caption=args.caption,
                              model_set=args.model_set, service=args.service, results=args.results,
                              output_folder=output_folder, noise_voltage=voltage)
        snr = float("inf") if voltage == 0 else -20 * math.log10(voltage)
        print(f"{voltage:8.3f} {snr:7.1f} {result.packets_sent:8d} {result.packets_received:8d} "
              f"{result.packet_error_rate:6.3f} {result.messages_received:8d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
