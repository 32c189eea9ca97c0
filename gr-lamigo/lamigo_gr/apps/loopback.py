"""Run flowgraphs/loopback_sim.grc from Python, and its packet error rate versus SNR.

    from lamigo_gr.apps.loopback import run_loopback
    result = run_loopback(images="photo:coffee", size="64x64", noise_voltage=0.6)
    print(result.packet_error_rate)

    .venv/bin/python -m lamigo_gr.apps.loopback --noise-voltages 0.2,0.5,0.6,0.7

Every option not given takes the flowgraph's own default (its GRC parameter blocks).
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pmt

from lamigo_gr.apps.flowgraphs import BUILD_DIR, flowgraph_parameters, load_top_block_class

FLOWGRAPH = "loopback_sim"


@dataclass
class LoopbackResult:
    """What one run of loopback_sim carried."""

    messages_sent: int
    packets_sent: int
    packets_received: int  #: arrived intact (radio CRC and link CRCs)
    packets_rejected: int  #: passed the radio CRC but not the link layer
    messages_received: int  #: reassembled and sent to the decoder service
    messages_failed: int  #: lost with their control block
    bytes_on_air: int = 0  #: the link packets sent, headers and CRCs included (before framing)
    sent: list[bytes] = field(default_factory=list, repr=False)  #: the GO messages, as sent
    packets: list[bytes] = field(default_factory=list, repr=False)  #: the link packets, as sent
    arrived: list[bytes] = field(default_factory=list, repr=False)  #: what the demodulator passed on
    link_config: Any = field(default=None, repr=False)  #: the packetizer's `lamigo.link.LinkConfig`

    @property
    def lost_slots(self) -> frozenset[int]:
        """Positions in the sent packet stream of the packets that did not arrive intact."""
        arrived = set(self.arrived)
        return frozenset(slot for slot, packet in enumerate(self.packets) if packet not in arrived)

    @property
    def packet_error_rate(self) -> float:
        return 1.0 - self.packets_received / self.packets_sent if self.packets_sent else 0.0

    def as_dict(self) -> dict[str, Any]:
        counts = {key: value for key, value in self.__dict__.items() if key not in ("sent", "packets", "arrived", "link_config")}
        return {**counts, "packet_error_rate": round(self.packet_error_rate, 4)}


def _payloads(store) -> list[bytes]:
    return [bytes(pmt.u8vector_elements(pmt.cdr(store.get_message(i)))) for i in range(store.num_messages())]


def run_loopback(build_dir: str | Path = BUILD_DIR, **parameters: Any) -> LoopbackResult:
    """Run flowgraphs/loopback_sim.grc to its end (compiled into `build_dir` when needed).
    `parameters` are its GRC parameters (see `flowgraph_parameters("loopback_sim")`); the others
    keep the flowgraph's defaults. The received messages go to the decoder service at `service`
    (PUSH: they wait in the socket's queue, up to a second at the end, when no service runs)."""
    from gnuradio import blocks

    top_block = load_top_block_class(FLOWGRAPH, build_dir)(**parameters)
    # what the source and the packetizer emit, recorded beside the flowgraph's own connections
    sent_messages, sent_packets, arrived = blocks.message_debug(), blocks.message_debug(), blocks.message_debug()
    top_block.msg_connect(top_block.go_source, "out", sent_messages, "store")
    top_block.msg_connect(top_block.packetizer, "out", sent_packets, "store")
    top_block.msg_connect(top_block.gfsk_demod, "out", arrived, "store")
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
        bytes_on_air=sum(len(packet) for packet in _payloads(sent_packets)),
        sent=_payloads(sent_messages),
        packets=_payloads(sent_packets),
        arrived=_payloads(arrived),
        link_config=top_block.packetizer.config,
    )


def build_parser() -> argparse.ArgumentParser:
    defaults = flowgraph_parameters(FLOWGRAPH)
    parser = argparse.ArgumentParser(
        prog="python -m lamigo_gr.apps.loopback",
        description="Carry images through flowgraphs/loopback_sim.grc (the GFSK modem, a noisy "
        "channel) once per noise voltage and print the packet error rate versus SNR (signal power "
        "over noise power per sample; Es/N0 is 6 dB more at 4 samples per symbol). The received "
        "messages go to the decoder service (lamigo serve). Defaults are the flowgraph's own.",
    )
    parser.add_argument("--images", default=defaults["images"], help="file, folder, glob or photo:NAME (default: %(default)s)")
    parser.add_argument("--count", type=int, default=defaults["count"], help="messages per run (default: %(default)s)")
    parser.add_argument("--size", default=defaults["size"], help="image size HxW, multiples of 32 (default: %(default)s)")
    parser.add_argument("--caption", default=defaults["caption"], help="caption sent (default: %(default)r)")
    parser.add_argument("--model-set", default=defaults["model_set"], help="model set of both ends (default: %(default)s)")
    parser.add_argument("--noise-voltages", default="0.2,0.5,0.6,0.7", metavar="V,V,...",
                        help="channel noise voltages; the signal amplitude is 1 (default: %(default)s)")
    parser.add_argument("--noise-seed", type=int, default=defaults["noise_seed"],
                        help="seed of the channel noise (default: %(default)s)")
    parser.add_argument("--service", default=defaults["service"],
                        help="decoder service address the messages go to (default: %(default)s)")
    parser.add_argument("--results", default=defaults["results"],
                        help="where the service publishes decoded images, e.g. tcp://127.0.0.1:5558; "
                        "empty: do not wait for them (default: %(default)r)")
    parser.add_argument("--output-folder", default="",
                        help="save the decoded images in FOLDER/noise_V/message_N.png (with --results)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        voltages = [float(v) for v in args.noise_voltages.split(",")]
    except ValueError:
        parser.error(f"--noise-voltages must be numbers separated by commas, got {args.noise_voltages!r}")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from gnuradio import gr

    # Debian's GNU Radio logs at debug level: every failed radio CRC would print between the rows.
    gr.logging().set_default_level(gr.log_levels.warn)
    print(f"{'noise V':>8} {'SNR dB':>7} {'packets':>8} {'received':>8} {'PER':>6} {'messages':>8}")
    for voltage in voltages:
        output_folder = str(Path(args.output_folder) / f"noise_{voltage:.3f}") if args.output_folder else ""
        result = run_loopback(images=args.images, count=args.count, size=args.size, caption=args.caption,
                              model_set=args.model_set, service=args.service, results=args.results,
                              output_folder=output_folder, noise_voltage=voltage, noise_seed=args.noise_seed)
        snr = float("inf") if voltage == 0 else -20 * math.log10(voltage)
        print(f"{voltage:8.3f} {snr:7.1f} {result.packets_sent:8d} {result.packets_received:8d} "
              f"{result.packet_error_rate:6.3f} {result.messages_received:8d}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
