"""`lamigo prior`: count codeword use over a set of images -> the pre-shared index prior that
the Huffman and range coders derive their codes from."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from lamigo.cli.common import add_model_options, load_models

logger = logging.getLogger(__name__)


def register(subparsers) -> None:
    from lamigo.images import DEFAULT_SIZE

    parser = subparsers.add_parser(
        "prior",
        help="build the index prior (Huffman/range code table) from images",
        description="Encode images with the model set's VQGAN and count how often each codeword "
        "occurs. Put the result beside the weights as index_prior.safetensors: both ends of a "
        "link must hold the same file (messages carry its fingerprint).",
    )
    parser.add_argument("images", nargs="+",
                        help="image files, folders (searched recursively), glob patterns, or photo:NAME")
    parser.add_argument("-o", "--output", required=True, help="index_prior.safetensors to write")
    parser.add_argument("--size", default=DEFAULT_SIZE, metavar="HxW",
                        help="size images are scaled and cropped to, as for encode (default: %(default)s)")
    add_model_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch
    from tqdm import tqdm

    from lamigo.coding.prior import IndexPrior
    from lamigo.images import fit_image, load_image, parse_size, resolve_images, to_tensor

    size = parse_size(args.size)
    images = resolve_images(args.images, recursive=True)
    models, _ = load_models(args, captioner=False)
    device = next(models.vqgan.parameters()).device
    codebook_size = models.vqgan.codebook_size
    counts = np.zeros(codebook_size, dtype=np.int64)
    with torch.inference_mode():
        for source in tqdm(images, desc="counting codewords", unit="image"):
            indices, _ = models.vqgan.encode(to_tensor(fit_image(load_image(source), size), device))
            counts += np.bincount(indices.flatten().cpu().numpy(), minlength=codebook_size)
    prior = IndexPrior.from_counts(counts)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    prior.save(args.output)
    used = int((counts > 0).sum())
    entropy = -(prior.probabilities * np.log2(prior.probabilities)).sum()
    print(f"wrote {args.output}: {counts.sum()} tokens from {len(images)} images, {used} of "
          f"{codebook_size} codewords used, prior entropy {entropy:.2f} bits/index, "
          f"fingerprint 0x{prior.fingerprint:04x}")
    return 0
