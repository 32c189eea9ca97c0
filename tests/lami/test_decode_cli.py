"""`lamigo decode` options: the plain-sampling ablation and settings users can get wrong."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lamigo.cli.main import main

TINY = ["--model-set", "tiny", "--device", "cpu"]


@pytest.fixture(scope="module")
def message(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("msg") / "coffee.lgo"
    assert main(["encode", "photo:coffee", "-o", str(path), "--size", "32x64", "--policy", "pdm",
                 "--caption", "a cup of coffee", *TINY]) == 0
    return path


def decode(message: Path, out: Path, *options: str) -> int:
    return main(["decode", str(message), "-o", str(out), "--steps", "2", "--renoise", "1", *options,
                 *TINY])


def test_lami_and_plain_sampling_write_different_images(
    message: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert decode(message, tmp_path / "lami.png", "--json") == 0
    lami = json.loads(capsys.readouterr().out)
    assert decode(message, tmp_path / "plain.png", "--json", "--plain") == 0
    plain = json.loads(capsys.readouterr().out)

    assert (lami["plain"], plain["plain"]) == (False, True)
    assert lami["tokens"] == 8 * 16 and lami["tokens_regenerated"] == 8 * 16 // 4  # PDM 2x2
    assert plain["tokens_regenerated"] == plain["tokens"] == 8 * 16
    images = [np.asarray(Image.open(tmp_path / name)) for name in ("lami.png", "plain.png")]
    assert images[0].shape == images[1].shape == (32, 64, 3)
    assert not np.array_equal(images[0], images[1])


@pytest.mark.parametrize(
    ("options", "error"),
    [
        (["--bf16"], "CUDA"),
        (["--renoise", "3"], "re-noising steps tau must lie in [0, T=2]"),
        (["--temperature", "1.0", "0"], "temperatures must be positive"),
    ],
)
def test_bad_settings_are_one_line_errors(
    message: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], error: str
) -> None:
    out = tmp_path / "x.png"
    capsys.readouterr()
    assert decode(message, out, *options) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and error in err
    assert not out.exists()
