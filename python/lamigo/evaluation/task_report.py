"""The downstream-task section of a `lamigo eval` run: every task (`lamigo.evaluation.tasks`)
on the originals and on each condition's received images, a CSV of the scores, a plot and the
report's Markdown section."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lamigo.evaluation.experiments import CONDITION_FIELDS, cell_text, condition_slug
from lamigo.evaluation.tasks import Task
from lamigo.message import CODEC_NAME

__all__ = ["run_tasks"]


def _condition_label(row: dict) -> str:
    if row.get("codec") != CODEC_NAME:
        name = str(row["codec"])
    elif row.get("policy") == "none":
        name = "VQGAN alone"
    else:
        name = f"{row['policy']} {row['tau']}/{row['steps']}"
    if row.get("setup"):
        name += f", setup {row['setup']} PER {row['rate']:g}"
    return name


def run_tasks(out: Path, experiment, summary: Sequence[dict], items: Sequence, tasks: Sequence[Task],
              skipped: dict[str, str]) -> list[str]:
    """Run `tasks` (of `build_tasks`, with the `skipped` ones' reasons) on the originals and on
    each condition's received images (saved by the harness, lost messages mid-grey); write
    `NAME_scores.csv` (one row per condition, task and metric) and `NAME_scores.png`; return the
    report's Markdown section."""
    from lamigo.images import load_image

    scores: dict[str, list[tuple[dict, dict[str, float]]]] = {}
    for task in tasks:
        references = []
        for item in items:
            truth = task.ground_truth(item.name, item.image.shape[:2])
            references.append(task.predict(item.image) if truth is None else truth)
        for row in summary:
            folder = out / "images" / experiment.name / condition_slug(experiment.keys, row)
            predictions = [task.predict(load_image(folder / f"{item.name}.png")) for item in items]
            scores.setdefault(task.name, []).append((row, task.score(predictions, references)))
    with (out / f"{experiment.name}_scores.csv").open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow([*CONDITION_FIELDS, "task", "metric", "value"])
        for name, results in scores.items():
            for row, values in results:
                writer.writerows([*(cell_text(row.get(field)) for field in CONDITION_FIELDS), name, metric,
                                  cell_text(value)] for metric, value in values.items())
    if scores:
        _plot_scores(out / f"{experiment.name}_scores.png", tasks, scores)
    lines = ["### Downstream tasks", "",
             f"Each task runs on the original images and on each condition's received images "
             f"(`{experiment.name}_scores.csv`); the reference is the original's prediction unless "
             "ground truth was given. The paper scores against ground truth: its values are not "
             "expected to match ours, the trends are.", ""]
    if scores:
        lines += [f"![{experiment.name} scores]({experiment.name}_scores.png)", ""]
    for task in tasks:
        lines += [f"**{task.name}**: {task.title} (paper: {task.paper}).", ""]
        if all(np.isnan(values[task.headline]) for _, values in scores[task.name]):
            lines += ["Nothing to score: the references hold nothing this task finds in these images.", ""]
            continue
        lines += ["| condition | " + " | ".join(task.metrics) + " |", "|---|" + "---|" * len(task.metrics)]
        lines += ["| " + " | ".join([_condition_label(row)] + [_table_cell(values[m]) for m in task.metrics]) + " |"
                  for row, values in scores[task.name]]
        lines.append("")
    if skipped:
        lines += ["Skipped: " + "; ".join(f"{name} ({reason})" for name, reason in skipped.items()) + ".", ""]
    return lines


def _table_cell(value: float) -> str:
    return "-" if np.isnan(value) else format(value, ".4g")


def _plot_scores(path: Path, tasks: Sequence[Task], scores: dict) -> None:
    """One panel per task: its headline metric per condition."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.8), squeeze=False)
    for axis, task in zip(axes[0], tasks):
        metric = task.headline
        labels = [_condition_label(row) for row, _ in scores[task.name]]
        heights = [values[metric] for _, values in scores[task.name]]
        axis.barh(range(len(labels)), np.nan_to_num(heights, nan=0.0))
        axis.set_yticks(range(len(labels)), labels, fontsize="small")
        axis.invert_yaxis()
        axis.set_xlabel(f"{metric} ({'lower' if task.lower_is_better else 'higher'} is better)")
        axis.set_title(task.name)
        axis.grid(alpha=0.3, axis="x")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
