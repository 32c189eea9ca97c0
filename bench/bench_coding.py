"""Index, text and mask coding on real indices: bytes on air per image for each index coder,
bits per index and encode/decode throughput per coder, with general-purpose compressors (zlib,
lzma) of the fixed-length bytes as peers.

    .venv/bin/python bench/bench_coding.py                  # the default model set (tiny if none)
    .venv/bin/python bench/bench_coding.py --model-set tiny --size 128x128

Bytes on air: every packet of the message as `lamigo.link.packetize` sends it with the default
link (105-byte payloads, 23-byte headers and CRCs, the control block Reed-Solomon coded and sent
3 times), PRM 25 %, the model set's own index prior, each photo's caption. "range, whole" is
adaptive range coding of all the message's indices at once (one lost packet would lose every
token after it): its bytes in full packets, plus the control and caption packets of the Huffman
message; it pays for learning the statistics as it goes, so it is no lower bound. The K=8192 rows put each image's codewords at random places of a codebook of 8192
(same statistics, more codewords to name): what the image's own table costs there.

Indices come from the model set's VQGAN on the bundled photos (scikit-image's and
scikit-learn's). The Huffman and range coders use a leave-one-out prior: the codeword counts of
every other photo, as a pre-shared table would be built from images the link never carries.
"""

from __future__ import annotations

import argparse
import lzma
import math
import statistics
import timeit
import zlib
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from lamigo.coding import get_index_coder, get_text_coder
from lamigo.coding.index import RangeCoder
from lamigo.errors import ConfigError
from lamigo.coding.mask import encode_mask
from lamigo.coding.prior import IndexPrior
from lamigo.images import (BUNDLED_PHOTOS, PHOTO_SCHEME, bundled_caption, fit_image, image_files, load_image,
                           parse_size, to_tensor)
from lamigo.link import LinkConfig, packetize
from lamigo.link.packet import OVERHEAD
from lamigo.link.packetizer import DEFAULT_PAYLOAD, control_byte_weight
from lamigo.masking import make_policy
from lamigo.message import Geometry, GOMessage
from lamigo.zoo.index_prior import model_set_index_prior
from lamigo.zoo.sets import default_model_set_name, load_model_set

AIR_CODERS = ("fixed", "huffman", "image-huffman")

CAPTIONS = [
    "a cup of coffee on a saucer on a wooden table",
    "a cat lying on a rug looking at the camera",
    "an astronaut in a white suit smiling in front of an american flag",
    "a rocket standing on the launch pad under a blue sky",
]


def sklearn_photos() -> list[str]:
    try:
        import sklearn
    except ImportError:
        return []
    folder = Path(sklearn.__file__).parent / "datasets" / "images"
    return sorted(str(p) for p in folder.glob("*.jpg"))


def skimage_folder() -> Path | None:
    try:
        import skimage
    except ImportError:
        return None
    return Path(skimage.__file__).parent / "data"


def readable_photos(folder: Path | None) -> list[str]:
    """The images of `folder` that load, less the bundled photos (already in the first table)."""
    if folder is None or not folder.is_dir():
        return []
    photos = []
    for path in image_files(folder):
        try:
            load_image(path)
        except ConfigError:
            continue
        if path.stem not in BUNDLED_PHOTOS:
            photos.append(str(path))
    return photos


def encode_photos(models, sources: list[str], size: tuple[int, int]):
    indices, distances = [], []
    with torch.inference_mode():
        for source in tqdm(sources, desc="VQGAN encode", unit="photo"):
            idx, dist = models.vqgan.encode(to_tensor(fit_image(load_image(source), size), "cpu"))
            indices.append(idx[0].numpy())
            distances.append(dist[0].numpy())
    return indices, distances


