"""`lamigo eval --quick` end to end on two bundled photos with the tiny model set."""

import csv

import pytest

from lamigo.classical import BASELINES
from lamigo.cli.main import main
from lamigo.evaluation.experiments import EXPERIMENTS
from lamigo.evaluation.report import load_paper_results, match_paper

# 32x32 images (an 8x8 latent) and the cheap metrics keep the whole quick run well under a minute.
QUICK = ["--quick", "--model-set", "tiny", "--size", "32x32", "--metrics", "psnr,ssim", "--device", "cpu"]


def _rows(path):
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("eval")
    assert main(["eval", "photos:", "--out", str(out), *QUICK]) == 0
    return out


def test_quick_run_writes_csvs_plots_and_report(quick_run):
    for name, experiment in EXPERIMENTS.items():
        conditions = experiment.conditions(quick=True)
        assert len(_rows(quick_run / f"{name}.csv")) == 2 * len(conditions)
        summary = _rows(quick_run / f"{name}_summary.csv")
        assert [row["images"] for row in summary] == ["2"] * len(conditions)
        assert (quick_run / f"{name}.png").stat().st_size > 0
    report = (quick_run / "report.md").read_text()
    assert "model set: **tiny**" in report
    assert "Cityscapes (Table III): FID 18.44" in report  # the paper's value beside ours
    per = _rows(quick_run / "per.csv")
    assert all(float(row["air_kb"]) > float(row["total_kb"]) for row in per if row["received"] == "1")
    # Every baseline on the same curves; a lost message is a measured mid-grey image, counted.
    assert {row["codec"] for row in per} == {"lami-go", *BASELINES}
    assert all(row["psnr"] and row["ssim"] for row in per)
    summary = _rows(quick_run / "per_summary.csv")
    assert all(int(row["lost"]) == int(row["images"]) - int(row["received"]) for row in summary)
    assert "overtakes each baseline" in report and (quick_run / "per_crossover.csv").is_file()
    # Downstream tasks on every tasks condition's received images; those without a folder named.
    scores = _rows(quick_run / "tasks_scores.csv")
    assert {row["task"] for row in scores} == {"faces", "pedestrians", "edges"}
    assert len({(row["codec"], row["policy"], row["setup"]) for row in scores}) == len(EXPERIMENTS["tasks"].conditions(True))
    assert (quick_run / "tasks_scores.png").stat().st_size > 0
    assert "Skipped: detection (no --detector DIR given); depth (no --depth DIR given)." in report
    bandwidth = _rows(quick_run / "bandwidth.csv")
    assert {row["codec"] for row in bandwidth} == {"lami-go", *BASELINES}
    lami = [row for row in bandwidth if row["codec"] == "lami-go"]
    assert all(float(row["header_kb"]) + float(row["mask_kb"]) + float(row["text_kb"])
               + float(row["indices_kb"]) == pytest.approx(float(row["total_kb"])) for row in lami)


def test_resume_runs_only_missing_rows_and_reproduces_them(quick_run, capsys):
    path = quick_run / "ratio.csv"
    rows = _rows(path)
    removed = rows.pop()
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(removed))
        writer.writeheader()
        writer.writerows(rows)
    assert main(["eval", "photos:", "--out", str(quick_run), "--experiments", "ratio", *QUICK]) == 0
    assert f"ratio: 1 rows run, {len(rows)} already done" in capsys.readouterr().out
    rerun = _rows(path)
    assert rerun[:-1] == rows
    assert {key: rerun[-1][key] for key in ("image", "ratio", "total_kb", "psnr", "ssim")} == \
        {key: removed[key] for key in ("image", "ratio", "total_kb", "psnr", "ssim")}


def test_another_seed_in_the_same_folder_is_refused(quick_run, capsys):
    assert main(["eval", "photos:", "--out", str(quick_run), *QUICK, "--seed", "1"]) == 2
    assert "seed" in capsys.readouterr().err


