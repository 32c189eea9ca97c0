"""Classical baselines at a byte budget and over lost packets, with an exhaustive search (JPEG
2000: a 32-wide window) as the peer of the bisection with a window that the evaluation uses.

    .venv/bin/python bench/bench_classical.py                       # all three tables
    .venv/bin/python bench/bench_classical.py --budgets 3000 4000 6000 --photo coffee

1. the chosen setting, bytes and PSNR of each baseline on one photo at each budget, exhaustive
   search ("ref") and the default window ("new");
2. the search over the six bundled photos at budgets 1,000-12,000 bytes: how often bisection
   with a window picks what the exhaustive search picks, encodes and time per search;
3. mean PSNR over random packet losses (the header sent apart and never lost) per loss rate.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from lamigo.classical import BASELINES, encode_at_budget, get_baseline
from lamigo.classical.search import DEFAULT_WINDOW, highest_fitting
from lamigo.evaluation.quality import psnr
from lamigo.images import BUNDLED_PHOTOS, decode_image_bytes, fit_image, load_image, parse_size


def at_budget_table(image: np.ndarray, budgets: list[int]) -> None:
    print(f"{'budget':>7} {'codec':<9} {'search':<7} {'setting':>10} {'bytes':>6} {'PSNR dB':>8}")
    for budget in budgets:
        for codec in BASELINES:
            for label, window in (("ref", 32 if codec == "jpeg2000" else None), ("new", DEFAULT_WINDOW)):
                found = encode_at_budget(codec, image, budget, window=window)
                row = ("-", "-", "-") if found is None else (
                    found.setting, len(found.data), f"{psnr(image, decode_image_bytes(found.data)):.2f}")
                print(f"{budget:>7} {codec:<9} {label:<7} {row[0]:>10} {row[1]:>6} {row[2]:>8}")


def search_table(images: list[np.ndarray], budgets: range, j2k_budgets: range) -> None:
    print(f"{'codec':<9} {'search':<11} {'searches':>8} {'same as ref':>11} {'encodes':>8} {'ms each':>8}")
    for codec in BASELINES:
        baseline = get_baseline(codec)
        # Exhaustive for JPEG (100 qualities); for JPEG 2000's thousands of targets a 32-wide window.
        reference_window, codec_budgets = (None, budgets) if codec != "jpeg2000" else (32, j2k_budgets)
        picks = {}
        for label, window in ((f"window {reference_window or 'all'}", reference_window),
                              (f"window {DEFAULT_WINDOW}", DEFAULT_WINDOW)):
            encodes, chosen = 0, {}
            started = time.perf_counter()
            for number, image in enumerate(images):
                for budget in codec_budgets:
                    def trial(setting, image=image):
                        nonlocal encodes
                        encodes += 1
                        return baseline.encode(image, setting)

                    found = highest_fitting(baseline.settings(budget), trial, len, budget, window)
                    chosen[number, budget] = found and found[0]
            elapsed = time.perf_counter() - started
            picks.setdefault("reference", chosen)
            searches = len(chosen)
            agree = sum(chosen[key] == picks["reference"][key] for key in chosen)
            print(f"{codec:<9} {label:<11} {searches:>8} {agree:>11} {encodes / searches:>8.1f} "
                  f"{1000 * elapsed / searches:>8.1f}")


def loss_table(images: list[np.ndarray], budget: int, rates: list[float], payload: int, trials: int) -> None:
    print(f"{'PER':>5} " + " ".join(f"{codec:>9}" for codec in BASELINES) + "   (mean PSNR dB, failures)")
    rng = np.random.default_rng(0)
    files = [{codec: encode_at_budget(codec, image, budget) for codec in BASELINES} for image in images]
    for rate in rates:
        scores = {codec: [] for codec in BASELINES}
        failures = dict.fromkeys(BASELINES, 0)
        for image, encoded in zip(images, files):
            for _ in range(trials):
                draws = rng.random(64) < rate  # the same packet numbers lost for every codec
                for codec, file in encoded.items():
                    lost = np.zeros(len(file.data), dtype=bool)
                    for number in np.flatnonzero(draws):
                        lost[file.header_bytes + number * payload:file.header_bytes + (number + 1) * payload] = True
                    received = get_baseline(codec).receive(file.data, lost, image.shape[:2])
                    scores[codec].append(psnr(image, received.image))
                    failures[codec] += not received.decoded_ok
        print(f"{rate:>5.2f} " + " ".join(f"{np.mean(scores[c]):>6.2f} {failures[c]:>2}" for c in BASELINES))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photo", default="coffee", help="bundled photo for the at-budget table (default coffee)")
    parser.add_argument("--size", default="256x256", help="image size HEIGHTxWIDTH (default 256x256)")
    parser.add_argument("--budgets", type=int, nargs="+", default=[3000, 4000, 6000],
                        help="byte budgets of the at-budget table (default 3000 4000 6000)")
    parser.add_argument("--payload", type=int, default=100, help="bytes per packet in the loss table (default 100)")
    parser.add_argument("--trials", type=int, default=10, help="loss patterns per photo and rate (default 10)")
    args = parser.parse_args()
    size = parse_size(args.size)
    photos = [fit_image(load_image(f"photo:{name}"), size) for name in BUNDLED_PHOTOS]
    print("1. at budget")
    at_budget_table(fit_image(load_image(f"photo:{args.photo}"), size), args.budgets)
    print("\n2. the search")
    search_table(photos, range(1000, 12001, 500), range(1000, 12001, 2750))
    print(f"\n3. lost packets of {args.payload} bytes at budget {args.budgets[1 if len(args.budgets) > 1 else 0]}")
    loss_table(photos, args.budgets[1 if len(args.budgets) > 1 else 0], [0.0, 0.02, 0.05, 0.1, 0.2], args.payload,
               args.trials)


if __name__ == "__main__":
    main()