def index_table(indices: list[np.ndarray], codebook_size: int, masked: list[np.ndarray], repeat: int):
    rows = []
    fixed_bits = int(np.ceil(np.log2(codebook_size)))
    per_coder: dict[str, list[tuple[float, float, float]]] = {}
    for i, (image_indices, mask) in enumerate(zip(indices, masked)):
        sent = image_indices[~mask]
        others = np.concatenate([x.ravel() for j, x in enumerate(indices) if j != i])
        prior = IndexPrior.from_indices(others, codebook_size)
        fixed_bytes = get_index_coder("fixed", codebook_size).encode(sent)
        for name in ("fixed", "huffman", "range"):
            coder = get_index_coder(name, codebook_size, prior)
            data = coder.encode(sent)
            assert np.array_equal(coder.decode(data, sent.size), sent)
            enc = min(timeit.repeat(lambda: coder.encode(sent), number=1, repeat=repeat))
            dec = min(timeit.repeat(lambda: coder.decode(data, sent.size), number=1, repeat=repeat))
            per_coder.setdefault(name, []).append((8 * len(data) / sent.size, sent.size / enc, sent.size / dec))
        for name, compress, decompress in (("zlib-9 (fixed bytes)", lambda b: zlib.compress(b, 9), zlib.decompress),
                                           ("lzma (fixed bytes)", lzma.compress, lzma.decompress)):
            data = compress(fixed_bytes)
            enc = min(timeit.repeat(lambda: compress(fixed_bytes), number=1, repeat=repeat))
            dec = min(timeit.repeat(lambda: decompress(data), number=1, repeat=repeat))
            per_coder.setdefault(name, []).append((8 * len(data) / sent.size, sent.size / enc, sent.size / dec))
    fixed_mean = statistics.mean(r[0] for r in per_coder["fixed"])
    for name, results in per_coder.items():
        bits = statistics.mean(r[0] for r in results)
        rows.append((name, bits, bits / fixed_mean, statistics.mean(r[1] for r in results) / 1e6,
                     statistics.mean(r[2] for r in results) / 1e6))
    print(f"\nIndex coding: {len(indices)} photos, K={codebook_size} ({fixed_bits} bits fixed), "
          f"{indices[0].shape[0]}x{indices[0].shape[1]} tokens, PRM 25% masked, leave-one-out prior")
    print(f"{'coder':<22} {'bits/index':>10} {'vs fixed':>9} {'enc Mtok/s':>11} {'dec Mtok/s':>11}")
    for name, bits, ratio, enc, dec in rows:
        print(f"{name:<22} {bits:>10.2f} {ratio:>9.3f} {enc:>11.2f} {dec:>11.2f}")


def on_air(msg: GOMessage, prior: IndexPrior | None) -> tuple[int, int]:
    """Bytes on air of every packet of `msg` and how many packets."""
    packets = packetize(msg, 1, LinkConfig(), prior)
    return sum(len(packet.to_bytes()) for packet in packets), len(packets)


def range_bound(msg: GOMessage, prior: IndexPrior | None) -> int:
    """Whole-message adaptive range coding in full packets, plus the Huffman message's control
    and caption packets."""
    packets = packetize(msg, 1, LinkConfig(), prior)
    rest = sum(len(p.to_bytes()) for p in packets if p.kind.name != "INDICES")
    coded = len(get_index_coder(RangeCoder.name, msg.geometry.codebook_size, prior).encode(msg.transmitted))
    return rest + coded + math.ceil(coded / DEFAULT_PAYLOAD) * OVERHEAD


def air_table(title: str, names: list[str], indices: list[np.ndarray], masked: list[np.ndarray],
              captions: list[str], prior: IndexPrior | None, codebook_size: int, size: tuple[int, int]) -> None:
    print(f"\nBytes on air per image, {title}: K={codebook_size}, PRM 25%, default link")
    header = "".join(f"{name:>15}" for name in AIR_CODERS)
    print(f"{'image':<20}{header}{'range, whole':>13}{'table B':>8}{'vs huffman':>11}")
    totals = np.zeros(len(AIR_CODERS) + 1)
    policy = make_policy("prm", ratio=0.25, seed=0)
    for name, image_indices, mask, caption in zip(names, indices, masked, captions):
        geometry = Geometry(*size, *image_indices.shape, codebook_size)
        row = []
        for coder in AIR_CODERS:
            msg = GOMessage(geometry, policy, mask, image_indices, caption, coder, "huffman")
            row.append(on_air(msg, prior)[0])
        row.append(range_bound(GOMessage(geometry, policy, mask, image_indices, caption, "huffman", "huffman"), prior))
        totals += row
        fitted = get_index_coder("image-huffman", codebook_size, prior).fit(
            image_indices[~mask], control_byte_weight(LinkConfig()))
        table_bytes = len(fitted.table.to_bytes()) if fitted.table is not None else 0
        cells = "".join(f"{b:>15,}" for b in row[:-1])
        print(f"{name[:19]:<20}{cells}{row[-1]:>13,}{table_bytes:>8}{row[2] / row[1] - 1:>+11.1%}")
    mean = totals / len(names)
    cells = "".join(f"{b:>15,.0f}" for b in mean[:-1])
    print(f"{'mean':<20}{cells}{mean[-1]:>13,.0f}{'':>8}{mean[2] / mean[1] - 1:>+11.1%}")


