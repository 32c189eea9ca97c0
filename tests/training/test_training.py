"""The training package end to end on the tiny preset: crops, checkpoints, resume, export."""

from __future__ import annotations

from pathlib import Path

import pytest
import skimage
import torch

from lamigo.cli.main import main
from lamigo.coding.prior import IndexPrior
from lamigo.errors import ConfigError, WeightsError
from lamigo.zoo.sets import load_model_set
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
    card = (model_dir / "MODEL_CARD.md").read_text()
    assert "## vqgan:" in card and "trained 5 of 5 steps" in card and "float16" in card
    assert main(["train", "evaluate", str(model_dir), "--images", "photo:coffee", "--size", "64x64",
                 "--ratios", "0.5", "--device", "cpu", "--card"]) == 0
    assert '"photo:coffee"' in (model_dir / "MODEL_CARD.md").read_text().split("Held-out figures")[1]

    report = evaluate_model_set(models, ["photo:coffee"], size=(64, 64), ratios=[0.5])
    coffee = report["images"]["photo:coffee"]
    assert coffee["psnr_db"] > 0 and coffee["st_lpips"] > 0
    # JPEG gets at most the bytes of the message that carries every index.
    assert coffee["full_index_map_bytes"] > 0
    assert coffee["jpeg_at_those_bytes"]["bytes"] is None or coffee["jpeg_at_those_bytes"]["bytes"] <= coffee["full_index_map_bytes"]
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


def _tiny_vqgan_weights() -> dict[str, torch.Tensor]:
    from lamigo.models.vqgan import VQGAN
    from lamigo.training.configs import vqgan_preset

    torch.manual_seed(1)
    return VQGAN(vqgan_preset("tiny")).state_dict()


def test_decoder_fine_tune_keeps_every_token_and_trains_the_decoder():
    from lamigo.training.distributed import Distributed
    from lamigo.training.vqgan_task import VQGANLosses, VQGANTask
    from lamigo.training.configs import vqgan_preset

    weights = _tiny_vqgan_weights()
    task = VQGANTask(vqgan_preset("tiny"), Distributed(0, 1, torch.device("cpu")),
                     losses=VQGANLosses(perceptual=1.0, adversarial=0.8, adversarial_start=1),
                     initial_weights=weights, freeze_encoder=True)
    images = torch.rand(2, 3, 32, 32)
    before, _ = task.model.eval().encode(images)
    decoder_before = task.model.out_block[0].weight.clone()
    discriminator_before = [p.clone() for p in task.discriminator.parameters()]
    optimizer = torch.optim.AdamW([p for p in task.model.parameters() if p.requires_grad], lr=1e-2)
    task.model.train()
    for step in (1, 2):
        loss, metrics = task.loss(task.model, images)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        metrics |= task.after_step(step, optimizer)
    # The adversarial loss and the discriminator's own step ran from step 1 on.
    assert {"st_lpips", "g_adv", "adv_weight", "d_loss"} <= set(metrics)
    assert not torch.equal(task.model.out_block[0].weight, decoder_before)
    assert any(not torch.equal(a, b) for a, b in zip(task.discriminator.parameters(), discriminator_before))
    # Encoder, batch-norm statistics and codebook are untouched: every token is what it was.
    after, _ = task.model.eval().encode(images)
    assert torch.equal(before, after)
    for key in ("vquantizer.codebook.weight", "down_blocks.3.1.running_mean"):
        if key in weights:
            assert torch.equal(task.model.state_dict()[key], weights[key])


def test_freezing_the_encoder_needs_weights():
    from lamigo.training.configs import vqgan_preset
    from lamigo.training.distributed import Distributed
    from lamigo.training.vqgan_task import VQGANLosses, VQGANTask

    with pytest.raises(ConfigError, match="--init-from"):
        VQGANTask(vqgan_preset("tiny"), Distributed(0, 1, torch.device("cpu")),
                  losses=VQGANLosses(perceptual=0, adversarial=0), freeze_encoder=True)


