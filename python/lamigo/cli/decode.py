"""`lamigo decode`: GO message file -> image (the receiver, Algorithm 2)."""

from __future__ import annotations

import argparse
import sys
import time

from lamigo.cli.common import add_model_options, load_models, print_json, read_input
from lamigo.lami.settings import add_decoder_options, decoder_settings


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "decode",
        help="regenerate the image of a GO message",
        description="Decode a GO message: the caption conditions the token denoiser, which fills "
        "every masked token by latent mixture integration while the received tokens stay fixed; "
        "the VQGAN decoder turns the indices into the image. The paper's tau/T settings are "
        "--renoise/--steps: 4/8, 28/32, 50/62, 94/100, 194/200.",
    )
    parser.add_argument("message", metavar="MSG", help="GO message file")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.png", help="image file to write")
    parser.add_argument("--plain", action="store_true",
                        help="ablation: plain Paella sampling from noise, received tokens ignored (Fig. 13)")
    parser.add_argument("--bf16", action="store_true",
                        help="bfloat16 autocast for the text encoders, denoiser and VQGAN (CUDA only)")
    parser.add_argument("--json", action="store_true", help="print a JSON record")
    add_decoder_options(parser)
    add_model_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lamigo.lami import LaMIDecoder
    from lamigo.message import ReceiverLimits, unpack_message
    from lamigo.images import save_image, to_uint8

    data = read_input(args.message)
    settings = decoder_settings(args)  # checked before the models take time to load
    models, prior = load_models(args, captioner=False)
    # Refused from its header when the models cannot decode it, before any mask or tensor.
    msg = unpack_message(data, prior, ReceiverLimits.for_models(models).check)
    decoder = LaMIDecoder(models, settings, bf16=args.bf16)
    start = time.perf_counter()
    result = decoder.decode_messages([msg], plain=args.plain, progress=sys.stderr.isatty())
    seconds = time.perf_counter() - start
    save_image(to_uint8(result.images)[0], args.output)
    record = {
        "output": args.output,
        "model_set": models.name,
        "caption": msg.caption,
        "tokens": int(msg.mask.size),
        # The ablation regenerates every token, received or not.
        "tokens_regenerated": int(msg.mask.size if args.plain else msg.mask.sum()),
        **settings.as_dict(),
        "plain": args.plain,
        "decode_seconds": round(seconds, 4),
        "text_seconds": round(result.timings.text_encoding, 4),
        "denoise_seconds": round(result.timings.denoising, 4),
        "vqgan_seconds": round(result.timings.vqgan_decode, 4),
    }
    if args.json:
        print_json(record)
    else:
        print(f"wrote {args.output}: {msg.geometry.height}x{msg.geometry.width}, regenerated "
              f"{record['tokens_regenerated']} of {record['tokens']} tokens in {settings.steps} steps "
              f"({seconds:.2f} s, model set {models.name})")
    return 0
