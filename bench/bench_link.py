"""Link-layer cost: packetize and reassemble throughput, and the bytes the link adds to a GO
message, per packet payload size; pack_message and unpack_message (the GO message alone, no
link layer) are the peers, measured in the same run.

    .venv/bin/python bench/bench_link.py
    .venv/bin/python bench/bench_link.py --coder fixed --latent 32x32 --repeat 20

The message is synthetic but sized like the paper's: a 256x256 image as a 64x64 latent over a
8192-entry codebook, pseudo-random masking of 25 % (the noise experiments' policy) and a
ten-word caption. Indices are drawn from a skewed distribution and the Huffman and range coders
use its exact prior, so the coded sizes are those of a well-matched pre-shared table.
MB/s counts GO message bytes (pack_message's size) handled per second, so every row moves
the same data.
"""

from __future__ import annotations

import argparse
import timeit

import numpy as np
from tqdm.auto import tqdm

from lamigo.coding import IndexPrior
from lamigo.link import OVERHEAD, LinkConfig, PacketKind, Reassembler, packetize
from lamigo.masking import make_policy
from lamigo.message import Geometry, GOMessage, pack_message, unpack_message

CAPTION = "a red car parked on a wet street in front of a tall building"
PAYLOADS = (64, 105, 255)


def build_message(latent: tuple[int, int], codebook_size: int, coder: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    # Zipf-like codeword use, as a trained VQGAN's codebook is used unevenly.
    weights = 1.0 / np.arange(1, codebook_size + 1) ** 0.8
    indices = rng.choice(codebook_size, size=latent, p=weights / weights.sum())
    prior = IndexPrior.from_indices(indices, codebook_size)
    policy = make_policy("prm", ratio=0.25, seed=seed)
    geometry = Geometry(4 * latent[0], 4 * latent[1], *latent, codebook_size)
    return GOMessage(geometry, policy, policy.select(latent), indices, CAPTION, coder, "huffman"), prior


def reassemble(wire: list[bytes], prior: IndexPrior) -> None:
    reassembler = Reassembler(prior)
    (message,) = [m for data in wire for m in reassembler.push(data)]
    assert message.link.tokens_lost == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--coder", choices=["fixed", "huffman", "range"], default="huffman",
                        help="index coder (default: %(default)s)")
    parser.add_argument("--latent", default="64x64", metavar="HxW", help="latent size (default: %(default)s)")
    parser.add_argument("--codebook", type=int, default=8192, help="codebook size K (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=10, help="timed runs per row, best kept (default: %(default)s)")
    args = parser.parse_args()
    latent = tuple(int(side) for side in args.latent.lower().split("x"))

    msg, prior = build_message(latent, args.codebook, args.coder)
    packed = pack_message(msg, prior)
    go_bytes = len(packed)
    rows = []
    seconds = min(timeit.repeat(lambda: pack_message(msg, prior), number=1, repeat=args.repeat))
    rows.append(("pack_message (peer)", "-", 1, go_bytes, 0, 0, 0, seconds))
    seconds = min(timeit.repeat(lambda: unpack_message(packed, prior), number=1, repeat=args.repeat))
    rows.append(("unpack_message (peer)", "-", 1, go_bytes, 0, 0, 0, seconds))
    for payload in tqdm(PAYLOADS, desc="payload sizes", unit="size", leave=False):
        config = LinkConfig(max_payload=payload)
        packets = packetize(msg, 1, config, prior)
        wire = [packet.to_bytes() for packet in packets]
        link_bytes = sum(len(data) for data in wire)
        control = sum(len(p.payload) for p in packets if p.kind == PacketKind.CONTROL)
        headers = OVERHEAD * len(packets)
        seconds = min(timeit.repeat(lambda: [p.to_bytes() for p in packetize(msg, 1, config, prior)], number=1, repeat=args.repeat))
        rows.append(("packetize + to_bytes", payload, len(packets), link_bytes, link_bytes - go_bytes,
                     headers, control, seconds))
        seconds = min(timeit.repeat(lambda: reassemble(wire, prior), number=1, repeat=args.repeat))
        rows.append(("parse + reassemble", payload, len(packets), link_bytes, link_bytes - go_bytes,
                     headers, control, seconds))

    print(f"GO message: {msg.geometry.latent_height}x{msg.geometry.latent_width} tokens, "
          f"K={args.codebook}, {int(msg.mask.sum())} masked (prm 0.25), {args.coder} indices, "
          f"{go_bytes} bytes; control copies {LinkConfig().control_copies}, best of {args.repeat}")
    header = (f"{'operation':<22} {'payload':>7} {'packets':>7} {'bytes':>7} {'overhead':>14} "
              f"{'headers':>7} {'control':>7} {'msg/s':>8} {'MB/s':>7}")
    print(header)
    print("-" * len(header))
    for name, payload, n_packets, n_bytes, overhead, headers, control, seconds in rows:
        share = f"{overhead} ({100 * overhead / go_bytes:.0f}%)"
        print(f"{name:<22} {payload:>7} {n_packets:>7} {n_bytes:>7} {share:>14} {headers:>7} "
              f"{control:>7} {1 / seconds:>8.1f} {go_bytes / seconds / 1e6:>7.2f}")
    print(f"overhead: link bytes minus the GO message; headers: {OVERHEAD} bytes of header and CRCs per "
          "packet; control: Reed-Solomon coded control chunks, all copies")


if __name__ == "__main__":
    main()
