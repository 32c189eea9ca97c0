"""`lamigo train`: train the VQGAN and the token denoiser of a model set on photographs,
evaluate them, and export the pair as a model-set folder (e.g. the shipped default set).

Runs data-parallel under torchrun, e.g.
`torchrun --nproc-per-node 4 -m lamigo.cli.main train vqgan --out ckpt/vqgan`.
"""

from __future__ import annotations

import argparse
import logging

from lamigo.cli.common import add_renamed_option
from lamigo.training.configs import CONFIG_PRESETS, TRAINING_PRESETS
from lamigo.training.data import PHOTO_FOLDERS
from lamigo.training.denoiser_task import MASKINGS
from lamigo.training.vqgan_task import VQGANLosses

logger = logging.getLogger(__name__)


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data", nargs="+", metavar="DIR", default=None,
        help="image folders (searched recursively) or files; default: the sample photos of "
        "scikit-image and scikit-learn and the photographs of Debian packages ("
        + ", ".join(f"{package}: {folder}" for folder, package in PHOTO_FOLDERS.items())
        + ") where installed. skimage's coffee and chelsea are always held out",
    )


def _add_training_options(parser: argparse.ArgumentParser, kind: str, **defaults: object) -> None:
    """The options both training steps share. Those a preset may set default to None here and
    take the preset's value, else `defaults` (see `_apply_preset`)."""
    defaults = dict(size="small", workers=0, checkpoint_every=250, bf16=False, channels_last=False,
                    compile=False) | defaults
    parser.set_defaults(training_kind=kind, base_defaults=defaults)
    _add_data_options(parser)
    parser.add_argument("--out", required=True, metavar="CKPT_DIR",
                        help="checkpoint folder; the run writes CKPT_DIR/last.pt")
    parser.add_argument("--preset", choices=TRAINING_PRESETS, default=None,
                        help="option values for one kind of machine; options given here win: "
                        + "; ".join(f"{name}: {preset.description} ({preset.wall_time}), "
                                    + " ".join(f"{key}={value}" for key, value in getattr(preset, kind).items())
                                    for name, preset in TRAINING_PRESETS.items()))
    add_renamed_option(parser, "--optimizer-steps", "--steps", dest="steps", type=int, default=None, metavar="N",
                       help=f"optimizer steps in all (default: {defaults['steps']}, or the preset's)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help=f"crops per step and per process (default: {defaults['batch_size']}, or the preset's)")
    parser.add_argument("--lr", type=float, default=None,
                        help=f"peak learning rate of AdamW; warm-up then cosine decay (default: {defaults['lr']}, "
                        "or the preset's)")
    parser.add_argument("--crop", type=int, default=None,
                        help=f"side of the square training crops in pixels (default: {defaults['crop']}, or the "
                        "preset's)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from CKPT_DIR/last.pt when it exists (weights, optimizer, step)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the crops and the initial weights (default: %(default)s)")
    parser.add_argument("--device", default=None,
                        help="torch device (default: cuda when available, else cpu; under torchrun "
                        "each process takes GPU LOCAL_RANK)")
    parser.add_argument("--checkpoint-every", type=int, default=None, metavar="STEPS",
                        help="steps between checkpoints (default: 250, or the preset's)")
    parser.add_argument("--time-limit", type=float, default=None, metavar="MINUTES",
                        help="stop after this many minutes of training, with a checkpoint that --resume "
                        "continues (default: none)")
    parser.add_argument("--workers", type=int, default=None,
                        help="DataLoader processes making the crops; 0 makes them in the training "
                        "process, enough on a CPU; use 4 or more per GPU (default: 0, or the preset's)")
    add_renamed_option(parser, "--model-size", "--size", dest="size", default=None, choices=CONFIG_PRESETS,
                       help="model widths of a fresh run: small (the shipped default), large (a stronger "
                       "set for one GPU, K = 8192) or tiny (tests); a resumed run keeps its checkpoint's "
                       "(default: small, or the preset's)")
    parser.add_argument("--bf16", action="store_true", default=None,
                        help="bfloat16 autocast of the forward pass and loss; weights and optimizer stay "
                        "float32, so checkpoints resume either way (default: off, or the preset's)")
    parser.add_argument("--channels-last", action="store_true", default=None,
                        help="channels-last (NHWC) images and convolution weights, faster on GPUs "
                        "(default: off, or the preset's)")
    parser.add_argument("--compile", action="store_true", default=None,
                        help="torch.compile the training forward pass (inductor; minutes of start-up, "
                        "then faster steps on a GPU) (default: off, or the preset's)")


def _add_init_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--init-from", metavar="NAME|DIR", default=None,
                        help=f"start a fresh run from this model set's {what} (its sizes replace "
                        f"--size) instead of random weights")


def _model_set_part(name_or_dir: str, part: str):
    """The VQGAN or the denoiser of a model set, on the CPU."""
    from lamigo.zoo.sets import load_model_set

    return getattr(load_model_set(name_or_dir, captioner=False), part).float().eval()


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train, evaluate and export a model set (VQGAN + token denoiser)",
        description="Train the VQGAN, then the token denoiser on the VQGAN's tokens, on random "
        "crops and flips of photographs; evaluate them on held-out photos; export a model-set "
        "folder that --model-set DIR (or the shipped default) loads.",
    )
    steps = parser.add_subparsers(dest="train_command", required=True, metavar="STEP")

    vqgan = steps.add_parser("vqgan", help="train a VQGAN (f=4), from scratch or from a model set's VQGAN (--init-from)",
                             description="Reconstruction (L1 + MSE), ST-LPIPS perceptual loss and, "
                             "after a warm-up, a PatchGAN hinge loss (taming's VQGAN recipe), plus VQ "
                             "and commitment losses, k-means codebook initialisation and dead-code "
                             "restarts.")
    _add_training_options(vqgan, "vqgan", steps=2000, batch_size=16, lr=1e-3, crop=64,
                          adversarial_start=VQGANLosses.adversarial_start)
    _add_init_option(vqgan, "VQGAN")
    vqgan.add_argument("--freeze-encoder", action="store_true",
                       help="train only the decoder (needs --init-from): the encoder and codebook "
                       "keep their weights, so every image's tokens, and a denoiser trained on "
                       "them, stay valid")
    vqgan.add_argument("--perceptual-weight", type=float, default=VQGANLosses.perceptual,
                       help="weight of the ST-LPIPS (AlexNet) perceptual loss; 0 turns it off "
                       "(default: %(default)s)")
    vqgan.add_argument("--adversarial-weight", type=float, default=VQGANLosses.adversarial,
                       help="weight of the PatchGAN hinge loss, on top of taming's adaptive "
                       "balance against the reconstruction loss; 0 turns it off (default: %(default)s)")
    vqgan.add_argument("--adversarial-start", type=int, default=None, metavar="STEP",
                       help="step at which the discriminator and the adversarial loss start "
                       f"(default: {VQGANLosses.adversarial_start}, or the preset's)")
    vqgan.set_defaults(func=run_vqgan)

    denoiser = steps.add_parser("denoiser", help="train a Paella token denoiser on a trained VQGAN's tokens",
                                description="Noise a random fraction r of the tokens with random "
                                "codewords and learn the originals (cross-entropy). Without captions "
                                "the denoiser learns to ignore them (effectively unconditional).")
    denoiser.add_argument("--vqgan", required=True, metavar="CKPT|NAME|DIR",
                          help="the VQGAN whose tokens it learns: a training checkpoint (file or its "
                          "folder) or a model set's (name or folder)")
    _add_training_options(denoiser, "denoiser", steps=1500, batch_size=16, lr=1e-3, crop=64)
    _add_init_option(denoiser, "denoiser")
    denoiser.add_argument("--masking", choices=MASKINGS, default=MASKINGS[-1],
                          help="paella: Paella's uniform noising of the whole map only; receiver: "
                          "two thirds of the samples noised only inside a receiver-like mask (PRM, "
                          "PDM, EBM and lost packets' tokens) (default: %(default)s)")
    denoiser.set_defaults(func=run_denoiser)

    export = steps.add_parser("export", help="write a model-set folder from two checkpoints",
                              description="Write model_set.json, vqgan.safetensors, "
                              "denoiser.safetensors and index_prior.safetensors (codeword counts "
                              "over the training photos, as selected for training, at --prior-size).")
    export.add_argument("--vqgan", required=True, metavar="CKPT", help="VQGAN training checkpoint")
    export.add_argument("--denoiser", required=True, metavar="CKPT", help="denoiser training checkpoint")
    export.add_argument("--out", required=True, metavar="DIR", help="model-set folder to write")
    _add_data_options(export)
    export.add_argument("--prior-size", default="256x256", metavar="HxW",
                        help="size the photos are fitted to when counting codewords (default: %(default)s)")
    export.add_argument("--half", action="store_true",
                        help="store the weights as float16: half the size; loading casts them "
                        "back to float32")
    export.set_defaults(func=run_export)

    evaluate = steps.add_parser("evaluate", help="measure a model set on held-out photos",
                                description="Reconstruction PSNR and ST-LPIPS of encode->decode beside "
                                "JPEG at the bytes of the GO message carrying every index, codebook "
                                "usage and denoiser token accuracy at several noise ratios; prints JSON.")
    evaluate.add_argument("model_set", metavar="NAME|DIR", help="model set name or folder")
    evaluate.add_argument("--images", nargs="+", default=["photo:coffee", "photo:chelsea"],
                          help="images to measure on (default: %(default)s)")
    evaluate.add_argument("--size", default="256x256", metavar="HxW",
                          help="size the images are fitted to (default: %(default)s)")
    evaluate.add_argument("--ratios", type=float, nargs="+", default=[0.25, 0.5, 0.75, 1.0],
                          help="fractions of tokens replaced for the token accuracy (default: %(default)s)")
    evaluate.add_argument("--save-reconstructions", metavar="DIR", default=None,
                          help="also write each image's reconstruction as PNG here")
    evaluate.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    evaluate.add_argument("--card", action="store_true",
                          help="also add the report to the set's MODEL_CARD.md (a folder exported by "
                          "`lamigo train export`)")
    evaluate.set_defaults(func=run_evaluate)


