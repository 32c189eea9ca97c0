"""The SNR sweep through the GNU Radio loopback: LaMI-GO and the classical baselines in the same
modem (`python -m lamigo_gr.apps.loopback`, whose options this module's `SweepConfig` holds;
each run is `lamigo_gr.apps.loopback_run.run_loopback`).

At each noise voltage and for each image, flowgraphs/loopback_sim.grc carries the GO message
once, and flowgraphs/loopback_classical.grc each baseline's file once, at the highest setting
whose bytes on air (link headers, CRCs and the protected header block included) fit the GO
message's bytes on air (the Image Source's `budget`, `lamigo.link.classical.send_at_budget`).
Both flowgraphs share the GFSK modem blocks, `channels.channel_model` and its settings. The GO
message that arrived (the depacketizer's output, read where it is with
`lamigo.service.wire.received_from_pdu`) is decoded here with the LaMI decoder
(`lamigo.lami.LaMIDecoder`, the settings given, by default 4/8 steps); a baseline's image is the
Classical Receiver's. A message lost entirely (its control block, or a file's header block) is a
mid-grey image, measured like any other and counted in `received`.

The channel: every run at one noise voltage seeds GNU Radio's noise source with the same
`noise_seed`, so each run meets the same noise samples from its first sample on. The packets
are not the same: a GO message and a classical file differ in packet count and length, so the
same samples fall on other bits and frames, and which packets are lost differs (unlike
`lamigo simulate --baselines`, whose packet-erasure channels drop the same slots). With
`realisations` N, every run is repeated with the noise seeds noise_seed, noise_seed + 1, ...,
noise_seed + N - 1 (every codec meeting each); the table gives the means over all and the PSNR
spread (standard deviation of the means over the realisations, `lamigo.evaluation.store.spread_of`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lamigo.errors import ConfigError, LamigoError, WeightsError
from lamigo.evaluation.store import ResultCSV, group_rows, mean_of, spread_of
from lamigo.lami.settings import DecoderSettings
from lamigo.link.channel import snr_db
from lamigo.message import CODEC_NAME

logger = logging.getLogger(__name__)

__all__ = ["FIELDS", "SweepConfig", "markdown_table", "run_sweep", "snr_db", "write_plot"]

FIELDS = ("image", "noise_voltage", "snr_db", "realisation", "noise_seed", "codec", "setting", "message_bytes", "bytes_on_air",
          "packets_sent", "packets_received", "per", "received", "psnr", "ssim", "st_lpips")
CSV_NAME, TABLE_NAME, PLOT_NAME = "sweep.csv", "sweep.md", "sweep.png"


@dataclass
class SweepConfig:
    """What `run_sweep` runs.

    Args:
        images: image sources (files or photo:NAME), each one run per noise voltage and codec.
        noise_voltages: the channel's noise voltages (signal amplitude 1).
        baselines: classical codecs (`lamigo.classical.BASELINES`) beside LaMI-GO.
        out: folder of sweep.csv, sweep.md, sweep.png and the received images.
        size: "HxW" every image is sent at.
        model_set: both ends' model set (name or folder).
        caption: caption sent; empty: the model set's captioner, else a bundled photo's own.
        noise_seed: seed of the channel noise, the same for every run at one voltage.
        realisations: runs per image, voltage and codec, with noise seeds noise_seed + 0, 1, ...
        decoder: the LaMI decoder's settings.
        flowgraph: other GRC parameters given to both flowgraphs (e.g. max_payload).
        build_dir: where the flowgraphs are compiled.
    """

    images: Sequence[str]
    noise_voltages: Sequence[float]
    baselines: Sequence[str]
    out: Path
    size: str
    model_set: str
    caption: str = ""
    noise_seed: int = 0
    realisations: int = 1
    decoder: DecoderSettings = field(default_factory=DecoderSettings)
    flowgraph: dict = field(default_factory=dict)
    build_dir: Path | None = None

    def __post_init__(self) -> None:
        from lamigo.classical import get_baseline

        for codec in self.baselines:
            get_baseline(codec)  # ConfigError naming the choices
        if not self.images or not self.noise_voltages:
            raise ConfigError("the sweep needs at least one image and one noise voltage")
        if not 1 <= self.realisations <= 1000:
            raise ConfigError(f"realisations must be 1 to 1000, got {self.realisations}")
        if any(not math.isfinite(v) or v < 0 for v in self.noise_voltages):
            raise ConfigError(f"noise voltages must be finite and >= 0, got {list(self.noise_voltages)}")


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


def _run_one(config: SweepConfig, receiver: _Receiver, source: str, original: np.ndarray, voltage: float,
             realisation: int, codec: str, budget: int | None) -> tuple[dict, np.ndarray]:
    """One loopback run: its CSV row and the received image (mid-grey when nothing arrived)."""
    import tempfile

    from lamigo.classical.received import grey
    from lamigo.images import decode_image_bytes
    from lamigo_gr.apps.loopback_run import run_loopback

    noise_seed = config.noise_seed + realisation
    common = dict(images=source, count=1, size=config.size, noise_voltage=voltage, noise_seed=noise_seed,
                  output_folder="", **config.flowgraph)
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
    row = {"image": source, "noise_voltage": voltage, "snr_db": round(snr_db(voltage), 2),
           "realisation": realisation, "noise_seed": noise_seed, "codec": codec,
           "setting": link.sent_meta[0].get("setting", "") if link.sent_meta else "",
           "message_bytes": len(link.sent[0]) if link.sent else 0, "bytes_on_air": link.bytes_on_air,
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
            logger.warning("%s %s at %.3f V: not decodable: %s", codec, source, voltage, err)
    if not link.sent:
        logger.warning("%s of %s sent nothing (no file fits %s bytes on air)", codec, source, budget)
    row["received"] = int(image is not None)
    image = image if image is not None else grey(original.shape[:2])
    row.update({name: round(value, 4) for name, value in receiver.metrics.measure(original, image).items()})
    logger.info("%s %s at %.3f V: %s of %s packets, %s B on air, PSNR %.2f dB", codec, source, voltage,
                row["packets_received"], row["packets_sent"], row["bytes_on_air"], row["psnr"])
    return row, image


def run_sweep(config: SweepConfig) -> list[dict]:
    """Every image at every noise voltage through LaMI-GO and each baseline; writes the CSV (a
    row at a time), the received images, the markdown table and the plot; returns the rows."""
    from tqdm.auto import tqdm

    from lamigo.images import fit_image, load_image, parse_size, save_image

    shape = parse_size(config.size)
    config.out.mkdir(parents=True, exist_ok=True)
    receiver = _Receiver(config)
    codecs = [CODEC_NAME, *config.baselines]
    rows: list[dict] = []
    store = ResultCSV(config.out / CSV_NAME, FIELDS)
    store.write()
    runs = [(source, voltage, realisation, codec) for source in config.images for voltage in config.noise_voltages
            for realisation in range(config.realisations) for codec in codecs]
    budgets: dict[str, int] = {}
    originals: dict[str, np.ndarray] = {}
    for source, voltage, realisation, codec in tqdm(runs, desc="loopback runs", unit="run"):
        if source not in originals:
            originals[source] = fit_image(load_image(source), shape)
        row, image = _run_one(config, receiver, source, originals[source], voltage, realisation, codec,
                              budgets.get(source))
        if codec == CODEC_NAME:  # the baselines' budget: this GO message's bytes on air (the same at every voltage)
            budgets[source] = row["bytes_on_air"]
        rows.append(row)
        store.append(row)
        name = "".join(c if c.isalnum() or c in "._-" else "_" for c in source)
        tail = f"~r{realisation}" if realisation else ""
        save_image(image, config.out / "images" / f"noise_{voltage:.3f}" / codec / f"{name}{tail}.png")
    (config.out / TABLE_NAME).write_text(markdown_table(rows) + "\n")
    write_plot(rows, config.out / PLOT_NAME)
    return rows


def _means(rows: Sequence[dict]) -> list[dict]:
    """Per (noise voltage, codec), in sweep order: the means over the images and realisations, PER
    over all packets, and the PSNR spread over the realisations (None for one)."""
    means = []
    for (voltage, codec), group in group_rows(rows, lambda row: (row["noise_voltage"], row["codec"])).items():
        sent = sum(row["packets_sent"] for row in group)
        entry = {"noise_voltage": voltage, "snr_db": group[0]["snr_db"], "codec": codec,
                 "images": len({row["image"] for row in group}),
                 "realisations": len({row.get("realisation", 0) for row in group}),
                 "psnr_spread": spread_of(group, "psnr"),
                 "received": sum(row["received"] for row in group), "runs": len(group),
                 "per": 1 - sum(row["packets_received"] for row in group) / sent if sent else None,
                 "bytes_on_air": mean_of(group, "bytes_on_air")}
        entry.update({name: mean_of(group, name) for name in ("psnr", "ssim", "st_lpips")})
        means.append(entry)
    return means


def markdown_table(rows: Sequence[dict]) -> str:
    """The sweep as a markdown table: one line per noise voltage and codec, means over the images."""
    def cell(value, digits):
        return "-" if value is None else f"{value:.{digits}f}"

    means = _means(rows)
    spread = any(entry["psnr_spread"] is not None for entry in means)  # several realisations
    lines = ["| noise V | SNR dB | codec | PER | bytes on air | PSNR dB |" + (" PSNR spread |" if spread else "")
             + " ST-LPIPS | received |",
             "|---|---|---|---|---|---|" + ("---|" if spread else "") + "---|---|"]
    for entry in means:
        lines.append(f"| {entry['noise_voltage']:.3f} | {entry['snr_db']:.1f} | {entry['codec']} | "
                     f"{cell(entry['per'], 3)} | {entry['bytes_on_air']:.0f} | {cell(entry['psnr'], 2)} | "
                     + (f"{cell(entry['psnr_spread'], 2)} | " if spread else "")
                     + f"{cell(entry['st_lpips'], 4)} | {entry['received']}/{entry['runs']} |")
    return "\n".join(lines)


def write_plot(rows: Sequence[dict], path: Path) -> None:
    """PER, PSNR (and ST-LPIPS when measured) against SNR, one line per codec."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    means = _means(rows)
    panels = [("per", "packet error rate"), ("psnr", "PSNR (dB)")]
    if any(entry["st_lpips"] is not None for entry in means):
        panels.append(("st_lpips", "ST-LPIPS (lower is better)"))
    figure, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4))
    for axis, (name, label) in zip(axes, panels):
        for codec in dict.fromkeys(entry["codec"] for entry in means):
            points = sorted((entry["snr_db"], entry[name], entry["psnr_spread"] if name == "psnr" else None)
                            for entry in means
                            if entry["codec"] == codec and entry[name] is not None and math.isfinite(entry["snr_db"]))
            if points:
                xs, ys, spreads = zip(*points)
                errors = None if all(value is None for value in spreads) else [value or 0.0 for value in spreads]
                axis.errorbar(xs, ys, yerr=errors, marker="o", capsize=3, label=codec)
        axis.set_xlabel("SNR per sample (dB)")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle("GNU Radio loopback: LaMI-GO and the classical baselines at the same bytes on air")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
