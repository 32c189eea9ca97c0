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


def test_baselines_are_sent_when_the_go_message_is_lost(tmp_path):
    out = tmp_path / "sim"
    assert main(["simulate", "photo:coffee", "--setup", "3", "--per", "1", "--baselines", "jpeg",
                 "-o", str(out), *SMALL, *TINY]) == 1
    result = json.loads((out / "report.json").read_text())["baselines"]["jpeg"]
    assert not result["decoded_ok"] and result["psnr_db"] < 20  # mid-grey, counted as a failure
    assert result.get("header_lost", True)


def test_an_unknown_baseline_is_one_line_and_exit_2(tmp_path, capsys):
    code = main(["simulate", "photo:coffee", "--setup", "1", "--baselines", "jpeg,webp", "-o", str(tmp_path),
                 *SMALL, *TINY])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "webp" in err
