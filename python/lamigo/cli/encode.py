"""`lamigo encode`: image -> GO message file (the transmitter, Algorithm 1)."""

from __future__ import annotations

import argparse

from lamigo.cli.common import (
    add_model_options,
    add_transmitter_options,
    caption_label,
    load_transmitter_models,
    policy_from_args,
    print_json,
    write_output,
)
from lamigo.coding import DEFAULT_INDEX_CODER, DEFAULT_TEXT_CODER, INDEX_CODERS, TEXT_CODERS


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
    add_transmitter_options(parser, seed_help="prm seed shared with the receiver")
    parser.add_argument("--coder", choices=sorted(INDEX_CODERS), default=DEFAULT_INDEX_CODER,
                        help="index coding: image-huffman (the image's own Huffman table in the control "
                        "block, or the pre-shared one when that is smaller), fixed ceil(log2 K) bits, "
                        "huffman (pre-shared table), range (adaptive) (default: %(default)s)")
    parser.add_argument("--text-coder", choices=sorted(TEXT_CODERS), default=DEFAULT_TEXT_CODER,
                        help="caption coding with a static English model, or plain utf8 (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    add_model_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lamigo.message import bandwidth_report
    from lamigo.images import load_image, parse_size
    from lamigo.lami.transmitter import Transmitter

    policy = policy_from_args(args)
    size = parse_size(args.size)
    image = load_image(args.image)
    models, prior, caption = load_transmitter_models(args, args.image)
    transmitter = Transmitter(models, policy, args.coder, args.text_coder, size, prior)
    data = transmitter.pack(transmitter.encode(image, caption))
    write_output(args.output, data)
    msg, report = bandwidth_report(data, prior)
    if args.json:
        print_json({"output": args.output, "model_set": models.name, "caption": msg.caption} | report.as_dict())
    else:
        print(f"wrote {args.output}: {len(data)} bytes, model set {models.name}, caption: {caption_label(msg.caption)}")
        print(report.format())
    return 0
