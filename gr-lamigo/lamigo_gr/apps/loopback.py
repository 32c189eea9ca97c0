"""Run flowgraphs/loopback_sim.grc (a GO message) or flowgraphs/loopback_classical.grc (a
classical file) from Python, and the SNR sweep of LaMI-GO and the classical baselines through the
same modem.

    from lamigo_gr.apps.loopback import run_loopback
    result = run_loopback(images="photo:coffee", size="64x64", noise_voltage=0.6)
    print(result.packet_error_rate)

    .venv/bin/python -m lamigo_gr.apps.loopback --noise-voltages 0.3,0.5,0.6 --baselines jpeg-rst

Every option not given takes the flowgraph's own default (its GRC parameter blocks).
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pmt

from lamigo_gr.apps.flowgraphs import BUILD_DIR, flowgraph_parameters, load_top_block_class

FLOWGRAPH = "loopback_sim"
CLASSICAL_FLOWGRAPH = "loopback_classical"


@dataclass
class LoopbackResult:
    """What one run of a loopback flowgraph carried."""

    messages_sent: int
    packets_sent: int
    packets_received: int  #: arrived intact (radio CRC and link CRCs)
    packets_rejected: int  #: passed the radio CRC but not the link layer
    messages_received: int  #: reassembled and sent to the decoder service; a classical file: decoded
    messages_failed: int  #: lost with their control block (a classical file: its header block)
    bytes_on_air: int = 0  #: the link packets sent, headers and CRCs included (before framing)
    sent: list[bytes] = field(default_factory=list, repr=False)  #: the GO messages or files, as sent
    sent_meta: list[dict] = field(default_factory=list, repr=False)  #: the source's metadata of each
    packets: list[bytes] = field(default_factory=list, repr=False)  #: the link packets, as sent
    arrived: list[bytes] = field(default_factory=list, repr=False)  #: what the demodulator passed on
    #: what the receiving end emitted, (metadata, bytes): the depacketizer's GO messages as they
    #: arrived, or the Classical Receiver's images (PNG)
    received: list[tuple[dict, bytes]] = field(default_factory=list, repr=False)
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
        hidden = ("sent", "sent_meta", "packets", "arrived", "received", "link_config")
        counts = {key: value for key, value in self.__dict__.items() if key not in hidden}
        return {**counts, "packet_error_rate": round(self.packet_error_rate, 4)}


def _pdus(store) -> list[tuple[dict, bytes]]:
    from lamigo_gr.support.pdu import split_pdu

    return [split_pdu(store.get_message(i)) for i in range(store.num_messages())]


def _payloads(store) -> list[bytes]:
    return [bytes(pmt.u8vector_elements(pmt.cdr(store.get_message(i)))) for i in range(store.num_messages())]


def run_loopback(build_dir: str | Path = BUILD_DIR, codec: str = "go", **parameters: Any) -> LoopbackResult:
    """Run flowgraphs/loopback_sim.grc to its end, or with a classical `codec` (jpeg, jpeg-rst,
    jpeg2000) flowgraphs/loopback_classical.grc, which sends each image as that codec's file
    within `budget` bytes on air through the same modem and channel into the Classical Receiver
    (compiled into `build_dir` when needed). `parameters` are the flowgraph's GRC parameters
    (see `flowgraph_parameters`); the others keep its defaults. loopback_sim sends the received
    messages to the decoder service at `service` (PUSH: they wait in the socket's queue, up to a
    second at the end, when no service runs)."""
    from gnuradio import blocks

    name = FLOWGRAPH if codec == "go" else CLASSICAL_FLOWGRAPH
    if codec != "go":
        parameters["codec"] = codec
    top_block = load_top_block_class(name, build_dir)(**parameters)
    receiver = top_block.depacketizer if codec == "go" else top_block.classical_receiver
    # what the source, packetizer, demodulator and receiver emit, recorded beside the flowgraph's own connections
    sent, packets, arrived, received = (blocks.message_debug() for _ in range(4))
    top_block.msg_connect(top_block.go_source, "out", sent, "store")
    top_block.msg_connect(top_block.packetizer, "out", packets, "store")
    top_block.msg_connect(top_block.gfsk_pdu_rx, "out", arrived, "store")
    top_block.msg_connect(receiver, "out", received, "store")
    top_block.start()
    top_block.wait()
    outputs = _pdus(received)
    if codec == "go":
        stats = receiver.stats
        counts = dict(packets_received=stats.packets_accepted, packets_rejected=stats.packets_rejected,
                      messages_received=top_block.decoder_client.messages_sent,
                      messages_failed=stats.messages_failed)
    else:
        counts = dict(packets_received=sum(meta["packets_received"] for meta, _ in outputs),
                      packets_rejected=receiver.rejected,
                      messages_received=sum(bool(meta["decoded_ok"]) for meta, _ in outputs),
                      messages_failed=sum(bool(meta["header_lost"]) for meta, _ in outputs))
    sent_pdus = _pdus(sent)
    return LoopbackResult(
        messages_sent=top_block.go_source.messages_sent,
        packets_sent=top_block.packetizer.packets_out,
        **counts,
        bytes_on_air=sum(len(packet) for packet in _payloads(packets)),
        sent=[data for _, data in sent_pdus],
        sent_meta=[meta for meta, _ in sent_pdus],
        packets=_payloads(packets),
        arrived=_payloads(arrived),
        received=outputs,
        link_config=top_block.packetizer.config,
    )


def build_parser() -> argparse.ArgumentParser:
    from lamigo.classical import BASELINES
    from lamigo.lami.settings import add_decoder_options
    from lamigo.threads import add_threads_option

    defaults = flowgraph_parameters(FLOWGRAPH)
    parser = argparse.ArgumentParser(
        prog="python -m lamigo_gr.apps.loopback",
        description="The packet error rate versus SNR and what arrives, LaMI-GO and the classical "
        "baselines through the same GNU Radio modem: at each noise voltage and for each image, "
        "flowgraphs/loopback_sim.grc carries the GO message and flowgraphs/loopback_classical.grc "
        "each baseline's file at the highest quality whose bytes on air fit the GO message's "
        "(GFSK modem, channels.channel_model; SNR per sample = -20 log10(noise voltage) dB, Es/N0 "
        "6 dB more at 4 samples per symbol). LaMI-GO is decoded here with the LaMI decoder, a "
        "baseline by the Classical Receiver. Writes OUT/sweep.csv (one row per run), OUT/sweep.md "
        "(means over the images), OUT/sweep.png (PER, PSNR and ST-LPIPS against SNR) and "
        "OUT/images/. Flowgraph defaults are the flowgraphs' own.",
    )
    parser.add_argument("--images", default=defaults["images"],
                        help="file, folder, glob or photo:NAME, several separated by ';'; each is one run "
                        "per noise voltage and codec (default: %(default)s)")
    parser.add_argument("--noise-voltages", default="0.3,0.5,0.55,0.6,0.65", metavar="V,V,...",
                        help="channel noise voltages; the signal amplitude is 1 (default: %(default)s)")
    parser.add_argument("--baselines", default="", metavar="CODEC,...",
                        help=f"classical codecs sent beside LaMI-GO, among {','.join(BASELINES)} (as "
                        "lamigo simulate --baselines; default: none)")
    parser.add_argument("--out", default="out/loopback", metavar="DIR", help="output folder (default: %(default)s)")
    parser.add_argument("--size", default=defaults["size"], metavar="HxW",
                        help="image size sent, multiples of 32 (default: %(default)s)")
    parser.add_argument("--caption", default="",
                        help="caption sent with every image (default: the model set's captioner, else a "
                        "bundled photo's own caption, else none)")
    parser.add_argument("--model-set", default=None, metavar="NAME|DIR",
                        help="model set of both ends (default: the shipped default set, tiny when absent)")
    parser.add_argument("--noise-seed", type=int, default=defaults["noise_seed"],
                        help="seed of the channel noise, the same for every run at one voltage "
                        "(default: %(default)s)")
    parser.add_argument("--max-payload", type=int, default=defaults["max_payload"], metavar="BYTES",
                        help="link packet payload of both flowgraphs (default: %(default)s)")
    parser.add_argument("--control-copies", type=int, default=defaults["control_copies"], metavar="N",
                        help="copies of each control (and classical header) chunk (default: %(default)s)")
    add_decoder_options(parser)
    add_threads_option(parser)
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also log what the blocks do, GNU Radio's own at debug level (every failed "
                        "radio CRC); each run is logged without it")
    return parser


def main(argv: list[str] | None = None) -> int:
    from lamigo.errors import LamigoError
    from lamigo.images import resolve_images
    from lamigo.lami.settings import decoder_settings
    from lamigo.threads import apply_threads
    from lamigo.models.registry import default_model_set_name
    from lamigo_gr.apps.sweep import SweepConfig, markdown_table, run_sweep

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        voltages = [float(v) for v in args.noise_voltages.split(",")]
    except ValueError:
        parser.error(f"--noise-voltages must be numbers separated by commas, got {args.noise_voltages!r}")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("lamigo_gr.apps.sweep").setLevel(logging.INFO)
    from gnuradio import gr

    # Debian's GNU Radio logs at debug level: every failed radio CRC would print between the rows.
    gr.logging().set_default_level(gr.log_levels.debug if args.verbose else gr.log_levels.warn)
    try:
        apply_threads(args.threads)
        config = SweepConfig(
            images=resolve_images(args.images), noise_voltages=voltages,
            baselines=[codec.strip() for codec in args.baselines.split(",") if codec.strip()],
            out=Path(args.out), size=args.size, model_set=args.model_set or default_model_set_name(),
            caption=args.caption, noise_seed=args.noise_seed, decoder=decoder_settings(args),
            flowgraph={"max_payload": args.max_payload, "control_copies": args.control_copies},
        )
        rows = run_sweep(config)
    except LamigoError as err:
        print(f"loopback: error: {err}", file=sys.stderr)
        return 2
    print(markdown_table(rows))
    print(f"wrote {args.out}/: sweep.csv sweep.md sweep.png images/ ({len(rows)} runs, model set {config.model_set})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
