"""PER of the burst PSK modems (psk-cc, psk-uncoded) over the Radio Channel, and the issue-24
targets they can be held to:

- FEC gain >= 5 dB at PER 1e-2: psk-cc against psk-uncoded (the same modem, payload uncoded), AWGN,
  in the same run on the same packets; the SNR at PER 1e-2 interpolated on log PER.
- Fading: selective fading (the `multipath` channel, three-tap profile), fD*Ts 1e-5 and 1e-4, LOS
  and NLOS, 3 seeds: coded PER <= 0.06 at 20 dB.

SNR is per sample (mean transmitted power per sample, measured on the bursts, over the complex
noise variance: lamigo_gr.blocks.channels); Es/N0 = SNR + 10 log10(samples per symbol) and, at one
information bit per QPSK symbol of psk-cc, Eb/N0 = Es/N0 before framing overhead.

`per_point(modem, channel, snr_db, packets, seed, **channel_options)` is the one measurement; other
benches (bench_phy.py) may call it for these modems.

    .venv/bin/python bench/bench_phy_psk.py                  # 200 packets of 200 B per point
    .venv/bin/python bench/bench_phy_psk.py --packets 100 --size 105
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from tqdm.auto import tqdm

from lamigo_gr.blocks.channels import radio_channel
from lamigo_gr.blocks.modems import get_modem
from lamigo_gr.support.burst_link import Bursts, demodulate, modulate


def packets_for(count: int, size: int, seed: int = 0) -> list[bytes]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, size, dtype=np.uint8).tobytes() for _ in range(count)]


def per_point(bursts: Bursts, modem: str, channel: str, snr_db: float, seed: int = 0, **options) -> float:
    """Packet error rate of `modem`'s receiver on `bursts` (its transmitter's output) through
    `channel` at `snr_db` per sample: packets lost or corrupted over packets sent."""
    link = radio_channel(channel=channel, snr_db=snr_db, seed=seed, signal_power=bursts.power, **options)
    received = demodulate(bursts, get_modem(modem).rx(), link)
    sent = set(bursts.packets)
    good = sum(1 for data, _ in received if data in sent)
    return 1.0 - min(good, len(bursts.packets)) / len(bursts.packets)


def snr_at(per: dict[float, float], target: float) -> float:
    """The SNR where PER crosses `target`, interpolated linearly in log10 PER between the grid
    points around it; nan when the grid does not bracket it."""
    points = sorted(per.items())
    for (s0, p0), (s1, p1) in zip(points, points[1:]):
        if p0 >= target >= p1:
            if p1 <= 0:
                p1 = 0.5 / 1e6  # no loss seen: treat as far below the target
            l0, l1, lt = math.log10(max(p0, 1e-6)), math.log10(p1), math.log10(target)
            return s0 + (s1 - s0) * (l0 - lt) / (l0 - l1) if l0 != l1 else s0
    return math.nan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packets", type=int, default=200, help="packets per point (default 200)")
    parser.add_argument("--size", type=int, default=200, help="bytes per link packet (default 200)")
    parser.add_argument("--coded-snrs", default="-1,0,1,2,3,4", help="AWGN SNR grid for psk-cc, dB per sample")
    parser.add_argument("--uncoded-snrs", default="4,5,6,7,8,9,10,11", help="AWGN SNR grid for psk-uncoded")
    parser.add_argument("--fading-snr", type=float, default=20.0, help="SNR of the fading target (default 20)")
    parser.add_argument("--seeds", type=int, default=3, help="channel realisations per fading point (default 3)")
    args = parser.parse_args(argv)
    if args.packets < 1 or args.size < 1 or args.seeds < 1:
        parser.error("--packets, --size and --seeds must be >= 1")
    try:
        grids = {"psk-cc": [float(v) for v in args.coded_snrs.split(",")],
                 "psk-uncoded": [float(v) for v in args.uncoded_snrs.split(",")]}
    except ValueError:
        parser.error("SNR grids are numbers separated by commas")

    packets = packets_for(args.packets, args.size)
    started = time.monotonic()
    bursts = {name: modulate(get_modem(name).tx(), packets) for name in grids}
    per: dict[str, dict[float, float]] = {name: {} for name in grids}
    for name, grid in grids.items():
        for snr in tqdm(grid, desc=f"{name} AWGN", leave=False):
            per[name][snr] = per_point(bursts[name], name, "awgn", snr, seed=1)

    print(f"## PSK modems, AWGN, {args.packets} packets of {args.size} B per point "
          f"(SNR per sample; Es/N0 = SNR + 3.0 dB at 2 samples/symbol)\n")
    print("| modem | " + " | ".join(f"{s:g} dB" for s in sorted(set(grids['psk-cc']) | set(grids['psk-uncoded'])))
          + " |")
    all_snrs = sorted(set(grids["psk-cc"]) | set(grids["psk-uncoded"]))
    print("|---|" + "---|" * len(all_snrs))
    for name in grids:
        print(f"| {name} | " + " | ".join(f"{per[name][s]:.3f}" if s in per[name] else "" for s in all_snrs) + " |")
    coded, uncoded = snr_at(per["psk-cc"], 1e-2), snr_at(per["psk-uncoded"], 1e-2)
    gain = uncoded - coded
    # Eb/N0 per information bit: Es/N0 = SNR + 10 log10(2); psk-cc carries 1 bit/symbol, uncoded 2
    coded_ebn0, uncoded_ebn0 = coded + 10 * math.log10(2), uncoded
    ebn0_gain = uncoded_ebn0 - coded_ebn0
    print(f"\nSNR at PER 1e-2: psk-cc {coded:.2f} dB (Eb/N0 {coded_ebn0:.2f} dB), psk-uncoded {uncoded:.2f} dB "
          f"(Eb/N0 {uncoded_ebn0:.2f} dB)")
    print(f"target FEC gain >= 5 dB at PER 1e-2: at equal SNR per sample {gain:.2f} dB -> "
          f"{'MET' if gain >= 5 else 'MISSED'}; at equal Eb/N0 (coding gain proper) {ebn0_gain:.2f} dB -> "
          f"{'MET' if ebn0_gain >= 5 else 'MISSED'}\n")

    print(f"## psk-cc over selective fading (multipath, three-tap), {args.fading_snr:g} dB, "
          f"{args.seeds} seeds x {args.packets} packets\n")
    print("| fD*Ts | LOS | PER per seed | mean | target <= 0.06 |")
    print("|---|---|---|---|---|")
    worst = 0.0
    for doppler in (1e-5, 1e-4):
        for los in (True, False):
            pers = [per_point(bursts["psk-cc"], "psk-cc", "multipath", args.fading_snr, seed=seed, doppler=doppler,
                              los=los) for seed in tqdm(range(1, args.seeds + 1), desc="fading", leave=False)]
            mean = float(np.mean(pers))
            worst = max(worst, mean)
            print(f"| {doppler:g} | {'LOS' if los else 'NLOS'} | {' '.join(f'{p:.3f}' for p in pers)} | {mean:.3f} | "
                  f"{'met' if mean <= 0.06 else 'missed'} |")
    print(f"\ntarget fading PER <= 0.06 at {args.fading_snr:g} dB: worst mean {worst:.3f} -> "
          f"{'MET' if worst <= 0.06 else 'MISSED'}")
    print(f"\n({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
