"""The `lamigo` command as users call it: help, a round trip on the tiny set, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from lamigo.cli.main import SUBCOMMANDS, main
from lamigo.message import VERSION

TINY = ["--model-set", "tiny", "--device", "cpu"]


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_explains_its_options(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: lamigo {command}")
    assert "-h, --help" in out


def test_installed_command_runs():
    done = subprocess.run([sys.executable, "-m", "lamigo.cli.main", "--version"],
                          capture_output=True, text=True, check=True)
    assert done.stdout.startswith("lamigo ")


@pytest.fixture(scope="module")
def tiny_message(tmp_path_factory):
    path = tmp_path_factory.mktemp("msg") / "coffee.lgo"
    code = main(["encode", "photo:coffee", "-o", str(path), "--size", "64x64", "--policy", "ebm",
                 "--ratio", "0.3", "--caption", "a cup of coffee", *TINY])
    assert code == 0
    return path


def test_encode_inspect_decode_round_trip(tiny_message, tmp_path, capsys):
    capsys.readouterr()
    assert main(["inspect", str(tiny_message), "--json", *TINY]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["caption"] == "a cup of coffee"
    assert info["policy"].startswith("ebm")
    assert info["mask_bytes"] > 0  # EBM sends its mask
    assert info["tokens"] == 16 * 16
    assert info["masked_indices"] == round(0.3 * 256)
    assert info["total_bytes"] == tiny_message.stat().st_size

    out_png = tmp_path / "received.png"
    assert main(["decode", str(tiny_message), "-o", str(out_png), "--steps", "4", "--renoise", "2",
                 "--json", *TINY]) == 0
    record = json.loads(capsys.readouterr().out)
    assert out_png.is_file()
    from PIL import Image

    assert Image.open(out_png).size == (64, 64)
    assert record["steps"] == 4


@pytest.mark.parametrize("options, policy", [
    (["--policy", "prm", "--ratio", "0.35", "--seed", "9", "--coder", "fixed"], "prm(ratio=0.352, seed=9)"),
    (["--policy", "pdm", "--pattern", "2x2", "--coder", "range", "--text-coder", "range"], "pdm(pattern=2x2)"),
    (["--policy", "ebm", "--threshold", "0.5", "--coder", "huffman", "--text-coder", "utf8"], "ebm(ratio="),
    (["--policy", "prm", "--coder", "image-huffman"], "prm(ratio="),
])
def test_inspect_shows_the_parts_of_every_policy_and_coder(options, policy, tmp_path, capsys):
    path = tmp_path / "m.lgo"
    assert main(["encode", "photo:chelsea", "-o", str(path), "--size", "64x64", "--caption", "a cat",
                 *options, *TINY]) == 0
    capsys.readouterr()
    assert main(["inspect", str(path), *TINY]) == 0
    out = capsys.readouterr().out
    assert f"GO message v{VERSION}, {path.stat().st_size} bytes" in out
    assert "image 64x64, latent 16x16" in out and "caption" in out and "'a cat'" in out
    for part in ("header", "mask", "text", "indices", "total", "bits per index", "fixed-length"):
        assert part in out
    assert policy in out
    coder = options[options.index("--coder") + 1]
    assert f"indices ({coder})" in out


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    return err


def test_truncated_message_is_exit_2_with_one_line(tiny_message, tmp_path, capsys):
    broken = tmp_path / "broken.lgo"
    broken.write_bytes(tiny_message.read_bytes()[:-7])
    capsys.readouterr()
    assert main(["inspect", str(broken)]) == 2
    assert "lamigo inspect: error:" in _one_line_error(capsys)
    assert main(["decode", str(broken), "-o", str(tmp_path / "x.png"), *TINY]) == 2
    _one_line_error(capsys)
    assert not (tmp_path / "x.png").exists()


def test_truncated_message_from_the_shell(tiny_message, tmp_path):
    broken = tmp_path / "broken.lgo"
    broken.write_bytes(tiny_message.read_bytes()[:10])
    done = subprocess.run([sys.executable, "-m", "lamigo.cli.main", "inspect", str(broken)],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


@pytest.mark.parametrize("argv", [
    ["encode", "no/such/image.png", "-o", "x.lgo"],
    ["encode", "photo:no-such-photo", "-o", "x.lgo"],
    ["encode", "photo:coffee", "-o", "x.lgo", "--size", "100x64"],
    ["encode", "photo:coffee", "-o", "x.lgo", "--ratio", "1.5"],
    ["encode", "photo:coffee", "-o", "x.lgo", "--caption", "caf\udcff"],  # an undecodable argv byte
    ["inspect", "no/such/message.lgo"],
])
def test_bad_input_is_exit_2_with_one_line(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main([*argv, *(TINY if argv[0] == "encode" else [])]) == 2
    _one_line_error(capsys)
    assert not (tmp_path / "x.lgo").exists()


def test_not_an_image_is_exit_2(tmp_path, capsys):
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"not a png at all")
    assert main(["encode", str(fake), "-o", str(tmp_path / "x.lgo"), *TINY]) == 2
    _one_line_error(capsys)


def test_prior_command_writes_a_prior_the_coders_accept(tmp_path, capsys):
    from lamigo.coding.prior import IndexPrior

    out = tmp_path / "index_prior.safetensors"
    assert main(["prior", "photo:coffee", "photo:chelsea", "-o", str(out), "--size", "64x64", *TINY]) == 0
    prior = IndexPrior.load(out)
    assert prior.counts.sum() == 2 * 16 * 16 + prior.codebook_size  # counts + Laplace smoothing
    assert "fingerprint" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [
    ["encode", "photo:coffee", "-o", "x.lgo", "--policy", "no-such-policy"],
    ["decode"],
    ["no-such-command"],
])
def test_bad_option_is_exit_2_with_one_line(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--help" in err


@pytest.mark.parametrize("argv, command", [
    (["decode", "x.lgo", "-o", "y.png", "--bogus"], "lamigo decode"),
    (["train", "vqgan", "--data", "photos", "--out", "ckpt", "--bogus", "1"], "lamigo train vqgan"),
    (["--bogus", "inspect", "x.lgo"], "lamigo inspect"),
])
def test_an_unknown_argument_points_to_its_subcommands_help(argv, command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"{command}: error: unrecognized arguments: --bogus")
    assert err[0].endswith(f"(see {command} --help)")


def test_encode_any_image_with_the_default_set_and_no_caption(tmp_path, capsys, caplog):
    from PIL import Image

    photo = tmp_path / "frame.jpg"
    Image.effect_noise((80, 70), 60).convert("RGB").save(photo)
    out = tmp_path / "m.go"
    with caplog.at_level("WARNING"):
        assert main(["encode", str(photo), "-o", str(out), "--size", "64x64", "--device", "cpu"]) == 0
    assert "model set default, caption: (none)" in capsys.readouterr().out
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert warnings == ["no caption given and model set default has no captioner: sending the empty caption"]
    assert main(["inspect", str(out)]) == 0
    assert "caption: (none) (huffman coded)" in capsys.readouterr().out