def _apply_preset(args: argparse.Namespace) -> None:
    """Fill every option left unset from --preset, else from the command's own defaults."""
    preset = getattr(TRAINING_PRESETS[args.preset], args.training_kind) if args.preset else {}
    for key, default in args.base_defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, preset.get(key, default))


def _settings(args: argparse.Namespace):
    from lamigo.training.loop import TrainSettings

    return TrainSettings(steps=args.steps, batch_size=args.batch_size, lr=args.lr, crop=args.crop,
                         seed=args.seed, checkpoint_every=args.checkpoint_every, workers=args.workers,
                         bf16=args.bf16, channels_last=args.channels_last,
                         compile="inductor" if args.compile else None,
                         time_limit=None if args.time_limit is None else 60 * args.time_limit)


def _photos(args: argparse.Namespace, min_side: int):
    from lamigo.training.data import default_data_sources, find_images, load_photos

    sources = args.data or default_data_sources()
    return load_photos(find_images(sources), min_side)


def _run(args: argparse.Namespace, make_task) -> int:
    from lamigo.training.distributed import init_distributed
    from lamigo.training.loop import train

    settings = _settings(args)
    dist = init_distributed(args.device)
    try:
        photos = _photos(args, settings.crop)
        task = make_task(dist)
        result = train(task, photos, settings, args.out, dist, resume=args.resume)
    finally:
        dist.close()
    if dist.is_main:
        print(f"{task.kind}: step {result.step} in {result.seconds:.0f} s on {len(photos)} photos, "
              f"checkpoint {result.checkpoint}; "
              + ", ".join(f"{key} {value:.4g}" for key, value in result.metrics.items()))
    return 0


