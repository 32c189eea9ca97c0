"""What `--threads` costs and buys: `lamigo decode` of one 256x256 GO message (default set, 4/8
steps) as a whole process, at 1 thread, at 2 threads and at `auto`, on the machine as it is
(idle) and with CPU burners holding the cores (loaded: as when GNU Radio's threads or a second
decode run beside it). Each row is the median of --runs runs, the three settings alternating, and
its ratio to 1 thread measured in the same conditions.

    .venv/bin/python bench/bench_threads.py                 # about 2 minutes on 2 cores
    .venv/bin/python bench/bench_threads.py --runs 5 --burners 2
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tqdm.auto import tqdm

SETTINGS = ["1", "2", "auto"]


def _burn(stop) -> None:
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def _decode_seconds(message: Path, out: Path, threads: str, model_set: str) -> float:
    env = {key: value for key, value in os.environ.items() if key != "OMP_NUM_THREADS"}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "lamigo.cli.main", "decode", str(message), "-o", str(out),
                    "--model-set", model_set, "--threads", threads], check=True, env=env,
                   capture_output=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs of each setting per condition (default: %(default)s)")
    parser.add_argument("--burners", type=int, default=os.cpu_count() or 2,
                        help="busy processes of the loaded condition (default: one per core, %(default)s)")
    parser.add_argument("--model-set", default="default", help="model set (default: %(default)s)")
    parser.add_argument("--image", default="photo:coffee", help="image encoded (default: %(default)s)")
    args = parser.parse_args()

    from lamigo.threads import choose_threads, usable_cpus

    folder = Path(tempfile.mkdtemp(prefix="bench_threads_"))
    message = folder / "coffee.lgo"
    subprocess.run([sys.executable, "-m", "lamigo.cli.main", "encode", args.image, "-o", str(message),
                    "--model-set", args.model_set], check=True, capture_output=True)
    rows = []
    for condition in ("idle", "loaded"):
        stop = multiprocessing.Event()
        burners = [multiprocessing.Process(target=_burn, args=(stop,), daemon=True)
                   for _ in range(args.burners if condition == "loaded" else 0)]
        for burner in burners:
            burner.start()
        if burners:
            time.sleep(20)  # let the 1-minute load average see the burners, as auto reads it
        auto = choose_threads(None)
        times: dict[str, list[float]] = {setting: [] for setting in SETTINGS}
        for _ in tqdm(range(args.runs), desc=condition):
            for setting in SETTINGS:
                times[setting].append(_decode_seconds(message, folder / "out.png", setting, args.model_set))
        stop.set()
        for burner in burners:
            burner.join()
        one = statistics.median(times["1"])
        for setting in SETTINGS:
            median = statistics.median(times[setting])
            label = f"auto ({auto})" if setting == "auto" else setting
            rows.append((condition, label, median, median / one, min(times[setting]), max(times[setting])))
    print(f"\nlamigo decode, {args.image} 256x256, model set {args.model_set}, whole process; "
          f"{usable_cpus()} usable cores; loaded = {args.burners} busy processes; median of {args.runs}\n")
    print("| machine | --threads | seconds | vs 1 thread | min | max |")
    print("|---|---|---|---|---|---|")
    for condition, label, median, ratio, low, high in rows:
        print(f"| {condition} | {label} | {median:.2f} | {ratio:.2f}x | {low:.2f} | {high:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
