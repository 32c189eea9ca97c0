"""What the codebook size K costs and buys, measured on a trained VQGAN without retraining it:
its encoder's latents of the training photos are clustered into K codewords (k-means, as
`lamigo train vqgan` initialises a codebook), and the held-out photos are decoded through each
codebook by the same decoder. The continuous latents (no quantisation) are the peer: what any K
could at best recover with this encoder and decoder.

    .venv/bin/python bench/bench_codebook_size.py                       # default set, K 512..4096
    .venv/bin/python bench/bench_codebook_size.py --sizes 1024 8192 --points 65536

Bits per index are log2 K (fixed length); the entropy column is the empirical entropy of the
held-out photos' indices, what an image's own Huffman table approaches. The decoder was trained
on its own codebook, so the other rows are a lower bound of what retraining at that K gives.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import torch
from tqdm.auto import tqdm

from lamigo.evaluation.quality import psnr
from lamigo.images import fit_image, load_image, parse_size, to_tensor, to_uint8
from lamigo.zoo.sets import load_model_set
from lamigo.training.data import RandomCropDataset, default_data_sources, find_images, load_photos
from lamigo.training.vqgan_task import kmeans


def entropy_bits(indices: np.ndarray) -> float:
    counts = np.bincount(indices.ravel()).astype(float)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


@torch.inference_mode()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-set", default="default", help="model set whose VQGAN is measured (default: %(default)s)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048, 4096],
                        help="codebook sizes K to cluster (default: %(default)s)")
    parser.add_argument("--points", type=int, default=32768,
                        help="encoder latents of training crops to cluster (default: %(default)s)")
    parser.add_argument("--images", nargs="+", default=["photo:coffee", "photo:chelsea"],
                        help="held-out images to decode (default: %(default)s)")
    parser.add_argument("--size", default="256x256", metavar="HxW", help="size the images are fitted to (default: %(default)s)")
    args = parser.parse_args()

    vqgan = load_model_set(args.model_set, captioner=False).vqgan.float().eval()
    photos = load_photos(find_images(default_data_sources()), 64)
    crops = RandomCropDataset(photos, 64, args.points // 256 + 1, seed=0)
    latents = torch.cat([vqgan.encode_latents(crops[i][None]).permute(0, 2, 3, 1).reshape(-1, 4)
                         for i in tqdm(range(len(crops)), desc="latents", unit="crop")])[: args.points]
    originals = [fit_image(load_image(source), parse_size(args.size)) for source in args.images]
    image_latents = [vqgan.encode_latents(to_tensor(image)) for image in originals]

    def decoded_psnr(codebook: torch.Tensor | None) -> tuple[list[float], float]:
        scores, indices = [], []
        for original, latent in zip(originals, image_latents):
            if codebook is not None:
                flat = latent.permute(0, 2, 3, 1).reshape(-1, latent.shape[1])
                nearest = torch.cdist(flat, codebook).argmin(dim=1)
                indices.append(nearest.numpy())
                latent = codebook[nearest].reshape(latent.shape[0], *latent.shape[2:], -1).permute(0, 3, 1, 2)
            scores.append(psnr(original, to_uint8(vqgan.decode_latents(latent).clamp(0, 1))[0]))
        return scores, entropy_bits(np.concatenate(indices)) if indices else math.nan

    names = [source.split(":")[-1] for source in args.images]
    print(f"| K | bits/index | entropy (bits) | {' | '.join(f'{name} PSNR (dB)' for name in names)} |")
    print("|---|---|---|" + "---|" * len(names))
    rows = [("trained codebook", vqgan.vquantizer.codebook.weight)]
    rows += [(str(size), kmeans(latents, size, seed=0)) for size in tqdm(args.sizes, desc="k-means", unit="K")]
    rows.append(("continuous (no quantisation)", None))
    for label, codebook in rows:
        scores, entropy = decoded_psnr(codebook)
        bits = f"{math.log2(codebook.shape[0]):.0f}" if codebook is not None else "-"
        print(f"| {label} | {bits} | {entropy:.2f} | " + " | ".join(f"{score:.2f}" for score in scores) + " |")


if __name__ == "__main__":
    main()
