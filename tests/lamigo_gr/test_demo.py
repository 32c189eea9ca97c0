"""The end-to-end demo: service process, loopback flowgraph, received image and report."""

from __future__ import annotations

import json

from lamigo_gr.apps.demo import main


# A long caption makes the tiny set's 64x64 GO message large enough on air for the JPEG's
# header block and lowest quality to fit, so the demo's JPEG comparison runs.
LONG_CAPTION = "cup " + " ".join(str(n * 7919 % 10007) for n in range(200))


def test_demo_writes_the_received_image_jpeg_comparison_and_report(tmp_path, capsys):
    from PIL import Image

    out = tmp_path / "demo"
    assert main(["--model-set", "tiny", "--size", "64x64", "--noise-voltage", "0.2", "--caption", LONG_CAPTION,
                 "--out", str(out)]) == 0
    for name in ("original.png", "received.png", "side_by_side.png", "jpeg_sent.jpg", "report.json", "service.log"):
        assert (out / name).is_file(), name
    report = json.loads((out / "report.json").read_text())
    assert report["link"]["packets_received"] == report["link"]["packets_sent"] > 0
    assert report["tokens"] == 16 * 16
    assert report["tokens_regenerated"] == report["tokens_masked_by_policy"] == 64  # PRM 25%, nothing lost
    assert report["message_bytes"] < report["bytes_on_air"] < report["png_bytes"]
    assert report["caption"] == LONG_CAPTION
    jpeg = report["jpeg"]  # the same bytes on air, the same packet slots lost (none, on this link)
    assert jpeg is not None and jpeg["codec"] == "jpeg" and 0 < jpeg["bytes_on_air"] <= report["bytes_on_air"]
    assert jpeg["file_bytes"] == (out / "jpeg_sent.jpg").stat().st_size
    assert jpeg["packets_lost"] == 0 and jpeg["decoded_ok"] and not jpeg["header_lost"]
    assert jpeg["psnr_db_same_link"] == jpeg["psnr_db_perfect_link"] > 15
    with Image.open(out / "jpeg_sent.jpg") as sent:
        assert sent.format == "JPEG" and sent.size == (64, 64)
    with Image.open(out / "side_by_side.png") as panels:  # original | received | JPEG here | JPEG perfect
        assert panels.width == 4 * 64 and panels.height > 64
    printed = capsys.readouterr().out
    assert f"wrote {out}/" in printed and "service.log" in printed and "PSNR" in printed
    assert f"JPEG q{jpeg['setting']} at the same bytes on air" in printed and "JPEG over a perfect link" in printed


def test_demo_of_a_lost_message_is_one_line_and_exit_2(tmp_path, capsys):
    """Noise far beyond the modem's: not enough of the control block arrives (as --help says)."""
    out = tmp_path / "demo"
    assert main(["--model-set", "tiny", "--size", "64x64", "--noise-voltage", "3", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "the message was lost on the link" in err[0] and "lower --noise-voltage" in err[0]
    assert (out / "original.png").is_file() and not (out / "report.json").exists()


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
