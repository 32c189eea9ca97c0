"""The SNR sweep through the GNU Radio loopback (`python -m lamigo_gr.apps.loopback`): LaMI-GO and
a classical baseline at the GO message's airtime through the same modem and channel, at two
SNRs; several channel realisations (--seeds); the radio figures in every row and table."""

import csv

import pytest

from lamigo.lami import DecoderSettings
from lamigo.errors import ConfigError
from lamigo_gr.apps.loopback import main
from lamigo_gr.apps.sweep import SweepConfig, equal_airtime_budget, markdown_table, parse_snr_points, run_sweep
from lamigo_gr.blocks.modems import get_modem


@pytest.mark.slow
def test_two_snrs_one_baseline(tmp_path):
    # 96x96 with the default set: the smallest GO message a JPEG 2000 file (its main header sent
    # three times, Reed-Solomon coded) still fits the airtime of; 2 steps keep it fast.
    # 10.46 and 4.44 dB: noise voltages 0.3 and 0.6 on the unit-power GFSK signal.
    config = SweepConfig(images=["photo:coffee"], snr_points={"gfsk": [10.46, 4.44]}, baselines=["jpeg2000"],
                         out=tmp_path / "sweep", size="96x96", model_set="default",
                         decoder=DecoderSettings(steps=2, renoise=1), build_dir=tmp_path / "flowgraphs")
    rows = run_sweep(config)
    with (config.out / "sweep.csv").open(newline="") as file:
        written = list(csv.DictReader(file))
    assert [(row["snr_db"], row["codec"]) for row in written] == [
        ("10.46", "lami-go"), ("10.46", "jpeg2000"), ("4.44", "lami-go"), ("4.44", "jpeg2000")]
    by = {(row["snr_db"], row["codec"]): row for row in rows}
    go_airtime = by[10.46, "lami-go"]["airtime_ms"]
    for codec in ("lami-go", "jpeg2000"):
        quiet, noisy = by[10.46, codec], by[4.44, codec]
        assert quiet["per"] == 0 < noisy["per"]  # PER rises with the noise
        assert 0 < quiet["bytes_on_air"] == noisy["bytes_on_air"]
        assert 0 < quiet["airtime_ms"] <= go_airtime * 1.02  # equal airtime (framing of a shorter last packet aside)
        assert quiet["received"] == noisy["received"] == 1  # decoded despite the lost packets
        assert quiet["psnr"] > max(15, noisy["psnr"]) and quiet["st_lpips"] < 0.6
        assert (noisy["modem"], noisy["channel"], noisy["es_n0_db"], noisy["eb_n0_db"]) == ("gfsk", "awgn", 10.46, 10.46)
    assert by[10.46, "jpeg2000"]["setting"] != "" and by[10.46, "lami-go"]["setting"] == ""
    table = (config.out / "sweep.md").read_text()
    assert table.strip() == markdown_table(rows) and "| gfsk | awgn | 4.4 | 10.5 | 10.5 | jpeg2000 |" in table
    assert "| gfsk | 1 | 1 | 0.250 | +6.02 | +6.02 | 500 |" in table  # the modem's figures at 1 MS/s
    assert (config.out / "sweep.png").stat().st_size > 0
    assert (config.out / "images" / "gfsk" / "awgn" / "snr_10.46" / "jpeg2000" / "photo_coffee.png").is_file()


def test_bad_input_is_one_line_and_status_2(capsys, tmp_path):
    assert main(["--baselines", "gif", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "jpeg2000" in err[0]
    for argv in (["--snr-db", "0.3,loud"], ["--modems", "ofdm-8psk"], ["--channels", "space"],
                 ["--modems", "gfsk,psk-cc", "--snr-db", "gfsk:4,5"], ["--seeds", "0"]):
        assert main([*argv, "--out", str(tmp_path)]) == 2, argv
        assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_snr_points_for_every_modem_or_per_modem():
    assert parse_snr_points("4,5", ["gfsk", "psk-cc"]) == {"gfsk": [4, 5], "psk-cc": [4, 5]}
    assert parse_snr_points("gfsk:4,5;psk-cc:0,1", ["gfsk", "psk-cc"]) == {"gfsk": [4, 5], "psk-cc": [0, 1]}
    assert parse_snr_points("3;psk-cc:0", ["gfsk", "psk-cc"]) == {"gfsk": [3], "psk-cc": [0]}
    with pytest.raises(ConfigError, match="ofdm-bpsk"):
        parse_snr_points("ofdm-bpsk:1", ["gfsk"])


def test_the_baselines_budget_gives_the_go_messages_airtime():
    gfsk = get_modem("gfsk")
    go = [40, 40, 40, 120, 120, 60]  # three control copies, then data
    budget = equal_airtime_budget(gfsk, go)
    full, rest = divmod(budget, 120)
    packets = [120] * full + ([rest] if rest else [])
    assert gfsk.airtime_s(packets, 1.0) <= gfsk.airtime_s(go, 1.0) < gfsk.airtime_s(packets + [1], 1.0)
    assert budget > sum(go)  # fewer, fuller packets: less framing in the same airtime


@pytest.mark.slow
def test_several_seeds_meet_other_channels_and_report_the_spread(tmp_path):
    """--seeds 2: each run again with the next channel seed; the table adds the spreads."""
    config = SweepConfig(images=["photo:coffee"], snr_points={"psk-cc": [1.0]}, baselines=[], out=tmp_path / "sweep",
                         size="64x64", model_set="tiny", decoder=DecoderSettings(steps=1, renoise=1),
                         noise_seed=5, seeds=2, build_dir=tmp_path / "flowgraphs")
    rows = run_sweep(config)
    assert [(row["realisation"], row["noise_seed"], row["modem"]) for row in rows] == [(0, 5, "psk-cc"), (1, 6, "psk-cc")]
    table = (config.out / "sweep.md").read_text()
    assert "| PSNR spread |" in table and "| ST-LPIPS spread |" in table and "| 2/2 |" in table
    assert (config.out / "images" / "psk-cc" / "awgn" / "snr_1" / "lami-go" / "photo_coffee~r1.png").is_file()


def test_the_table_gives_the_spread_over_realisations_only_when_there_are_several():
    def row(realisation, psnr):
        return {"image": "a", "modem": "gfsk", "channel": "awgn", "snr_db": 4.44, "es_n0_db": 10.46,
                "eb_n0_db": 10.46, "realisation": realisation, "codec": "jpeg", "packets_sent": 10,
                "packets_received": 9, "bytes_on_air": 100, "airtime_ms": 5.0, "received": 1, "psnr": psnr,
                "ssim": 0.5, "st_lpips": None}

    one, two = markdown_table([row(0, 20.0)]), markdown_table([row(0, 20.0), row(1, 24.0)])
    assert "spread" not in one and "| gfsk | awgn | 4.4 | 10.5 | 10.5 | jpeg | 0.100 | 100 | 5.0 | 20.00 | - | 1/1 |" in one
    assert "| jpeg | 0.100 | 100 | 5.0 | 22.00 | 2.83 | - | - | 2/2 |" in two  # sd of 20 and 24
