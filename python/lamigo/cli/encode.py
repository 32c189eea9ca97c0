"""`lamigo encode`: image -> GO message file (the transmitter, Algorithm 1)."""

from __future__ import annotations

import argparse

from lamigo.cli.common import add_model_options, load_models, print_json, write_output
from lamigo.coding import INDEX_CODERS, TEXT_CODERS
from lamigo.masking import PDM_PATTERNS, POLICIES, make_policy


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "encode",
        help="encode an image into a GO message",
        description="Encode an image into a GO message: VQGAN indices (eq. 9), a masking policy "
        "drops tokens the receiver regenerates, a caption, entropy coding. Prints the bandwidth "
        "report.",
    )
    parser.add_argument("image", help="image file, or photo:NAME for a bundled photo (e.g. photo:coffee)")
    parser.add_argument("-o", "--output", required=True, metavar="MSG", help="GO message file to write")
    parser.add_argument("--policy", choices=sorted(POLICIES), default="prm",
                        help="masking policy: prm pseudo-random, pdm pre-determined pattern, "
                        "ebm lowest codeword distance (mask sent), none (default: %(default)s)")
    parser.add_argument("--ratio", type=float, default=0.25,
                        help="fraction of tokens masked by prm and ebm (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="prm seed shared with the receiver (default: %(default)s)")
    parser.add_argument("--pattern", choices=list(PDM_PATTERNS), default="2x2",
                        help="pdm pattern from the pre-shared set; 2x2 is the paper's eq. 15 (default: %(default)s)")
    parser.add_argument("--threshold", type=float, default=None, metavar="ETA",
                        help="ebm: mask every token whose distance is below ETA instead of --ratio")
    parser.add_argument("--order", choices=["lowest", "highest"], default="lowest",
                        help="ebm: mask the lowest (paper) or highest distances (default: %(default)s)")
    parser.add_argument("--coder", choices=sorted(INDEX_CODERS), default="huffman",
                        help="index coding: fixed ceil(log2 K) bits, huffman (pre-shared table), "
                        "range (adaptive) (default: %(default)s)")
    parser.add_argument("--text-coder", choices=sorted(TEXT_CODERS), default="huffman",
                        help="caption coding with a static English model, or plain utf8 (default: %(default)s)")
    parser.add_argument("--caption", default=None,
                        help="caption text sent with the indices; overrides any captioner")
    parser.add_argument("--captioner", default=None, metavar="DIR",
                        help="BLIP or BLIP-2 transformers folder that captions the image when "
                        "--caption is not given (default: WEIGHTS/captioner of the model set, "
                        "when present)")
    parser.add_argument("--size", default="256x256", metavar="HxW",
                        help="image size sent, multiples of 32; the image is scaled and centre-cropped "
                        "(default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    add_model_options(parser)
    parser.set_defaults(func=run)


def policy_from_args(args: argparse.Namespace):
    if args.policy == "prm":
        return make_policy("prm", ratio=args.ratio, seed=args.seed)
    if args.policy == "pdm":
        return make_policy("pdm", pattern=args.pattern)
    if args.policy == "ebm":
        if args.threshold is not None:
            return make_policy("ebm", ratio=None, threshold=args.threshold, order=args.order)
        return make_policy("ebm", ratio=args.ratio, order=args.order)
    return make_policy(args.policy)


def run(args: argparse.Namespace) -> int:
    from lamigo.message import bandwidth_report
    from lamigo.pipeline import Transmitter, load_image, parse_size

    policy = policy_from_args(args)
    size = parse_size(args.size)
    image = load_image(args.image)
    # The set's own captioner is loaded only when nothing else gives the caption.
    models, prior = load_models(args, captioner=args.caption is None and args.captioner is None)
    if args.caption is None and args.captioner is not None:
        from lamigo.models.captioner import Captioner

        models.captioner = Captioner(args.captioner, device=next(models.vqgan.parameters()).device)
    transmitter = Transmitter(models, policy, args.coder, args.text_coder, size, prior)
    data = transmitter.pack(transmitter.encode(image, args.caption))
    write_output(args.output, data)
    msg, report = bandwidth_report(data, prior)
    if args.json:
        print_json({"output": args.output, "model_set": models.name, "caption": msg.caption} | report.as_dict())
    else:
        print(f"wrote {args.output}: {len(data)} bytes, model set {models.name}, caption {msg.caption!r}")
        print(report.format())
    return 0