def mask_table(distances: list[np.ndarray]) -> None:
    print("\nEBM mask coding (the mask is sent): bytes per image")
    print(f"{'ratio':>6} {'coded B':>8} {'bitmap B':>9} {'zlib-9 bitmap B':>16}")
    for ratio in (0.1, 0.25, 0.35, 0.5):
        policy = make_policy("ebm", ratio=ratio)
        coded, bitmap, deflated = [], [], []
        for dist in distances:
            mask = policy.select(dist.shape, dist)
            coded.append(len(encode_mask(mask)))
            packed = np.packbits(mask).tobytes()
            bitmap.append(len(packed))
            deflated.append(len(zlib.compress(packed, 9)))
        print(f"{ratio:>6.2f} {statistics.mean(coded):>8.1f} {statistics.mean(bitmap):>9.1f} "
              f"{statistics.mean(deflated):>16.1f}")


def text_table(repeat: int) -> None:
    print("\nCaption coding (static English character model): bits per character")
    print(f"{'coder':<8} {'bits/char':>9} {'enc kchar/s':>12}")
    chars = sum(len(c) for c in CAPTIONS)
    for name in ("utf8", "huffman", "range"):
        coder = get_text_coder(name)
        encoded = [coder.encode(c) for c in CAPTIONS]
        assert [coder.decode(d, len(c)) for d, c in zip(encoded, CAPTIONS)] == CAPTIONS
        seconds = min(timeit.repeat(lambda: [coder.encode(c) for c in CAPTIONS], number=1, repeat=repeat))
        print(f"{name:<8} {8 * sum(map(len, encoded)) / chars:>9.2f} {chars / seconds / 1e3:>12.1f}")
    raw = " ".join(CAPTIONS).encode()
    print(f"{'zlib-9':<8} {8 * len(zlib.compress(raw, 9)) / len(raw):>9.2f} {'(all captions at once)':>12}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-set", default=None, help="model set whose VQGAN makes the indices "
                        "(default: default when installed, else tiny)")
    parser.add_argument("--size", default="256x256", help="image size, multiples of 32 (default: %(default)s)")
    parser.add_argument("--folder", type=Path, default=skimage_folder(),
                        help="a folder of photos for the bytes-on-air table (default: scikit-image's data, %(default)s)")
    parser.add_argument("--repeat", type=int, default=5, help="timing repeats, best kept (default: %(default)s)")
    args = parser.parse_args()

    torch.set_grad_enabled(False)
    name = args.model_set or default_model_set_name()
    models = load_model_set(name, device="cpu")
    size = parse_size(args.size)
    sources = [PHOTO_SCHEME + p for p in BUNDLED_PHOTOS] + sklearn_photos()
    indices, distances = encode_photos(models, sources, size)
    policy = make_policy("prm", ratio=0.25, seed=0)
    masked = [policy.select(x.shape) for x in indices]
    folder = readable_photos(args.folder)
    folder_indices = encode_photos(models, folder, size)[0]
    print(f"model set {models.name}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    prior = model_set_index_prior(name)
    codebook_size = models.vqgan.codebook_size
    bundled = len(BUNDLED_PHOTOS)
    captions = [bundled_caption(source) or "" for source in sources]
    air_table("bundled photos", list(BUNDLED_PHOTOS), indices[:bundled], masked[:bundled], captions[:bundled],
              prior, codebook_size, size)
    if folder:
        air_table(str(args.folder), [Path(p).name for p in folder], folder_indices,
                  [policy.select(x.shape) for x in folder_indices], [""] * len(folder), prior, codebook_size, size)
    big = 8192
    if codebook_size < big:
        places = np.random.default_rng(0).permutation(big)[:codebook_size]
        air_table("bundled photos, codewords spread over K=8192", list(BUNDLED_PHOTOS),
                  [places[x] for x in indices[:bundled]], masked[:bundled], captions[:bundled],
                  None, big, size)
    index_table(indices, models.vqgan.codebook_size, masked, args.repeat)
    mask_table(distances)
    text_table(args.repeat)


if __name__ == "__main__":
    main()