def _resumed_checkpoint(args: argparse.Namespace, kind: str):
    """--out's checkpoint when resuming one, else None."""
    from pathlib import Path

    from lamigo.training.checkpoint import LAST_CHECKPOINT, load_checkpoint

    path = Path(args.out) / LAST_CHECKPOINT
    return load_checkpoint(path, kind) if args.resume and path.is_file() else None


def run_vqgan(args: argparse.Namespace) -> int:
    from lamigo.models.vqgan import VQGANConfig
    from lamigo.training.configs import vqgan_preset
    from lamigo.training.vqgan_task import VQGANTask

    _apply_preset(args)
    resumed = _resumed_checkpoint(args, "vqgan")
    if resumed:
        config, weights = VQGANConfig(**resumed.config), resumed.model
    elif args.init_from:
        initial = _model_set_part(args.init_from, "vqgan")
        config, weights = initial.config, initial.state_dict()
    else:
        config, weights = vqgan_preset(args.size), None
    losses = VQGANLosses(perceptual=args.perceptual_weight, adversarial=args.adversarial_weight,
                         adversarial_start=args.adversarial_start)
    return _run(args, lambda dist: VQGANTask(config, dist, losses=losses, initial_weights=weights,
                                             freeze_encoder=args.freeze_encoder, seed=args.seed))


