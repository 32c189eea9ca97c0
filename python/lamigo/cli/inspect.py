"""`lamigo inspect`: what a GO message holds and where its bytes go."""

from __future__ import annotations

import argparse

from lamigo.cli.common import add_model_options, caption_label, print_json, read_input


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "inspect",
        help="show a GO message's header, policy and sizes",
        description="Parse a GO message and show its geometry, masking policy, caption and the "
        "bytes spent on header, mask, text and indices. Exit status 2 if it is malformed.",
    )
    parser.add_argument("message", metavar="MSG", help="GO message file")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    add_model_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lamigo.coding import INDEX_CODERS
    from lamigo.message import VERSION, bandwidth_report, peek_control
    from lamigo.zoo.index_prior import model_set_index_prior

    data = read_input(args.message)
    control = peek_control(data)
    # Only coders built on the pre-shared index prior need the model set's prior to be read.
    uses_prior = INDEX_CODERS.lookup(control.index_coder).uses_prior
    prior = model_set_index_prior(args.model_set, args.weights) if uses_prior else None
    msg, report = bandwidth_report(data, prior)
    g = msg.geometry
    record = {
        "file": args.message,
        "version": VERSION,
        "image": [g.height, g.width],
        "latent": [g.latent_height, g.latent_width],
        "codebook_size": g.codebook_size,
        "prior_fingerprint": f"0x{control.prior_fingerprint:04x}",
        "caption": msg.caption,
    } | report.as_dict()
    if args.json:
        print_json(record)
        return 0
    print(f"{args.message}: GO message v{VERSION}, {len(data)} bytes")
    print(f"image {g.height}x{g.width}, latent {g.latent_height}x{g.latent_width}, codebook {g.codebook_size}, "
          f"index prior {record['prior_fingerprint']}")
    print(f"caption: {caption_label(msg.caption)} ({msg.text_coder} coded)")
    print(report.format())
    return 0
