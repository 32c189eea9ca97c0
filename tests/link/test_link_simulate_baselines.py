"""`lamigo simulate --baselines`: classical files over the same link as the GO message."""

import json

import pytest
from PIL import Image

from lamigo.classical import BASELINES
from lamigo.cli.main import main

TINY = ["--model-set", "tiny", "--device", "cpu"]
SMALL = ["--size", "64x64", "--caption", "a cup of coffee on a table", "--steps", "4", "--renoise", "2"]
# The tiny set's GO message is smaller on air than any baseline's header block (its untrained
# VQGAN uses a handful of codewords, which the image's own code table sends in a few bytes): the
# default set's 128x128 message lets JPEG 2000 fit.
LARGER = ["--size", "128x128", "--caption", "a cup", "--steps", "2", "--renoise", "1",
          "--model-set", "default", "--device", "cpu"]


@pytest.mark.slow
def test_each_baseline_crosses_the_same_link_beside_the_go_message(tmp_path, capsys):
    out = tmp_path / "sim"
    assert main(["simulate", "photo:coffee", "--setup", "1", "--per", "0.2", "--seed", "3",
                 "--baselines", ",".join(BASELINES), "-o", str(out), *LARGER]) == 0
    report = json.loads((out / "report.json").read_text())
    assert list(report["baselines"]) == list(BASELINES)
    for name, result in report["baselines"].items():
        assert Image.open(out / f"received_{name}.png").size == (128, 128)
        assert {"psnr_db", "ssim", "packets_lost", "decoded_ok"} <= set(result)
        if result["fits"]:  # its bytes on air, every packet whole, within the GO message's
            assert result["bytes_on_air"] <= report["bytes_sent"]
            assert 0 <= result["packets_lost"] <= result["packets_sent"]
    sent = [result for result in report["baselines"].values() if result["fits"]]
    assert sent and any(result["packets_lost"] and result["decoded_ok"] for result in sent)
    assert "received_jpeg.png" in capsys.readouterr().out


# A long caption makes the tiny set's GO message large enough on air for JPEG's header block
# and its lowest setting to fit (about 1.6 kB on air at 64x64).
LONG_CAPTION = "cup " + " ".join(str(n * 7919 % 10007) for n in range(200))
JPEG_FITS = ["--size", "64x64", "--caption", LONG_CAPTION, "--policy", "none", "--steps", "1", "--renoise", "1",
             *TINY]


def test_jpeg_crosses_a_clean_link_beside_the_go_message(tmp_path, capsys):
    out = tmp_path / "sim"
    assert main(["simulate", "photo:coffee", "--setup", "3", "--per", "0", "--baselines", "jpeg",
                 "-o", str(out), *JPEG_FITS]) == 0
    report = json.loads((out / "report.json").read_text())
    result = report["baselines"]["jpeg"]
    assert result["fits"] and result["codec"] == "jpeg" and result["header_lost"] is False
    assert 0 < result["bytes_on_air"] <= report["bytes_sent"] and result["file_bytes"] < result["bytes_on_air"]
    assert result["packets_sent"] > 0 and result["packets_lost"] == 0 and result["decoded_ok"]
    assert result["psnr_db"] > 15  # a real JPEG of the photo, not the mid-grey of a failure
    assert Image.open(out / "received_jpeg.png").size == (64, 64)
    assert f"jpeg: {result['file_bytes']}-byte file" in capsys.readouterr().out


def test_baselines_are_sent_when_the_go_message_is_lost(tmp_path, capsys):
    """Every packet lost: the GO message's control block and the JPEG's header block with it.
    The JPEG was sent all the same; the run exits 1, as documented for a lost control block."""
    out = tmp_path / "sim"
    assert main(["simulate", "photo:coffee", "--setup", "3", "--per", "1", "--baselines", "jpeg",
                 "-o", str(out), *JPEG_FITS]) == 1
    report = json.loads((out / "report.json").read_text())
    assert report["decoded"] is False and report["packets_lost"] == report["packets_sent"] > 0
    result = report["baselines"]["jpeg"]
    assert result["fits"] and result["packets_sent"] > 0 and result["packets_lost"] == result["packets_sent"]
    assert result["header_lost"] is True
    assert not result["decoded_ok"] and result["psnr_db"] < 20  # mid-grey, counted as a failure
    assert Image.open(out / "received_jpeg.png").size == (64, 64)
    assert "the control block was lost" in capsys.readouterr().out


def test_an_unknown_baseline_is_one_line_and_exit_2(tmp_path, capsys):
    code = main(["simulate", "photo:coffee", "--setup", "1", "--baselines", "jpeg,webp", "-o", str(tmp_path),
                 *SMALL, *TINY])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "webp" in err