def run_denoiser(args: argparse.Namespace) -> int:
    from pathlib import Path

    from lamigo.errors import WeightsError
    from lamigo.zoo.sets import MODEL_SET_FILE
    from lamigo.training.checkpoint import LAST_CHECKPOINT
    from lamigo.training.configs import denoiser_preset
    from lamigo.training.denoiser_task import DenoiserTask
    from lamigo.training.export import denoiser_config_from_dict, vqgan_from_checkpoint

    _apply_preset(args)
    source = Path(args.vqgan).expanduser()
    is_checkpoint = source.is_file() or (source / LAST_CHECKPOINT).is_file()
    if not is_checkpoint and (source.exists() or len(source.parts) > 1) and not (source / MODEL_SET_FILE).is_file():
        raise WeightsError(f"no VQGAN at {source}: expected a training checkpoint "
                           f"({source / LAST_CHECKPOINT}) or a model set ({source / MODEL_SET_FILE})")
    vqgan = vqgan_from_checkpoint(source) if is_checkpoint else _model_set_part(args.vqgan, "vqgan")
    resumed = _resumed_checkpoint(args, "denoiser")
    if resumed:
        config, weights = denoiser_config_from_dict(resumed.config), resumed.model
    elif args.init_from:
        initial = _model_set_part(args.init_from, "denoiser")
        config, weights = initial.config, initial.state_dict()
    else:
        config, weights = denoiser_preset(args.size, vqgan.codebook_size), None
    return _run(args, lambda dist: DenoiserTask(config, vqgan, dist, masking=args.masking,
                                                initial_weights=weights, seed=args.seed))


def run_export(args: argparse.Namespace) -> int:
    from lamigo.images import parse_size
    from lamigo.training.export import export_model_set

    photos = _photos(args, min_side=32)
    summary = export_model_set(args.vqgan, args.denoiser, args.out, photos, parse_size(args.prior_size),
                               half=args.half)
    print(summary)
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    import torch

    from lamigo.cli.common import print_json
    from lamigo.zoo.index_prior import model_set_index_prior
    from lamigo.zoo.sets import load_model_set
    from lamigo.images import parse_size
    from lamigo.training.evaluate import evaluate_model_set

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    models = load_model_set(args.model_set, device=device)
    report = evaluate_model_set(models, args.images, parse_size(args.size), args.ratios,
                                args.save_reconstructions, model_set_index_prior(args.model_set))
    print_json(report)
    if args.card:
        _add_to_card(args.model_set, report)
    return 0


def _add_to_card(folder: str, report: dict) -> None:
    from pathlib import Path

    import json

    from lamigo.errors import ConfigError
    from lamigo.training.export import MODEL_CARD_FILE

    card = Path(folder) / MODEL_CARD_FILE
    if not card.is_file():
        raise ConfigError(f"--card: no {card} (export the set with `lamigo train export` first)")
    with card.open("a") as out:
        out.write(f"## Held-out figures (`lamigo train evaluate`)\n\n```json\n{json.dumps(report, indent=2, default=str)}\n```\n")
