"""PER versus SNR per modem and channel, GNU Radio's stock OFDM Transmitter/Receiver
(digital.ofdm_tx / ofdm_rx, threshold 0.9 fixed, hard decisions) measured in the same run on the
same packets as the peer, the issue-24 targets of the OFDM modems, and packets per second of
each modem's receiver against the packets per second its link carries.

SNR is per sample (lamigo_gr.blocks.channels: mean power per sample over the bursts over the
complex noise variance, as gr-ieee802-11's simulations define it); Es/N0 and Eb/N0 come from the
modem registry (lamigo_gr.blocks.modems.Modem). A PER of 1e-2 is interpolated on log PER between
grid points. The seeds are channel realisations (noise, and the faders' state).

    .venv/bin/python bench/bench_phy.py                                   # the default grid
    .venv/bin/python bench/bench_phy.py --modems ofdm-bpsk,ofdm-bpsk-cc --snrs 4,6,8,10 --packets 100
    .venv/bin/python bench/bench_phy.py --channels multipath --snrs 15,20,25 --seeds 3
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
from gnuradio import digital, gr, pdu
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_phy_psk import packets_for, snr_at  # noqa: E402

from lamigo.link import OVERHEAD  # noqa: E402
from lamigo_gr.blocks.channels import CHANNELS, radio_channel  # noqa: E402
from lamigo_gr.blocks.modems import MODEMS, get_modem  # noqa: E402
from lamigo_gr.blocks.modems.ofdm import FFT_LEN  # noqa: E402
from lamigo_gr.support.burst_link import Bursts, demodulate, modulate  # noqa: E402

STOCK = {"stock-ofdm-bpsk": 1, "stock-ofdm-qpsk": 2}  #: the peer: GNU Radio's ofdm_tx/ofdm_rx, bits per symbol
_TAG = "packet_length"


class _stock_tx(gr.hier_block2):
    """PDUs -> GNU Radio's stock ofdm_tx (bytes in, its own CRC-32)."""

    def __init__(self, bps: int) -> None:
        gr.hier_block2.__init__(self, "stock_ofdm_tx", gr.io_signature(0, 0, 0), gr.io_signature(1, 1, gr.sizeof_gr_complex))
        self.message_port_register_hier_in("in")
        self.to_stream = pdu.pdu_to_tagged_stream(gr.types.byte_t, _TAG)
        self.tx = digital.ofdm_tx(packet_length_tag_key=_TAG, bps_payload=bps)
        self.msg_connect(self, "in", self.to_stream, "pdus")
        self.connect(self.to_stream, self.tx, self)


class _stock_rx(gr.hier_block2):
    """GNU Radio's stock ofdm_rx -> the packets that passed its CRC-32, as PDUs on `out`."""

    def __init__(self, bps: int) -> None:
        gr.hier_block2.__init__(self, "stock_ofdm_rx", gr.io_signature(1, 1, gr.sizeof_gr_complex), gr.io_signature(0, 0, 0))
        self.message_port_register_hier_out("out")
        self.rx = digital.ofdm_rx(packet_length_tag_key=_TAG, bps_payload=bps)
        self.to_pdu = pdu.tagged_stream_to_pdu(gr.types.byte_t, _TAG)
        self.connect(self, self.rx, self.to_pdu)
        self.msg_connect(self.to_pdu, "pdus", self, "out")


def _rx(name: str) -> gr.hier_block2:
    return _stock_rx(STOCK[name]) if name in STOCK else get_modem(name).rx()


def _tx(name: str) -> gr.hier_block2:
    return _stock_tx(STOCK[name]) if name in STOCK else get_modem(name).tx()


def per_point(bursts: Bursts, name: str, channel: str, snr_db: float, seed: int, **options) -> tuple[float, float]:
    """(PER, seconds the receiver took) of `name`'s receiver on `bursts` through `channel`."""
    link = radio_channel(channel=channel, snr_db=snr_db, seed=seed, signal_power=bursts.power, **options)
    started = time.perf_counter()
    received = demodulate(bursts, _rx(name), link, timeout=120)
    seconds = time.perf_counter() - started
    sent = set(bursts.packets)
    good = sum(1 for data, _ in received if data in sent)
    return 1.0 - min(good, len(bursts.packets)) / len(bursts.packets), seconds


