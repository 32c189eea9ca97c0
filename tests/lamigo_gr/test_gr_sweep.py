"""The SNR sweep through the GNU Radio loopback (`python -m lamigo_gr.apps.loopback`): LaMI-GO and
a classical baseline at the GO message's bytes on air through the same modem, at two noise
voltages."""

import csv

import pytest

from lamigo.lami import DecoderSettings
from lamigo_gr.apps.loopback import main
from lamigo_gr.apps.sweep import SweepConfig, markdown_table, run_sweep, snr_db


@pytest.mark.slow
def test_two_voltages_one_baseline(tmp_path):
    # 96x96 with the default set: the smallest GO message a JPEG 2000 file (its main header sent
    # three times, Reed-Solomon coded) still fits the bytes on air of; 2 steps keep it fast.
    config = SweepConfig(images=["photo:coffee"], noise_voltages=[0.3, 0.6], baselines=["jpeg2000"],
                         out=tmp_path / "sweep", size="96x96", model_set="default",
                         decoder=DecoderSettings(steps=2, renoise=1), build_dir=tmp_path / "flowgraphs")
    rows = run_sweep(config)
    with (config.out / "sweep.csv").open(newline="") as file:
        written = list(csv.DictReader(file))
    assert [(row["noise_voltage"], row["codec"]) for row in written] == [
        ("0.3", "lami-go"), ("0.3", "jpeg2000"), ("0.6", "lami-go"), ("0.6", "jpeg2000")]
    by = {(row["noise_voltage"], row["codec"]): row for row in rows}
    go_bytes = by[0.3, "lami-go"]["bytes_on_air"]
    for codec in ("lami-go", "jpeg2000"):
        quiet, noisy = by[0.3, codec], by[0.6, codec]
        assert quiet["per"] == 0 < noisy["per"]  # PER rises with the noise
        assert 0 < quiet["bytes_on_air"] == noisy["bytes_on_air"] <= go_bytes
        assert quiet["received"] == noisy["received"] == 1  # decoded despite the lost packets
        assert quiet["psnr"] > max(15, noisy["psnr"]) and quiet["st_lpips"] < 0.6
        assert noisy["snr_db"] == round(snr_db(0.6), 2) == 4.44
    assert by[0.3, "jpeg2000"]["setting"] != "" and by[0.3, "lami-go"]["setting"] == ""
    table = (config.out / "sweep.md").read_text()
    assert table.strip() == markdown_table(rows) and "| 0.600 | 4.4 | jpeg2000 |" in table
    assert (config.out / "sweep.png").stat().st_size > 0
    assert (config.out / "images" / "noise_0.300" / "jpeg2000" / "photo_coffee.png").is_file()


def test_bad_input_is_one_line_and_status_2(capsys, tmp_path):
    assert main(["--baselines", "gif", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "jpeg2000" in err[0]
    with pytest.raises(SystemExit) as exit_info:
        main(["--noise-voltages", "0.3,loud"])
    assert exit_info.value.code == 2
    assert main(["--noise-voltages", "-1", "--out", str(tmp_path)]) == 2


@pytest.mark.slow
def test_several_realisations_meet_other_noise_and_report_the_spread(tmp_path):
    """--realisations 2: each run again with the next noise seed; the table adds the PSNR spread."""
    config = SweepConfig(images=["photo:coffee"], noise_voltages=[0.55], baselines=[], out=tmp_path / "sweep",
                         size="64x64", model_set="tiny", decoder=DecoderSettings(steps=1, renoise=1),
                         noise_seed=5, realisations=2, build_dir=tmp_path / "flowgraphs")
    rows = run_sweep(config)
    assert [(row["realisation"], row["noise_seed"]) for row in rows] == [(0, 5), (1, 6)]
    table = (config.out / "sweep.md").read_text()
    assert "| PSNR spread |" in table.splitlines()[0] and "| 2/2 |" in table
    assert (config.out / "images" / "noise_0.550" / "lami-go" / "photo_coffee~r1.png").is_file()


def test_the_table_gives_the_spread_over_realisations_only_when_there_are_several():
    def row(realisation, psnr):
        return {"image": "a", "noise_voltage": 0.6, "snr_db": 4.44, "realisation": realisation, "codec": "jpeg",
                "packets_sent": 10, "packets_received": 9, "bytes_on_air": 100, "received": 1, "psnr": psnr,
                "ssim": 0.5, "st_lpips": None}

    one, two = markdown_table([row(0, 20.0)]), markdown_table([row(0, 20.0), row(1, 24.0)])
    assert "spread" not in one and "| 0.600 | 4.4 | jpeg | 0.100 | 100 | 20.00 | - | 1/1 |" in one
    assert "| 0.600 | 4.4 | jpeg | 0.100 | 100 | 22.00 | 2.83 | - | 2/2 |" in two  # sd of 20 and 24