def test_unknown_experiment_is_one_line_and_exit_2(tmp_path, capsys):
    code = main(["eval", "photos:", "--out", str(tmp_path), "--experiments", "policies,nonsense", *QUICK])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "nonsense" in err and "policies" in err


def test_lpips_without_weights_is_a_clear_error(tmp_path, capsys):
    code = main(["eval", "photos:", "--out", str(tmp_path), *QUICK[:-4], "--metrics", "lpips"])
    assert code == 2 and "--lpips-weights" in capsys.readouterr().err


def test_paper_values_match_on_the_stated_fields_only():
    paper = load_paper_results()
    condition = {"policy": "prm", "ratio": 0.25, "tau": 28, "steps": 32, "codec": "lami-go"}
    found = match_paper("policies", condition, paper)
    assert {(row["dataset"], row["metric"]) for row in found} == {
        (dataset, metric) for dataset in ("Cityscapes", "Flickr", "COCO-Stuff") for metric in ("fid", "lpips")}
    assert match_paper("policies", {**condition, "tau": 4, "steps": 8}, paper) == []


def test_image_folder_takes_captions_from_text_files_else_the_empty_one(tmp_path, caplog):
    from lamigo.errors import ConfigError
    from lamigo.evaluation.data import load_eval_images
    from lamigo.images import load_image, save_image

    save_image(load_image("photo:coffee"), tmp_path / "b.png")
    save_image(load_image("photo:chelsea"), tmp_path / "a.jpg")
    (tmp_path / "a.txt").write_text("a cat\n on a rug")
    (tmp_path / "notes.md").write_text("not an image")
    with caplog.at_level("WARNING"):
        items = load_eval_images(str(tmp_path), (32, 32))
    assert [item.caption for item in items] == ["a cat on a rug", ""]
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert len(warnings) == 1 and "1 of 2 images" in warnings[0] and "(b)" in warnings[0]
    (tmp_path / "b.txt").write_text("a cup of coffee")
    items = load_eval_images(str(tmp_path), (32, 32))
    assert [(item.name, item.caption, item.image.shape) for item in items] == [
        ("a", "a cat on a rug", (32, 32, 3)), ("b", "a cup of coffee", (32, 32, 3))]
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no images"):
        load_eval_images(str(tmp_path / "empty"), (32, 32))


def test_several_realisations_per_point_report_their_spread(quick_run, tmp_path):
    """--realisations 2: each link condition runs each image through two channel realisations
    (the first the same as a run of one), the summary counts them and gives the spread."""
    out = tmp_path / "eval"
    assert main(["eval", "photos:", "--out", str(out), "--experiments", "per", "--realisations", "2", *QUICK]) == 0
    rows, single = _rows(out / "per.csv"), _rows(quick_run / "per.csv")
    assert len(rows) == 2 * len(single)
    first = [row for row in rows if row["realisation"] == "0"]
    assert [(row["codec"], row["image"], row["packets_lost"], row["psnr"]) for row in first] == \
        [(row["codec"], row["image"], row["packets_lost"], row["psnr"]) for row in single]
    summary = _rows(out / "per_summary.csv")
    assert all((row["images"], row["realisations"]) == ("2", "2") for row in summary)
    assert all(row["psnr_spread"] != "" and float(row["psnr_spread"]) >= 0 for row in summary)
    assert any(float(row["psnr_spread"]) > 0 for row in summary)  # the realisations differ somewhere
    names = {row["image"] for row in rows}
    for folder in (out / "images" / "per").iterdir():  # each realisation's image beside the first's
        assert {path.name for path in folder.iterdir()} == {f"{name}{tail}.png" for name in names
                                                            for tail in ("", "~r1")}
    assert "2 channel realisations per image over a link" in (out / "report.md").read_text()
    assert "PSNR spread" in (out / "report.md").read_text()