def _grid(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modems", default="ofdm-bpsk,ofdm-bpsk-cc,ofdm-qpsk,ofdm-qpsk-cc,stock-ofdm-bpsk,stock-ofdm-qpsk",
                        help="modems by registry name, and the stock peers stock-ofdm-bpsk/-qpsk (default: %(default)s)")
    parser.add_argument("--channels", default="awgn", help=f"channels among {','.join(CHANNELS)} (default: %(default)s)")
    parser.add_argument("--snrs", default="4,6,8,10,12,14,16", help="SNR grid, dB per sample (default: %(default)s)")
    parser.add_argument("--packets", type=int, default=100, help="packets per point (default: %(default)s)")
    parser.add_argument("--size", type=int, default=105 + OVERHEAD,
                        help="bytes per link packet (default: %(default)s, a 105-byte payload with its link header)")
    parser.add_argument("--seeds", type=int, default=1, help="channel realisations per point (default: %(default)s)")
    parser.add_argument("--doppler", type=float, default=1e-4, help="fD*Ts of the fading channels (default: %(default)s)")
    parser.add_argument("--los", action="store_true", help="a line-of-sight path in the fading channels")
    parser.add_argument("--cfo-check", action="store_true",
                        help="also the CFO target: ofdm-qpsk at 25 dB, CFO -3..3 subcarrier spacings")
    parser.add_argument("--sample-rate", type=float, default=1e6, help="for the link's packets per second (default 1e6)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.modems.split(",") if n.strip()]
    channels = [c.strip() for c in args.channels.split(",") if c.strip()]
    unknown = [n for n in names if n not in MODEMS and n not in STOCK] + [c for c in channels if c not in CHANNELS]
    if unknown or args.packets < 1 or args.seeds < 1:
        parser.error(f"unknown modem or channel {unknown}, or --packets/--seeds < 1")
    try:
        snrs = _grid(args.snrs)
    except ValueError:
        parser.error("--snrs: numbers separated by commas")
    options = {} if channels == ["awgn"] else {"doppler": args.doppler, "los": args.los}
    gr.logging().set_default_level(gr.log_levels.warn)  # not every failed header and CRC

    packets = packets_for(args.packets, args.size)
    started = time.monotonic()
    bursts = {name: modulate(_tx(name), packets) for name in tqdm(names, desc="modulating", leave=False)}
    per: dict[tuple[str, str], dict[float, float]] = {}
    speed: dict[str, float] = {}
    for channel in channels:
        for name in names:
            row = per.setdefault((name, channel), {})
            for snr in tqdm(snrs, desc=f"{name} {channel}", leave=False):
                results = [per_point(bursts[name], name, channel, snr, seed, **(options if channel != "awgn" else {}))
                           for seed in range(1, args.seeds + 1)]
                row[snr] = float(np.mean([p for p, _ in results]))
                if row[snr] == 0.0:
                    speed[name] = max(speed.get(name, 0.0), args.packets / min(s for _, s in results))

    print(f"## PER vs SNR per sample, {args.packets} packets of {args.size} B per point, {args.seeds} seed(s)"
          f"{'' if channels == ['awgn'] else f', fading fD*Ts {args.doppler:g} ' + ('LOS' if args.los else 'NLOS')}\n")
    print("| modem | channel | Eb/N0 - SNR (dB) | " + " | ".join(f"{s:g} dB" for s in snrs) + " | SNR @ PER 1e-2 |")
    print("|---|---|---|" + "---|" * len(snrs) + "---|")
    at = {}
    for (name, channel), row in per.items():
        offset = get_modem(name).eb_n0_db(0.0) if name in MODEMS else math.nan
        at[(name, channel)] = snr_at(row, 1e-2)
        print(f"| {name} | {channel} | {offset:.2f} | " + " | ".join(f"{row[s]:.3f}" for s in snrs)
              + f" | {at[(name, channel)]:.2f} |")

    print(f"\n## Receiver speed at PER 0 (wall clock, this machine) against the link at {args.sample_rate:g} samples/s\n")
    print("| modem | packets/s decoded | packets/s on air | receiver / link |")
    print("|---|---|---|---|")
    for name in names:
        if name in MODEMS and name in speed and get_modem(name).frame_samples:
            on_air = args.sample_rate / get_modem(name).frame_samples(args.size)
            print(f"| {name} | {speed[name]:.0f} | {on_air:.0f} | {speed[name] / on_air:.2f} |")
        elif name in speed:
            print(f"| {name} | {speed[name]:.0f} | - | - |")

    if "awgn" in channels:
        print("\n## Targets (AWGN)\n")
        for name, limit in (("ofdm-bpsk-cc", 6.5), ("ofdm-qpsk-cc", 10.5)):
            if (name, "awgn") in at:
                value = snr_at(per[(name, "awgn")], 1e-2)
                print(f"- {name}: >= 99 % delivered at {value:.2f} dB (target <= {limit} dB): "
                      f"{'MET' if value <= limit else 'MISSED'}")
        for coded, uncoded in (("ofdm-bpsk-cc", "ofdm-bpsk"), ("ofdm-qpsk-cc", "ofdm-qpsk")):
            if (coded, "awgn") in at and (uncoded, "awgn") in at:
                gain = at[(uncoded, "awgn")] - at[(coded, "awgn")]
                ebn0_gain = gain + get_modem(uncoded).eb_n0_db(0.0) - get_modem(coded).eb_n0_db(0.0)
                print(f"- FEC gain {coded} over {uncoded} at PER 1e-2: {gain:.2f} dB per-sample SNR, "
                      f"{ebn0_gain:.2f} dB Eb/N0 (target >= 5 dB): {'MET' if ebn0_gain >= 5 else 'MISSED'}")
    if args.cfo_check:
        worst = 0.0
        cfo_bursts = bursts.get("ofdm-qpsk") or modulate(get_modem("ofdm-qpsk").tx(), packets)
        rows = []
        for spacings in (-3.0, -2.0, -1.0, -0.5, 0.5, 1.0, 2.0, 3.0):
            value, _ = per_point(cfo_bursts, "ofdm-qpsk", "awgn", 25.0, 1, frequency_offset=spacings / FFT_LEN)
            rows.append(f"{spacings:+g}: {value:.3f}")
            worst = max(worst, value)
        print(f"- ofdm-qpsk at 25 dB, PER by CFO (subcarrier spacings) {', '.join(rows)}: target PER 0 -> "
              f"{'MET' if worst == 0 else 'MISSED'}")
    print(f"\n({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
