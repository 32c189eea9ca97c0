"""`lamigo demo`: one image through the whole chain, with the received image and a report."""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

from lamigo.cli.common import add_model_options, load_models

logger = logging.getLogger(__name__)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="send a photo through the chain; write the received image and a report",
        description="Encode a photo into a GO message, decode it with the LaMI decoder, and write "
        "the original, the received image, a side-by-side PNG, the message and a report "
        "(bytes sent against PNG and a JPEG of the same size, tokens regenerated, PSNR, times).",
    )
    parser.add_argument("--image", default="photo:coffee",
                        help="image file or photo:NAME (default: %(default)s)")
    parser.add_argument("--caption", default="a cup of coffee on a saucer on a wooden table",
                        help="caption sent with the image (default: %(default)r)")
    parser.add_argument("--out", default="out/demo", help="output folder (default: %(default)s)")
    parser.add_argument("--policy", default="prm", help="masking policy (default: %(default)s)")
    parser.add_argument("--ratio", type=float, default=0.25, help="masking ratio (default: %(default)s)")
    parser.add_argument("--coder", default="huffman", help="index coder (default: %(default)s)")
    parser.add_argument("--size", default="256x256", metavar="HxW", help="image size (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=8, metavar="T", help="denoising steps (default: %(default)s)")
    parser.add_argument("--renoise", type=int, default=4, metavar="TAU", help="re-noising steps (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="masking and sampling seed (default: %(default)s)")
    add_model_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from lamigo.evaluation.quality import decode_jpeg, jpeg_at_size, png_bytes, psnr
    from lamigo.lami import LaMIDecoder
    from lamigo.masking import make_policy
    from lamigo.message import bandwidth_report
    from lamigo.pipeline import Transmitter, fit_image, load_image, parse_size, save_image, to_uint8

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    size = parse_size(args.size)
    params = {"prm": {"ratio": args.ratio, "seed": args.seed}, "ebm": {"ratio": args.ratio}}.get(args.policy, {})
    policy = make_policy(args.policy, **params)
    models, prior = load_models(args)
    original = fit_image(load_image(args.image), size)

    start = time.perf_counter()
    transmitter = Transmitter(models, policy, args.coder, "huffman", size, prior)
    data = transmitter.pack(transmitter.encode(original, args.caption))
    encode_seconds = time.perf_counter() - start
    (out / "message.lgo").write_bytes(data)

    msg, report = bandwidth_report(data, prior)  # the receiver parses what was sent
    decoder = LaMIDecoder(models, steps=args.steps, renoise=args.renoise)
    result = decoder.decode_messages([msg], seed=args.seed, progress=True)
    received = to_uint8(result.images)[0]

    jpeg = jpeg_at_size(original, len(data))
    jpeg_record = None
    if jpeg is not None:
        (out / "jpeg_same_size.jpg").write_bytes(jpeg[1])
        jpeg_record = {"quality": jpeg[0], "bytes": len(jpeg[1]), "psnr_db": round(psnr(original, decode_jpeg(jpeg[1])), 2)}
    save_image(original, out / "original.png")
    save_image(received, out / "received.png")
    save_image(np.concatenate([original, received], axis=1), out / "side_by_side.png")
    record = {
        "image": args.image,
        "caption": msg.caption,
        "model_set": models.name,
        "message_bytes": len(data),
        "png_bytes": len(png_bytes(original)),
        "jpeg_same_size": jpeg_record,
        "bandwidth": report.as_dict(),
        "tokens_regenerated": int(msg.mask.sum()),
        "steps": args.steps,
        "renoise": args.renoise,
        "encode_seconds": round(encode_seconds, 3),
        "decode_seconds": round(result.timings.total, 3),
        "psnr_db": round(psnr(original, received), 2),
    }
    (out / "report.json").write_text(json.dumps(record, indent=2) + "\n")
    print(report.format())
    print(f"sent {len(data)} bytes (PNG {record['png_bytes']} bytes"
          + (f", JPEG q{jpeg_record['quality']} at {jpeg_record['bytes']} bytes: {jpeg_record['psnr_db']} dB" if jpeg_record else "")
          + f"); regenerated {record['tokens_regenerated']} tokens in {args.steps} steps, "
          f"{record['decode_seconds']} s; PSNR {record['psnr_db']} dB (model set {models.name})")
    print(f"wrote {out}/: original.png received.png side_by_side.png message.lgo report.json")
    return 0
