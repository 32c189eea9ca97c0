"""A model set folder owns its index prior: `lamigo encode` and the GNU Radio blocks code with
the same table, so a message made by one passes the other's prior-fingerprint check."""

from __future__ import annotations

import numpy as np
import pytest

from lamigo.cli.main import main
from lamigo.coding.prior import IndexPrior
from lamigo.message import peek_control
from lamigo.zoo.sets import load_model_set, save_model_set


@pytest.fixture(scope="module")
def model_set_folder(tmp_path_factory):
    """A folder as `lamigo train export` writes it: the tiny models and a skewed index prior."""
    tiny = load_model_set("tiny")
    folder = save_model_set(tmp_path_factory.mktemp("sets") / "mine", tiny.vqgan, tiny.denoiser)
    counts = np.arange(tiny.vqgan.codebook_size, dtype=np.int64) % 7 * 100
    IndexPrior.from_counts(counts).save(folder / "index_prior.safetensors")
    return folder


def test_encode_with_a_model_set_folder_codes_with_its_prior(model_set_folder, tmp_path):
    expected = IndexPrior.load(model_set_folder / "index_prior.safetensors").fingerprint
    out = tmp_path / "m.go"
    assert main(["encode", "photo:coffee", "-o", str(out), "--size", "64x64", "--coder", "huffman",
                 "--model-set", str(model_set_folder), "--device", "cpu"]) == 0
    assert peek_control(out.read_bytes()).prior_fingerprint == expected


def test_the_blocks_and_encode_agree_on_the_prior(model_set_folder, tmp_path):
    from lamigo.message import unpack_message
    from lamigo_gr import image_source, packetizer

    out = tmp_path / "m.go"
    assert main(["encode", "photo:coffee", "-o", str(out), "--size", "64x64", "--caption", "a cup",
                 "--model-set", str(model_set_folder), "--device", "cpu"]) == 0
    # A message of `lamigo encode` passes the fingerprint check of the Link Packetizer's prior ...
    unpack_message(out.read_bytes(), packetizer(model_set=str(model_set_folder)).prior)
    # ... and one of the Image Source carries the same fingerprint.
    source = image_source(images="photo:coffee", size="64x64", caption="a cup",
                               model_set=str(model_set_folder))
    sent = source.transmitter.pack(source.transmitter.encode(np.zeros((64, 64, 3), np.uint8), "a cup"))
    assert peek_control(sent).prior_fingerprint == peek_control(out.read_bytes()).prior_fingerprint


def test_which_prior_a_named_set_uses(model_set_folder, monkeypatch):
    from lamigo.zoo.sets import model_set_folder as folder_of
    from lamigo.zoo.index_prior import model_set_index_prior
    from lamigo.zoo.sets import DEFAULT_SET_FOLDER

    monkeypatch.delenv("LAMIGO_WEIGHTS", raising=False)
    assert model_set_index_prior("tiny") is None
    assert folder_of("default") == DEFAULT_SET_FOLDER
    assert folder_of("paella-v3", model_set_folder) == model_set_folder
    assert folder_of(None, model_set_folder) == model_set_folder  # a weights folder means paella-v3
    assert model_set_index_prior(str(model_set_folder)).codebook_size == load_model_set("tiny").vqgan.codebook_size
    assert model_set_index_prior("default").fingerprint == 0xE4EC  # MODEL_CARD.md


def test_a_model_set_that_is_not_there_is_refused(tmp_path, monkeypatch, capsys):
    from lamigo.errors import ConfigError
    from lamigo.zoo.index_prior import model_set_index_prior

    monkeypatch.delenv("LAMIGO_WEIGHTS", raising=False)
    with pytest.raises(ConfigError, match="unknown model set"):
        model_set_index_prior(str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="--weights DIR"):
        model_set_index_prior("paella-v3")
    message = tmp_path / "m.go"
    assert main(["encode", "photo:coffee", "-o", str(message), "--size", "64x64", "--model-set", "tiny",
                 "--device", "cpu"]) == 0
    capsys.readouterr()
    assert main(["inspect", str(message), "--model-set", str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0
