"""The SNR sweep through the GNU Radio loopback: LaMI-GO and the classical baselines over each
modem and channel (`python -m lamigo_gr.apps.loopback`, whose options this module's
`SweepConfig` holds; each run is `lamigo_gr.apps.loopback_run.run_loopback`).

For each modem (`lamigo_gr.blocks.modems.MODEMS`), channel (`lamigo_gr.blocks.channels.CHANNELS`),
SNR per sample, image and channel realisation, flowgraphs/loopback_sim.grc carries the GO message
once, and flowgraphs/loopback_classical.grc each baseline's file once, through the same modem
and channel. The codecs are compared at equal airtime: a baseline's budget is the bytes on air
whose link packets (of the GO message's largest packet size) take no longer on air with that
modem than the GO message's packets did (`equal_airtime_budget`, from the modem's frame
figures), and the baseline sends its highest setting that fits it
(`lamigo.link.classical.send_at_budget`). Every row records the airtime it took.

The GO message that arrived (the depacketizer's output, read where it is with
`lamigo.service.wire.received_from_pdu`) is decoded here with the LaMI decoder
(`lamigo.lami.LaMIDecoder`, the settings given, by default 4/8 steps); a baseline's image is the
Classical Receiver's. A message lost entirely (its control block, or a file's header block) is a
mid-grey image, measured like any other and counted in `received`.

**The radio figures** (part of every row, table and plot), from the `Modem` entry, the one place
they are computed: SNR per sample (mean signal power per sample over the complex noise variance
in the sample band; `lamigo_gr.blocks.channels`), Es/N0 and Eb/N0 per information bit after FEC
(`Modem.es_n0_db`, `Modem.eb_n0_db`), the occupied bandwidth and the airtime per image at the
stated sample rate (`Modem.bandwidth_hz`, `Modem.airtime_s`).

**Channel realisations.** With `seeds` N, every run is repeated with the channel seeds
noise_seed, noise_seed + 1, ..., noise_seed + N - 1 (fading and noise; every codec meets each);
the table gives the means over all and the spread (standard deviation of the means over the
realisations, `lamigo.evaluation.store.spread_of`), the plots the spread as error bars. The
packets are not the same across codecs: a GO message and a classical file differ in packet
count and length, so the same channel falls on other bits and frames.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lamigo.errors import ConfigError, LamigoError, WeightsError
from lamigo.evaluation.store import ResultCSV, group_rows, mean_of, spread_of
from lamigo.lami.settings import DecoderSettings
from lamigo.link.channel import snr_db
from lamigo.message import CODEC_NAME

logger = logging.getLogger(__name__)

__all__ = ["FIELDS", "SweepConfig", "equal_airtime_budget", "markdown_table", "parse_snr_points", "run_sweep",
           "snr_db", "write_plot"]

FIELDS = ("image", "modem", "channel", "snr_db", "es_n0_db", "eb_n0_db", "realisation", "noise_seed", "codec",
          "setting", "message_bytes", "bytes_on_air", "airtime_ms", "packets_sent", "packets_received", "per",
          "received", "psnr", "ssim", "st_lpips")
CSV_NAME, TABLE_NAME, PLOT_NAME = "sweep.csv", "sweep.md", "sweep.png"
METRICS = ("psnr", "ssim", "st_lpips")


def parse_snr_points(text: str, modems: Sequence[str]) -> dict[str, list[float]]:
    """`--snr-db`: "4,6,8" (every modem) or "gfsk:4,6,8;psk-cc:0,1,2" (per modem; a modem left
    out takes the points given without a name, if any) -> SNR points per modem. ConfigError on
    a bad number, an unknown or missing modem."""
    shared: list[float] | None = None
    named: dict[str, list[float]] = {}
    for part in (part.strip() for part in text.split(";")):
        if not part:
            continue
        name, _, values = part.rpartition(":")
        try:
            points = [float(value) for value in values.split(",") if value.strip()]
        except ValueError:
            raise ConfigError(f"--snr-db: {part!r} is not numbers separated by commas") from None
        if not points or any(math.isnan(point) for point in points):
            raise ConfigError(f"--snr-db: {part!r} gives no SNR")
        if name.strip():
            named[name.strip()] = points
        else:
            shared = points
    unknown = sorted(set(named) - set(modems))
    if unknown:
        raise ConfigError(f"--snr-db names {', '.join(unknown)}, not among the modems swept ({', '.join(modems)})")
    missing = [modem for modem in modems if modem not in named and shared is None]
    if missing:
        raise ConfigError(f"--snr-db gives no SNR for {', '.join(missing)}")
    return {modem: named.get(modem, shared) for modem in modems}


def equal_airtime_budget(modem, go_packets: Sequence[int]) -> int:
    """The bytes on air a classical file may take so that its link packets (at most the GO
    message's largest packet size each) take no longer on air with `modem` than the GO message's
    packets (`go_packets`, their sizes) did: the baselines' budget at equal airtime."""
    sizes = [int(n) for n in go_packets if n > 0]
    if not sizes:
        return 0
    largest, target = max(sizes), modem.airtime_s(sizes, 1.0)
    for budget in range(sum(sizes) + largest, 0, -1):
        full, rest = divmod(budget, largest)
        if modem.airtime_s([largest] * full + ([rest] if rest else []), 1.0) <= target * (1 + 1e-9):
            return budget
    return 0


@dataclass
class SweepConfig:
    """What `run_sweep` runs.

    Args:
        images: image sources (files or photo:NAME), each one run per point and codec.
        snr_points: SNR per sample (dB) points per modem name (`parse_snr_points`); the modems
            swept are its keys, in order.
        baselines: classical codecs (`lamigo.classical.BASELINES`) beside LaMI-GO.
        out: folder of sweep.csv, sweep.md, sweep.png and the received images.
        size: "HxW" every image is sent at.
        model_set: both ends' model set (name or folder).
        channels: channel names (`lamigo_gr.blocks.channels.CHANNELS`).
        caption: caption sent; empty: the model set's captioner, else a bundled photo's own.
        noise_seed: channel seed of realisation 0 (fading and noise).
        seeds: channel realisations per point, with seeds noise_seed + 0, 1, ...
        sample_rate: samples per second the airtime and the occupied bandwidth are stated at.
        decoder: the LaMI decoder's settings.
        flowgraph: other GRC parameters given to both flowgraphs (e.g. max_payload).
        build_dir: where the flowgraphs are compiled.
    """

    images: Sequence[str]
    snr_points: Mapping[str, Sequence[float]]
    baselines: Sequence[str]
    out: Path
    size: str
    model_set: str
    channels: Sequence[str] = ("awgn",)
    caption: str = ""
    noise_seed: int = 0
    seeds: int = 1
    sample_rate: float = 1e6
    decoder: DecoderSettings = field(default_factory=DecoderSettings)
    flowgraph: dict = field(default_factory=dict)
    build_dir: Path | None = None

    def __post_init__(self) -> None:
        from lamigo.classical import get_baseline
        from lamigo_gr.blocks.channels import get_channel
        from lamigo_gr.blocks.modems import get_modem

        for codec in self.baselines:
            get_baseline(codec)  # ConfigError naming the choices
        for name in self.snr_points:
            get_modem(name)
        for name in self.channels:
            get_channel(name)
        if not self.images or not self.snr_points or not self.channels:
            raise ConfigError("the sweep needs at least one image, modem, channel and SNR")
        if not 1 <= self.seeds <= 1000:
            raise ConfigError(f"seeds must be 1 to 1000, got {self.seeds}")
        if not self.sample_rate > 0:
            raise ConfigError(f"the sample rate must be > 0, got {self.sample_rate}")
        if any(not math.isfinite(snr) for points in self.snr_points.values() for snr in points):
            raise ConfigError(f"SNR points must be finite, got {dict(self.snr_points)}")


class _Receiver:
    """The LaMI decoder and the metrics, loaded once for the sweep."""

    def __init__(self, config: SweepConfig) -> None:
        from lamigo.evaluation.quality import QualityMetrics
        from lamigo.lami import LaMIDecoder
        from lamigo.zoo.index_prior import model_set_index_prior
        from lamigo.zoo.sets import load_model_set

        models = load_model_set(config.model_set)
        self.decoder = LaMIDecoder(models, config.decoder)
        self.prior = model_set_index_prior(config.model_set)
        try:
            self.metrics = QualityMetrics(("psnr", "ssim", "st-lpips"))
        except WeightsError as err:
            logger.warning("no ST-LPIPS column: %s", err)
            self.metrics = QualityMetrics(("psnr", "ssim"))

    def decode(self, meta: dict, data: bytes) -> np.ndarray:
        """The image the LaMI decoder regenerates from a depacketizer PDU (as the service would)."""
        from lamigo.images import to_uint8
        from lamigo.service.wire import received_from_pdu

        received = received_from_pdu(meta, data, self.prior)
        return to_uint8(self.decoder.decode_messages([received]).images)[0]


@dataclass(frozen=True)
class _Point:
    """One run's link: modem, channel, SNR per sample and realisation."""

    modem: str
    channel: str
    snr: float
    realisation: int


def _run_one(config: SweepConfig, receiver: _Receiver, source: str, original: np.ndarray, point: _Point,
             codec: str, budget: int | None) -> tuple[dict, np.ndarray, list[int]]:
    """One loopback run: its CSV row, the received image (mid-grey when nothing arrived) and the
    sizes of the link packets it sent."""
    import tempfile

    from lamigo.classical.received import grey
    from lamigo.images import decode_image_bytes
    from lamigo_gr.apps.loopback_run import run_loopback
    from lamigo_gr.blocks.modems import get_modem

    modem = get_modem(point.modem)
    noise_seed = config.noise_seed + point.realisation
    common = dict(images=source, count=1, size=config.size, modem=point.modem, channel=point.channel,
                  snr_db=point.snr, noise_seed=noise_seed, output_folder="", **config.flowgraph)
    if config.build_dir is not None:
        common["build_dir"] = config.build_dir
    if codec == CODEC_NAME:
        # nothing listens at this address (a socket file in a fresh folder of ours, so no other
        # process can take it): the messages are decoded here, from the depacketizer's output
        with tempfile.TemporaryDirectory(prefix="lamigo-sweep-") as nowhere:
            link = run_loopback(codec=CODEC_NAME, caption=config.caption, model_set=config.model_set,
                                service=f"ipc://{nowhere}/no-service", results="", **common)
    else:
        link = run_loopback(codec=codec, budget=budget, **common)
    sizes = [len(packet) for packet in link.packets]
    row = {"image": source, "modem": point.modem, "channel": point.channel, "snr_db": point.snr,
           "es_n0_db": round(modem.es_n0_db(point.snr), 2), "eb_n0_db": round(modem.eb_n0_db(point.snr), 2),
           "realisation": point.realisation, "noise_seed": noise_seed, "codec": codec,
           "setting": link.sent_meta[0].get("setting", "") if link.sent_meta else "",
           "message_bytes": len(link.sent[0]) if link.sent else 0, "bytes_on_air": link.bytes_on_air,
           "airtime_ms": round(1e3 * modem.airtime_s(sizes, config.sample_rate), 3),
           "packets_sent": link.packets_sent, "packets_received": link.packets_received,
           "per": round(link.packet_error_rate, 4) if link.packets_sent else ""}
    image = None
    if link.received:
        meta, data = link.received[0]
        try:
            if codec == CODEC_NAME:
                image = receiver.decode(meta, data)
            elif meta["decoded_ok"]:
                image = decode_image_bytes(data)
        except LamigoError as err:
            logger.warning("%s %s over %s at %.1f dB: not decodable: %s", codec, source, point.modem, point.snr, err)
    if not link.sent:
        logger.warning("%s of %s sent nothing (no file fits %s bytes on air)", codec, source, budget)
    row["received"] = int(image is not None)
    image = image if image is not None else grey(original.shape[:2])
    row.update({name: round(value, 4) for name, value in receiver.metrics.measure(original, image).items()})
    logger.info("%s %s over %s/%s at %.1f dB (seed %d): %s of %s packets, %s B, %.1f ms on air, PSNR %.2f dB", codec,
                source, point.modem, point.channel, point.snr, noise_seed, row["packets_received"],
                row["packets_sent"], row["bytes_on_air"], row["airtime_ms"], row["psnr"])
    return row, image, sizes


def run_sweep(config: SweepConfig) -> list[dict]:
    """Every image over every modem, channel, SNR point and realisation through LaMI-GO and each
    baseline at equal airtime; writes the CSV (a row at a time), the received images, the
    markdown table and the plot; returns the rows."""
    from tqdm.auto import tqdm

    from lamigo.images import fit_image, load_image, parse_size, save_image
    from lamigo_gr.blocks.modems import get_modem

    shape = parse_size(config.size)
    config.out.mkdir(parents=True, exist_ok=True)
    receiver = _Receiver(config)
    codecs = [CODEC_NAME, *config.baselines]
    rows: list[dict] = []
    store = ResultCSV(config.out / CSV_NAME, FIELDS)
    store.write()
    runs = [(source, _Point(modem, channel, snr, realisation), codec)
            for modem, points in config.snr_points.items() for channel in config.channels for snr in points
            for source in config.images for realisation in range(config.seeds) for codec in codecs]
    budgets: dict[tuple[str, str], int] = {}
    originals: dict[str, np.ndarray] = {}
    for source, point, codec in tqdm(runs, desc="loopback runs", unit="run"):
        if source not in originals:
            originals[source] = fit_image(load_image(source), shape)
        row, image, sizes = _run_one(config, receiver, source, originals[source], point, codec,
                                     budgets.get((source, point.modem)))
        if codec == CODEC_NAME:  # the GO message's packets are the same at every SNR: the baselines' airtime
            budgets[source, point.modem] = equal_airtime_budget(get_modem(point.modem), sizes)
        rows.append(row)
        store.append(row)
        name = "".join(c if c.isalnum() or c in "._-" else "_" for c in source)
        tail = f"~r{point.realisation}" if point.realisation else ""
        save_image(image, config.out / "images" / point.modem / point.channel / f"snr_{point.snr:g}" / codec
                   / f"{name}{tail}.png")
    (config.out / TABLE_NAME).write_text(markdown_table(rows, config.sample_rate) + "\n")
    write_plot(rows, config.out / PLOT_NAME, config.sample_rate)
    return rows


def _means(rows: Sequence[dict]) -> list[dict]:
    """Per (modem, channel, SNR, codec), in sweep order: the means over the images and
    realisations, PER over all packets, and the spreads over the realisations (None for one)."""
    means = []
    key = lambda row: (row["modem"], row["channel"], float(row["snr_db"]), row["codec"])  # noqa: E731
    for (modem, channel, snr, codec), group in group_rows(rows, key).items():
        sent = sum(int(row["packets_sent"]) for row in group)
        entry = {"modem": modem, "channel": channel, "snr_db": snr, "codec": codec,
                 "es_n0_db": float(group[0]["es_n0_db"]), "eb_n0_db": float(group[0]["eb_n0_db"]),
                 "images": len({row["image"] for row in group}),
                 "realisations": len({row.get("realisation", 0) for row in group}),
                 "received": sum(int(row["received"]) for row in group), "runs": len(group),
                 "packets_sent": sent, "packets_received": sum(int(row["packets_received"]) for row in group),
                 "per": 1 - sum(int(row["packets_received"]) for row in group) / sent if sent else None,
                 "bytes_on_air": mean_of(group, "bytes_on_air"), "airtime_ms": mean_of(group, "airtime_ms")}
        for name in METRICS:
            entry[name], entry[f"{name}_spread"] = mean_of(group, name), spread_of(group, name)
        means.append(entry)
    return means


def modem_table(modems: Sequence[str], sample_rate: float) -> str:
    """The modems' radio figures at `sample_rate`: bits per symbol, code rate, information bits
    per sample, Es/N0 and Eb/N0 at 0 dB SNR per sample, occupied bandwidth."""
    from lamigo_gr.blocks.modems import get_modem

    lines = [f"Modems at {sample_rate / 1e6:g} MS/s (SNR per sample; Es/N0 = SNR + offset, Eb/N0 per information "
             "bit after FEC = SNR + offset):", "",
             "| modem | bits/symbol | code rate | info bits/sample | Es/N0 - SNR dB | Eb/N0 - SNR dB | "
             "occupied bandwidth kHz |", "|---|---|---|---|---|---|---|"]
    for name in modems:
        modem = get_modem(name)
        lines.append(f"| {name} | {modem.bits_per_symbol:g} | {modem.code_rate:g} | "
                     f"{modem.information_bits_per_sample:.3f} | {modem.es_n0_db(0.0):+.2f} | "
                     f"{modem.eb_n0_db(0.0):+.2f} | {modem.bandwidth_hz(sample_rate) / 1e3:.0f} |")
    return "\n".join(lines)


def markdown_table(rows: Sequence[dict], sample_rate: float = 1e6) -> str:
    """The sweep as markdown: the modems' figures, then one line per modem, channel, SNR and
    codec (means over the images and realisations; spreads over the realisations when several)."""
    def cell(value, digits):
        return "-" if value is None else f"{value:.{digits}f}"

    means = _means(rows)
    spread = any(entry["psnr_spread"] is not None for entry in means)
    lines = [modem_table(list(dict.fromkeys(entry["modem"] for entry in means)), sample_rate), "",
             "| modem | channel | SNR dB | Es/N0 dB | Eb/N0 dB | codec | PER | bytes on air | airtime ms | PSNR dB |"
             + (" PSNR spread |" if spread else "") + " ST-LPIPS |" + (" ST-LPIPS spread |" if spread else "")
             + " received |",
             "|---|---|---|---|---|---|---|---|---|---|" + ("---|" if spread else "") + "---|"
             + ("---|" if spread else "") + "---|"]
    for entry in means:
        lines.append(f"| {entry['modem']} | {entry['channel']} | {entry['snr_db']:.1f} | {entry['es_n0_db']:.1f} | "
                     f"{entry['eb_n0_db']:.1f} | {entry['codec']} | {cell(entry['per'], 3)} | "
                     f"{entry['bytes_on_air']:.0f} | {cell(entry['airtime_ms'], 1)} | {cell(entry['psnr'], 2)} | "
                     + (f"{cell(entry['psnr_spread'], 2)} | " if spread else "")
                     + f"{cell(entry['st_lpips'], 4)} | "
                     + (f"{cell(entry['st_lpips_spread'], 4)} | " if spread else "")
                     + f"{entry['received']}/{entry['runs']} |")
    return "\n".join(lines)


def write_plot(rows: Sequence[dict], path: Path, sample_rate: float = 1e6) -> None:
    """Three panels: PER vs Eb/N0 per modem and channel (all codecs' packets), PSNR and (when
    measured) ST-LPIPS vs SNR per sample per modem x codec, error bars the spread over the
    channel realisations."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    means = _means(rows)
    links = list(dict.fromkeys((entry["modem"], entry["channel"]) for entry in means))
    codecs = list(dict.fromkeys(entry["codec"] for entry in means))
    colours = {link: f"C{i % 10}" for i, link in enumerate(links)}
    styles = {codec: ("-", "--", ":", "-.")[i % 4] for i, codec in enumerate(codecs)}
    markers = {codec: "osd^v"[i % 5] for i, codec in enumerate(codecs)}
    panels = [("per", "packet error rate (all codecs' packets)"), ("psnr", "PSNR (dB)")]
    if any(entry["st_lpips"] is not None for entry in means):
        panels.append(("st_lpips", "ST-LPIPS (lower is better)"))
    figure, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.2))
    for axis, (name, label) in zip(axes, panels):
        for link in links:
            modem, channel = link
            if name == "per":  # one PER per link point: every codec's packets pooled
                points = {}
                for entry in means:
                    if (entry["modem"], entry["channel"]) == link and entry["packets_sent"]:
                        sent, got = points.get(entry["eb_n0_db"], (0, 0))
                        points[entry["eb_n0_db"]] = (sent + entry["packets_sent"], got + entry["packets_received"])
                xs = sorted(points)
                axis.plot(xs, [max(1 - points[x][1] / points[x][0], 1e-3) for x in xs], marker="o",
                          color=colours[link], label=f"{modem} / {channel}")
                continue
            for codec in codecs:
                points = sorted((entry["snr_db"], entry[name], entry[f"{name}_spread"]) for entry in means
                                if (entry["modem"], entry["channel"]) == link and entry["codec"] == codec
                                and entry[name] is not None and entry["packets_sent"])  # sent nothing: no point
                if points:
                    xs, ys, spreads = zip(*points)
                    errors = None if all(v is None for v in spreads) else [v or 0.0 for v in spreads]
                    axis.errorbar(xs, ys, yerr=errors, color=colours[link], linestyle=styles[codec],
                                  marker=markers[codec], capsize=3, label=f"{modem} / {channel}: {codec}")
        if name == "per":
            axis.set_yscale("log")
            axis.set_ylim(8e-4, 1.2)
            axis.set_xlabel("Eb/N0 per information bit after FEC (dB)")
        else:
            axis.set_xlabel("SNR per sample (dB)")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    figure.suptitle(f"GNU Radio loopback: LaMI-GO and the baselines at equal airtime (airtime at "
                    f"{sample_rate / 1e6:g} MS/s; PER 0 drawn at 1e-3)", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)
