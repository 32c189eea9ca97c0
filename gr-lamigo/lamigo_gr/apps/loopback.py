"""The SNR sweep of LaMI-GO and the classical baselines over each GNU Radio modem and channel, as
a command (the sweep itself is `lamigo_gr.apps.sweep`); one run of a loopback flowgraph from
Python is `run_loopback` (`lamigo_gr.apps.loopback_run`, importable from here too).

    .venv/bin/python -m lamigo_gr.apps.loopback --modems gfsk,psk-cc --snr-db "gfsk:4,6,8;psk-cc:0,1,2" \
        --channels awgn --seeds 3 --baselines jpeg-rst

    from lamigo_gr.apps.loopback import run_loopback
    result = run_loopback(images="photo:coffee", size="64x64", modem="psk-cc", snr_db=3.0)
    print(result.packet_error_rate)

Every option not given takes the flowgraph's own default (its GRC parameter blocks).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from lamigo_gr.apps.flowgraphs import flowgraph_parameters
from lamigo_gr.apps.loopback_run import CLASSICAL_FLOWGRAPH, FLOWGRAPH, LoopbackResult, run_loopback
from lamigo_gr.apps.sweep import SweepConfig, markdown_table, run_sweep

__all__ = ["CLASSICAL_FLOWGRAPH", "FLOWGRAPH", "LoopbackResult", "build_parser", "main", "run_loopback"]


def build_parser() -> argparse.ArgumentParser:
    from lamigo.classical import BASELINES
    from lamigo.cli.common import add_model_set_option, add_realisations_option
    from lamigo.lami.settings import add_decoder_options
    from lamigo.threads import add_threads_option
    from lamigo_gr.blocks.channels import CHANNELS
    from lamigo_gr.blocks.modems import MODEMS

    defaults = flowgraph_parameters(FLOWGRAPH)
    parser = argparse.ArgumentParser(
        prog="python -m lamigo_gr.apps.loopback",
        description="The packet error rate versus SNR and what arrives, LaMI-GO and the classical "
        "baselines over each GNU Radio modem and channel: for each modem, channel, SNR, image and "
        "channel realisation, flowgraphs/loopback_sim.grc carries the GO message and "
        "flowgraphs/loopback_classical.grc each baseline's file at the highest quality that takes no "
        "longer on air with that modem (equal airtime). SNR is per sample (mean signal power over the "
        "complex noise variance in the sample band); every table and plot also gives Es/N0, Eb/N0 per "
        "information bit after FEC, the occupied bandwidth and the airtime at --sample-rate. LaMI-GO is "
        "decoded here with the LaMI decoder, a baseline by the Classical Receiver. Writes OUT/sweep.csv "
        "(one row per run), OUT/sweep.md (means over the images and realisations, with their spread), "
        "OUT/sweep.png (PER vs Eb/N0 per modem; PSNR and ST-LPIPS vs SNR per modem x codec) and "
        "OUT/images/. Flowgraph defaults are the flowgraphs' own.",
    )
    parser.add_argument("--images", default=defaults["images"],
                        help="file, folder, glob or photo:NAME, several separated by ';'; each is one run "
                        "per noise voltage and codec (default: %(default)s)")
    parser.add_argument("--modems", default=defaults["modem"], metavar="NAME,...",
                        help=f"modems swept, among {','.join(MODEMS)} (default: %(default)s)")
    parser.add_argument("--channels", default=defaults["channel"], metavar="NAME,...",
                        help=f"channels swept, among {','.join(CHANNELS)} (default: %(default)s)")
    parser.add_argument("--snr-db", default="4,4.5,5,6,10", metavar="DB,... | MODEM:DB,...;MODEM:DB,...",
                        help="SNR per sample points in dB, for every modem or per modem (each modem's cliff "
                        "lies elsewhere: e.g. 'gfsk:4,5,6;psk-cc:0,1,2'; default: %(default)s)")
    parser.add_argument("--sample-rate", type=float, default=flowgraph_parameters("tx_uhd")["samp_rate"],
                        metavar="S/s", help="sample rate the airtime and the occupied bandwidth are stated at "
                        "(default: the radio flowgraphs' %(default)g)")
    parser.add_argument("--baselines", default="", metavar="CODEC,...",
                        help=f"classical codecs sent beside LaMI-GO, among {','.join(BASELINES)} (as "
                        "lamigo simulate --baselines; default: none)")
    parser.add_argument("--out", default="out/loopback", metavar="DIR", help="output folder (default: %(default)s)")
    parser.add_argument("--size", default=defaults["size"], metavar="HxW",
                        help="image size sent, multiples of 32 (default: %(default)s)")
    parser.add_argument("--caption", default="",
                        help="caption sent with every image (default: the model set's captioner, else a "
                        "bundled photo's own caption, else none)")
    add_model_set_option(parser, weights_option=False)
    parser.add_argument("--noise-seed", type=int, default=defaults["noise_seed"],
                        help="channel seed (fading and noise) of the first realisation, the same for every "
                        "codec at one point (default: %(default)s)")
    add_realisations_option(parser, "modem, channel, SNR, image and codec (channel seeds NOISE_SEED, NOISE_SEED + 1, "
                            "...; every codec meets each; at least 3 for figures to compare)")
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
    from lamigo.zoo.sets import default_model_set_name
    from lamigo_gr.apps.sweep import parse_snr_points

    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("lamigo_gr.apps.sweep").setLevel(logging.INFO)
    from gnuradio import gr

    # Debian's GNU Radio logs at debug level: every failed radio CRC would print between the rows.
    gr.logging().set_default_level(gr.log_levels.debug if args.verbose else gr.log_levels.warn)
    try:
        apply_threads(args.threads)
        modems = [name.strip() for name in args.modems.split(",") if name.strip()]
        config = SweepConfig(
            images=resolve_images(args.images), snr_points=parse_snr_points(args.snr_db, modems),
            baselines=[codec.strip() for codec in args.baselines.split(",") if codec.strip()],
            out=Path(args.out), size=args.size, model_set=args.model_set or default_model_set_name(),
            channels=[name.strip() for name in args.channels.split(",") if name.strip()],
            caption=args.caption, noise_seed=args.noise_seed, seeds=args.realisations,
            sample_rate=args.sample_rate,
            decoder=decoder_settings(args),
            flowgraph={"max_payload": args.max_payload, "control_copies": args.control_copies},
        )
        rows = run_sweep(config)
    except LamigoError as err:
        print(f"loopback: error: {err}", file=sys.stderr)
        return 2
    print(markdown_table(rows, config.sample_rate))
    print(f"wrote {args.out}/: sweep.csv sweep.md sweep.png images/ ({len(rows)} runs, model set {config.model_set})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