def test_adversarial_run_resumes_with_its_discriminator(tmp_path):
    out = tmp_path / "vqgan"
    gan = ["--adversarial-start", "1", "--perceptual-weight", "0"]
    assert main(["train", "vqgan", "--data", *PHOTOS, "--out", str(out), "--steps", "2", *gan, *TINY]) == 0
    state = load_checkpoint(out).task_state
    assert set(state) == {"discriminator", "discriminator_optimizer"}
    assert main(["train", "vqgan", "--data", *PHOTOS, "--out", str(out), "--steps", "4", "--resume", *gan, *TINY]) == 0
    resumed = load_checkpoint(out).task_state
    assert not torch.equal(resumed["discriminator"]["net.0.weight"], state["discriminator"]["net.0.weight"])


def test_receiver_masks_look_like_what_a_receiver_faces():
    import numpy as np

    from lamigo.masking.policies import PDM_PATTERNS, tile_pattern
    from lamigo.training.denoiser_task import receiver_mask

    rng = np.random.default_rng(0)
    distances = rng.random((64, 64))
    masks = [receiver_mask(distances, rng) for _ in range(200)]
    ratios = np.array([mask.mean() for mask in masks])
    assert all(mask.shape == (64, 64) and mask.dtype == bool for mask in masks)
    # The sparsest is the 4x4 PDM pattern (1/16).
    assert ratios.min() >= 1 / 16 and ratios.max() <= 1.0 and ratios.std() > 0.1
    # PDM tiles (in some shift) appear as they are, with nothing else lost.
    tiles = {tile_pattern(np.roll(p, (a, b), axis=(0, 1)), (64, 64)).tobytes()
             for p in PDM_PATTERNS.values() for a in range(p.shape[0]) for b in range(p.shape[1])}
    assert any(mask.tobytes() in tiles for mask in masks)
    # Masks with lost packets are more than their policy's ratio allows.
    assert (ratios > 0.8).any()


def test_receiver_masking_noises_only_inside_the_mask_and_trains():
    from lamigo.models.vqgan import VQGAN
    from lamigo.training.configs import denoiser_preset, vqgan_preset
    from lamigo.training.denoiser_task import DenoiserTask
    from lamigo.training.distributed import Distributed

    vqgan = VQGAN(vqgan_preset("tiny"))
    task = DenoiserTask(denoiser_preset("tiny", vqgan.codebook_size), vqgan, Distributed(0, 1, torch.device("cpu")))
    loss, metrics = task.loss(task.model, torch.rand(3, 3, 64, 64))
    loss.backward()
    assert torch.isfinite(loss) and 0 <= metrics["acc_replaced"] <= 1
    with pytest.raises(ConfigError, match="unknown masking"):
        DenoiserTask(denoiser_preset("tiny", vqgan.codebook_size), vqgan, Distributed(0, 1, torch.device("cpu")),
                     masking="everything")


def test_denoiser_trains_on_a_model_sets_vqgan_from_its_weights(tmp_path):
    out = tmp_path / "denoiser"
    assert main(["train", "denoiser", "--vqgan", "tiny", "--init-from", "tiny", "--data", *PHOTOS,
                 "--out", str(out), "--steps", "1", *TINY]) == 0
    tiny = load_model_set("tiny", captioner=False)
    assert load_checkpoint(out).config["codebook_size"] == tiny.denoiser.codebook_size


def test_gpu_options_run_a_few_steps_and_resume_without_them(tmp_path):
    """bf16 autocast (the CPU's), channels-last, a worker process and torch.compile (its eager
    backend: dynamo traces the model, no C++ compiler needed) train; the checkpoint holds float32
    weights and resumes with every option off, as on another machine."""
    from lamigo.training.data import load_photos
    from lamigo.training.distributed import init_distributed
    from lamigo.training.loop import train
    from lamigo.training.vqgan_task import VQGANLosses, VQGANTask

    photos = load_photos([Path(p) for p in PHOTOS], 32)
    dist = init_distributed("cpu")
    fast = TrainSettings(steps=2, batch_size=2, crop=32, checkpoint_every=1, workers=1, bf16=True,
                         channels_last=True, compile="eager")
    losses = VQGANLosses(perceptual=0, adversarial_start=1)  # the discriminator's step too
    from lamigo.training.configs import vqgan_preset

    result = train(VQGANTask(vqgan_preset("tiny"), dist, losses=losses), photos, fast, tmp_path, dist)
    checkpoint = load_checkpoint(result.checkpoint)
    assert checkpoint.step == 2 and checkpoint.settings["bf16"] and checkpoint.settings["compile"] == "eager"
    assert all(value.dtype == torch.float32 for key, value in checkpoint.model.items() if value.is_floating_point())
    assert "out_block.0.weight" in checkpoint.model  # plain names, no compile or DDP prefix
    assert result.metrics["loss"] > 0 and "d_loss" in result.metrics  # the discriminator stepped on float32

    plain = TrainSettings(steps=3, batch_size=2, crop=32, checkpoint_every=1)
    again = train(VQGANTask(vqgan_preset("tiny"), dist, losses=losses), photos, plain, tmp_path, dist, resume=True)
    assert again.step == 3


