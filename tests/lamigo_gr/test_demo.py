"""The end-to-end demo: service process, loopback flowgraph, received image and report."""

from __future__ import annotations

import json

from lamigo_gr.apps.demo import main


def test_demo_writes_the_received_image_and_report(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["--model-set", "tiny", "--size", "64x64", "--noise-voltage", "0.2", "--out", str(out)]) == 0
    for name in ("original.png", "received.png", "side_by_side.png", "report.json", "service.log"):
        assert (out / name).is_file(), name
    report = json.loads((out / "report.json").read_text())
    assert report["link"]["packets_received"] == report["link"]["packets_sent"] > 0
    assert report["tokens"] == 16 * 16
    assert report["tokens_regenerated"] == report["tokens_masked_by_policy"] == 64  # PRM 25%, nothing lost
    assert report["message_bytes"] < report["bytes_on_air"] < report["png_bytes"]
    assert report["caption"] == "a cup of coffee on a saucer on a wooden table"
    printed = capsys.readouterr().out
    assert f"wrote {out}/" in printed and "service.log" in printed and "PSNR" in printed


def test_demo_bad_image_is_one_line(tmp_path, capsys):
    assert main(["--image", "photo:nothing", "--model-set", "tiny", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown bundled photo" in err[0]


def test_demo_of_an_own_image_needs_its_caption(tmp_path, capsys):
    from PIL import Image

    own = tmp_path / "own.png"
    Image.new("RGB", (64, 64)).save(own)
    out = tmp_path / "out"
    assert main(["--image", str(own), "--model-set", "tiny", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--caption TEXT" in err[0]
    assert not out.exists()
