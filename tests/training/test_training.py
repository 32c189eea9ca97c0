"""The training package end to end on the tiny preset: crops, checkpoints, resume, export."""

from __future__ import annotations

from pathlib import Path

import pytest
import skimage
import torch

from lamigo.cli.main import main
from lamigo.coding.prior import IndexPrior
from lamigo.errors import ConfigError, WeightsError
from lamigo.models.registry import load_model_set
from lamigo.training.checkpoint import load_checkpoint
from lamigo.training.data import RandomCropDataset, find_images, load_photos
from lamigo.training.denoiser_task import noise_tokens
from lamigo.training.evaluate import evaluate_model_set
from lamigo.training.loop import TrainSettings, learning_rate
from lamigo.training.vqgan_task import kmeans

SKIMAGE_DATA = Path(skimage.__file__).parent / "data"
PHOTOS = [str(SKIMAGE_DATA / name) for name in ("astronaut.png", "rocket.jpg")]
TINY = ["--size", "tiny", "--crop", "32", "--batch-size", "2", "--checkpoint-every", "2", "--device", "cpu"]


def test_held_out_photos_are_never_found():
    found = {path.stem for path in find_images([SKIMAGE_DATA])}
    assert "astronaut" in found
    assert not found & {"coffee", "chelsea"}


def test_non_photographs_are_skipped():
    # text.png is greyscale, logo.png a graphic with few colours.
    paths = [SKIMAGE_DATA / name for name in ("text.png", "logo.png", "astronaut.png")]
    assert [photo.path.name for photo in load_photos(paths, 32)] == ["astronaut.png"]
    with pytest.raises(ConfigError, match="no colour photographs"):
        load_photos(paths[:2], 32)


def test_crops_are_deterministic_per_index():
    dataset = RandomCropDataset(load_photos([Path(p) for p in PHOTOS], 32), crop=32, length=10, seed=3)
    first, again, other = dataset[4], dataset[4], dataset[5]
    assert first.shape == (3, 32, 32) and 0 <= float(first.min()) and float(first.max()) <= 1
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_kmeans_finds_separated_clusters():
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    points = (centres[:, None] + 0.1 * torch.randn(3, 50, 2)).reshape(-1, 2)
    found = kmeans(points, 3)
    assert torch.cdist(found, centres).min(dim=0).values.max() < 0.5


def test_noise_tokens_replaces_the_fraction_asked():
    indices = torch.zeros(2, 16, 16, dtype=torch.long)
    noised, replaced = noise_tokens(indices, torch.tensor([0.0, 1.0]), codebook_size=64)
    assert not replaced[0].any() and replaced[1].all()
    assert torch.equal(noised[0], indices[0])


def test_learning_rate_warms_up_then_decays_to_a_tenth():
    settings = TrainSettings(steps=1000, lr=1e-3, warmup_steps=100)
    assert learning_rate(settings, 0) == pytest.approx(1e-5)
    assert learning_rate(settings, 99) == pytest.approx(1e-3)
    assert learning_rate(settings, 1000) == pytest.approx(1e-4)


def test_train_resume_export_and_load(tmp_path, capsys):
    vqgan_dir, denoiser_dir, model_dir = tmp_path / "vqgan", tmp_path / "denoiser", tmp_path / "set"
    assert main(["train", "vqgan", "--data", *PHOTOS, "--out", str(vqgan_dir), "--steps", "3", *TINY]) == 0
    assert load_checkpoint(vqgan_dir).step == 3

    # A second run without --resume must not overwrite the checkpoint.
    assert main(["train", "vqgan", "--data", *PHOTOS, "--out", str(vqgan_dir), "--steps", "5", *TINY]) == 2
    assert "--resume" in capsys.readouterr().err

    assert main(["train", "vqgan", "--data", *PHOTOS, "--out", str(vqgan_dir), "--steps", "5", "--resume",
                 "--workers", "1", *TINY]) == 0
    resumed = load_checkpoint(vqgan_dir / "last.pt", "vqgan")
    assert resumed.step == 5 and resumed.optimizer["state"]

    with pytest.raises(WeightsError, match="expected a denoiser checkpoint"):
        load_checkpoint(vqgan_dir, "denoiser")

    assert main(["train", "denoiser", "--vqgan", str(vqgan_dir), "--data", *PHOTOS,
                 "--out", str(denoiser_dir), "--steps", "2", *TINY]) == 0
    assert load_checkpoint(denoiser_dir, "denoiser").step == 2

    assert main(["train", "export", "--vqgan", str(vqgan_dir), "--denoiser", str(denoiser_dir),
                 "--out", str(model_dir), "--data", *PHOTOS, "--prior-size", "64x64", "--half"]) == 0
    models = load_model_set(model_dir)
    # Stored as float16, loaded as float32.
    codebook = load_checkpoint(vqgan_dir).model["vquantizer.codebook.weight"]
    assert models.vqgan.vquantizer.codebook.weight.dtype == torch.float32
    assert torch.equal(models.vqgan.vquantizer.codebook.weight, codebook.half().float())
    assert IndexPrior.load(model_dir / "index_prior.safetensors").codebook_size == models.vqgan.codebook_size

    report = evaluate_model_set(models, ["photo:coffee"], size=(64, 64), ratios=[0.5])
    assert report["images"]["photo:coffee"]["psnr_db"] > 0
    assert 0 < report["codebook_usage"] <= 1
    assert set(report["token_accuracy_on_replaced"]) == {"0.5"}


def test_missing_vqgan_checkpoint_is_a_clear_error(tmp_path, capsys):
    assert main(["train", "denoiser", "--vqgan", str(tmp_path / "none"), "--data", *PHOTOS,
                 "--out", str(tmp_path / "d"), "--steps", "1", *TINY]) == 2
    assert "expected" in capsys.readouterr().err


def test_torchrun_trains_data_parallel(tmp_path):
    import os
    import subprocess
    import sys

    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
               "-m", "lamigo.cli.main", "train", "vqgan", "--data", *PHOTOS,
               "--out", str(tmp_path), "--steps", "2", *TINY]
    environment = os.environ | {"OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=240, env=environment)
    assert done.returncode == 0, done.stderr[-2000:]
    checkpoint = load_checkpoint(tmp_path)
    assert checkpoint.step == 2 and checkpoint.settings["world_size"] == 2
