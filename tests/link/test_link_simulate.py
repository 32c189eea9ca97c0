"""`lamigo simulate` on the tiny model set: encode, packetize, channel, reassemble, decode."""

import json
import re

import numpy as np
import pytest
from PIL import Image

from lamigo.cli.main import main

TINY = ["--model-set", "tiny", "--device", "cpu"]
SMALL = ["--size", "64x64", "--caption", "a cup of coffee on a table", "--steps", "4", "--renoise", "2"]


def test_ten_percent_per_decodes_from_the_packets_that_arrived(tmp_path, capsys):
    out = tmp_path / "sim"
    # 28-byte payloads: the tiny set's 192 tokens, coded with their own table, fill two packets
    # (seed 3: this image's realisation at PER 0.1 loses an index packet and keeps the control block)
    code = main(["simulate", "photo:coffee", "--setup", "1", "--per", "0.1", "--seed", "3", "--payload", "28",
                 "-o", str(out), *SMALL, *TINY])
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert report["decoded"] and report["per"] == 0.1
    assert 0 < report["packets_lost"] < report["packets_sent"]
    assert report["bytes_sent"] > report["go_message_bytes"]
    # The lost index packets cost exactly their tokens, which the decoder regenerated.
    assert report["tokens_lost"] > 0 and report["index_packets_lost"] > 0
    assert report["tokens_regenerated"] == report["tokens_masked_by_policy"] + report["tokens_lost"]
    assert report["tokens_corrupted"] == 0  # erasures, never guesses
    assert report["caption_received"] == "a cup of coffee on a table"
    assert report["decode_seconds"] > 0 and "psnr_db" in report
    assert Image.open(out / "received.png").size == (64, 64)
    summary = capsys.readouterr().out
    assert f"lost {report['tokens_lost']}" in summary and "PSNR" in summary


def test_packets_can_be_authenticated(tmp_path):
    key = tmp_path / "link.key"
    assert main(["serve", "--make-link-key", str(key)]) == 0
    plain, signed = tmp_path / "plain", tmp_path / "signed"
    for out, extra in ((plain, []), (signed, ["--link-key", str(key)])):
        assert main(["simulate", "photo:coffee", "--setup", "1", "--per", "0", "-o", str(out), *extra,
                     *SMALL, *TINY]) == 0
    plain_report, signed_report = (json.loads((out / "report.json").read_text()) for out in (plain, signed))
    assert signed_report["decoded"] and signed_report["authenticated"] and not plain_report["authenticated"]
    assert signed_report["bytes_sent"] - plain_report["bytes_sent"] == 8 * plain_report["packets_sent"]
    key.write_text("not hex")
    assert main(["simulate", "photo:coffee", "--setup", "1", "-o", str(plain), "--link-key", str(key),
                 *SMALL, *TINY]) == 2


def test_bit_flips_pass_as_corrupted_tokens(tmp_path):
    out = tmp_path / "sim"
    assert main(["simulate", "photo:coffee", "--setup", "4", "--ber", "0.01", "-o", str(out), "--json",
                 *SMALL, *TINY]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["bits_flipped"] > 0 and report["packets_lost"] == 0
    assert report["tokens_corrupted"] > 0 and report["tokens_lost"] == 0


def test_a_lost_control_block_writes_a_report_and_fails(tmp_path, capsys):
    """Issue 26: a lost message is a mid-grey received.png, measured as lamigo eval counts it
    (it wrote no image before)."""
    out = tmp_path / "sim"
    assert main(["simulate", "photo:coffee", "--setup", "3", "--per", "1", "-o", str(out), *SMALL, *TINY]) == 1
    report = json.loads((out / "report.json").read_text())
    assert not report["decoded"] and report["packets_lost"] == report["packets_sent"]
    received = np.asarray(Image.open(out / "received.png"))
    assert received.shape == (64, 64, 3) and (received == 128).all()
    assert f"mid-grey, {report['psnr_db']:.1f} dB" in capsys.readouterr().out


def test_each_image_meets_its_own_channel_realisation_as_eval_draws_it(tmp_path, capsys):
    """Issue 26: one seed for every image dropped the same packet slots of each; the realisation
    now comes from the seed and the image's name, the one lamigo eval gives the same image."""
    from lamigo.link.channel import realisation_seed

    reports = {}
    for photo in ("coffee", "chelsea"):
        out = tmp_path / photo
        assert main(["simulate", f"photo:{photo}", "--setup", "1", "--per", "0.3", "--payload", "28", "-o",
                     str(out), *SMALL, *TINY]) in (0, 1)
        reports[photo] = json.loads((out / "report.json").read_text())
        assert reports[photo]["channel_seed"] == realisation_seed(0, 1, 0.3, photo)
    assert reports["coffee"]["channel_seed"] != reports["chelsea"]["channel_seed"]
    printed = capsys.readouterr().out
    assert re.search(r"decoded in \d+\.\d s \(", printed) and re.search(r"PSNR \d+\.\d dB", printed)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--setup", "1", "--per", "1.5"], "PER must lie in [0, 1]"),
        (["--setup", "1", "--ber", "0.01"], "--ber does not apply to setup 1"),
        (["--setup", "2", "--steps", "4", "--renoise", "6"], "--renoise"),
    ],
)
def test_bad_option_value_is_one_line_and_exit_2(options, message, tmp_path, capsys):
    assert main(["simulate", "photo:coffee", "-o", str(tmp_path / "sim"), *options, *TINY]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("lamigo simulate: error:") and message in err


def test_unknown_setup_is_a_usage_error(tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["simulate", "photo:coffee", "--setup", "5", "-o", str(tmp_path)])
    assert exit_info.value.code == 2