def test_a_time_limit_stops_a_run_with_a_checkpoint_that_resumes(tmp_path):
    out = tmp_path / "vqgan"
    assert main(["train", "vqgan", "--data", *PHOTOS, "--out", str(out), "--steps", "50", "--time-limit", "1e-6",
                 "--perceptual-weight", "0", *TINY]) == 0
    assert load_checkpoint(out).step == 1
    assert main(["train", "vqgan", "--data", *PHOTOS, "--out", str(out), "--steps", "3", "--resume",
                 "--perceptual-weight", "0", *TINY]) == 0
    assert load_checkpoint(out).step == 3


def test_a_preset_fills_the_options_left_unset(tmp_path):
    vqgan, denoiser = tmp_path / "vqgan", tmp_path / "denoiser"
    common = ["--data", *PHOTOS, "--device", "cpu", "--preset", "cpu-test"]
    assert main(["train", "vqgan", "--out", str(vqgan), "--steps", "3", "--perceptual-weight", "0", *common]) == 0
    settings = load_checkpoint(vqgan).settings
    assert (settings["steps"], settings["batch_size"], settings["crop"], settings["channels_last"]) == (3, 2, 32, True)
    assert main(["train", "denoiser", "--vqgan", str(vqgan), "--out", str(denoiser), *common]) == 0
    assert load_checkpoint(denoiser).step == 2


def test_the_gpu_preset_is_valid_and_its_set_fits_a_returned_file():
    """The h200 preset's large set: K = 8192 as the paper's, wider and larger than the shipped
    small set, crops the models take, each model under 16 MiB as float16."""
    from lamigo.cli.main import build_parser
    from lamigo.models.paella import Denoiser
    from lamigo.models.vqgan import VQGAN
    from lamigo.training.configs import TRAINING_PRESETS, denoiser_preset, vqgan_preset
    from lamigo.training.loop import TrainSettings

    preset = TRAINING_PRESETS["h200"]
    for kind, options in (("vqgan", preset.vqgan), ("denoiser", preset.denoiser)):
        args = build_parser().parse_args(["train", kind, "--out", "x", "--preset", "h200"]
                                         + (["--vqgan", "y"] if kind == "denoiser" else []))
        from lamigo.cli.train import _apply_preset

        _apply_preset(args)
        assert {key: getattr(args, key) for key in options} == options
        TrainSettings(steps=args.steps, batch_size=args.batch_size, lr=args.lr, crop=args.crop, workers=args.workers,
                      bf16=args.bf16, channels_last=args.channels_last, compile="inductor")
    large, small = vqgan_preset(preset.vqgan["size"]), vqgan_preset("small")
    assert large.codebook_size == 8192 and large.hidden_channels > small.hidden_channels
    with torch.device("meta"):
        vqgan, denoiser = VQGAN(large), Denoiser(denoiser_preset(preset.denoiser["size"], large.codebook_size))
        shipped = Denoiser(denoiser_preset("small", small.codebook_size))
    count = lambda model: sum(p.numel() for p in model.parameters())  # noqa: E731
    assert count(denoiser) > 2 * count(shipped)
    for model in (vqgan, denoiser):
        assert 2 * count(model) < 16 * 2**20
    assert preset.vqgan["crop"] % vqgan.downscale == 0
    assert preset.denoiser["crop"] % (vqgan.downscale * denoiser.config.size_multiple) == 0
