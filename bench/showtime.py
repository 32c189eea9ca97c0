"""Receiver showtime of the LaMI decoder (the paper's Table X): per image, the time of text
encoding, T denoising steps and the VQGAN decode, and images/s, for several batch sizes and
image sizes. The peer, measured in the same run on the same batch, is plain Paella sampling
(the paper's "without LaMI" ablation: every token regenerated from noise).

    .venv/bin/python bench/showtime.py --quick          # tiny set on the CPU, under a minute
    .venv/bin/python bench/showtime.py                  # tiny set, paper settings tau/T = 4/8
    PYTHONPATH=python python bench/showtime.py --model full --device cuda --bf16 --compile

`--model full` builds the full-size Paella v3 denoiser, the f4 VQGAN and ByT5-XL / CLIP ViT-H
text encoders with random weights: time does not depend on the weights, and nothing is loaded
or downloaded. Targets on one H100 (issue 4): 4/8 steps with CFG at 256x512 in at most 100 ms
per image at batch 1, and at least 30 images/s batched; the paper reports 1.29 s on an A100.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from lamigo.errors import LamigoError
from lamigo.lami import DecoderSettings, LaMIDecoder, ShowtimeTimings, add_decoder_options, decoder_settings
from lamigo.models.paella import Denoiser, PaellaConfig
from lamigo.zoo.sets import ModelSet, load_model_set
from lamigo.models.vqgan import VQGAN, VQGANConfig

# Caption T2 of the paper's Fig. 13: a typical COCO caption set (148 bytes).
CAPTION = (
    "A man and woman cut into a big cake . A man and woman standing in front of a cake. "
    "A women who is cutting into a cake with a man standing behind her."
)
# Sizes of google/byt5-xl's encoder and of laion CLIP ViT-H/14's text tower.
BYT5_XL = dict(
    vocab_size=384, d_model=2560, d_kv=64, d_ff=6720, num_layers=36, num_heads=32,
    feed_forward_proj="gated-gelu", is_encoder_decoder=False,
)
CLIP_VIT_H_TEXT = dict(
    vocab_size=49408, hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
    num_attention_heads=16, max_position_embeddings=77, projection_dim=1024, hidden_act="gelu",
)
CLIP_CONTEXT = 77
QUICK_SETTINGS = DecoderSettings(steps=2, renoise=1)


class RandomWeightTextEncoders:
    """ByT5-XL encoder and CLIP ViT-H/14 text model with random weights, built on `device`.

    `encode` does the work of `lamigo.models.conditions.TransformersConditionBuilder.encode`:
    captions go through ByT5 as Paella tokenizes them (bytes + 3, then </s>, padded to the
    longest) and through CLIP at its fixed 77-token context.
    """

    def __init__(self, device: torch.device) -> None:
        from transformers import CLIPTextConfig, CLIPTextModelWithProjection, T5Config
        from transformers import T5EncoderModel

        self.device = device
        with device:
            self.byt5 = T5EncoderModel(T5Config(**BYT5_XL)).eval()
            self.clip = CLIPTextModelWithProjection(CLIPTextConfig(**CLIP_VIT_H_TEXT)).eval()

    def _byt5_ids(self, texts: list[str]) -> torch.Tensor:
        rows = [[byte + 3 for byte in text.encode("utf-8")] + [1] for text in texts]
        ids = torch.zeros(len(rows), max(map(len, rows)), dtype=torch.long)
        for row, tokens in zip(ids, rows):
            row[: len(tokens)] = torch.tensor(tokens)
        return ids.to(self.device)

    def sequence_length(self, caption: str) -> int:
        return len(caption.encode("utf-8")) + 1

    @torch.inference_mode()
    def encode(self, captions: list[str]) -> dict[str, torch.Tensor]:
        states = self.byt5(input_ids=self._byt5_ids(captions)).last_hidden_state
        clip_ids = torch.randint(1, CLIP_VIT_H_TEXT["vocab_size"] - 1, (len(captions), CLIP_CONTEXT))
        clip_ids[:, -1] = CLIP_VIT_H_TEXT["vocab_size"] - 1  # end of text: the pooled token
        embeddings = self.clip(input_ids=clip_ids.to(self.device)).text_embeds
        return {"byt5": states, "clip_text": embeddings}


def full_size_model_set(device: torch.device) -> ModelSet:
    """Paella v3 and its VQGAN and text encoders at full size, random weights."""
    with device:
        vqgan = VQGAN(VQGANConfig.full()).eval()
        denoiser = Denoiser(PaellaConfig.full()).eval()
    return ModelSet("paella-v3 (random weights)", vqgan, denoiser, RandomWeightTextEncoders(device))


@dataclass
class Row:
    size: tuple[int, int]
    batch: int
    timings: ShowtimeTimings
    plain: ShowtimeTimings

    def cells(self) -> list[str]:
        per_image = [
            1000 * seconds / self.batch
            for seconds in (
                self.timings.text_encoding,
                self.timings.denoising,
                self.timings.vqgan_decode,
                self.timings.total,
                self.plain.total,
            )
        ]
        images_per_second = self.batch / self.timings.total
        return [f"{self.size[0]}x{self.size[1]}", str(self.batch)] + [
            f"{ms:.1f}" for ms in per_image
        ] + [f"{images_per_second:.2f}"]


HEADER = ["image", "batch", "text ms/img", "denoise ms/img", "VQGAN ms/img", "total ms/img",
          "plain Paella ms/img", "images/s"]


def median_timings(runs: list[ShowtimeTimings]) -> ShowtimeTimings:
    return ShowtimeTimings(
        text_encoding=statistics.median(run.text_encoding for run in runs),
        denoising=statistics.median(run.denoising for run in runs),
        vqgan_decode=statistics.median(run.vqgan_decode for run in runs),
    )


def measure(
    decoder: LaMIDecoder, size: tuple[int, int], batch: int, mask_ratio: float, warmup: int,
    repeats: int, plain: bool = False,
) -> ShowtimeTimings:
    """Median stage timings of decoding `batch` random messages of image size `size` (with
    `plain`, by plain Paella sampling instead of LaMI)."""
    downscale = decoder.models.vqgan.downscale
    latent = (batch, size[0] // downscale, size[1] // downscale)
    generator = torch.Generator().manual_seed(batch)
    indices = torch.randint(0, decoder.codebook_size, latent, generator=generator)
    mask = torch.rand(latent, generator=generator) < mask_ratio
    captions = [CAPTION] * batch
    runs = []
    for run in range(warmup + repeats):
        result = decoder.decode(indices, mask, captions, seed=run, plain=plain)
        if run >= warmup:
            runs.append(result.timings)
    return median_timings(runs)


def parse_size(text: str) -> tuple[int, int]:
    try:
        height, width = (int(side) for side in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"image size must look like 256x512, got {text!r}")
    return height, width


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"


def print_table(rows: list[Row]) -> None:
    table = [HEADER] + [row.cells() for row in rows]
    widths = [max(len(line[col]) for line in table) for col in range(len(HEADER))]
    for number, line in enumerate(table):
        print("| " + " | ".join(cell.rjust(width) for cell, width in zip(line, widths)) + " |")
        if number == 0:
            print("|" + "|".join("-" * (width + 1) + ":" for width in widths) + "|")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Receiver showtime of the LaMI decoder: text encoding, denoising and VQGAN "
        "decode per image, and images/s.",
    )
    parser.add_argument("--model", choices=("tiny", "full"), default="tiny",
                        help="tiny model set, or the full Paella v3 architecture with random "
                        "weights (default: %(default)s)")
    parser.add_argument("--device", default="cpu", help="torch device (default: %(default)s)")
    parser.add_argument("--sizes", type=parse_size, nargs="+", default=[(256, 256), (256, 512)],
                        metavar="HxW", help="image sizes (default: 256x256 256x512)")
    parser.add_argument("--batches", type=int, nargs="+", default=None, metavar="B",
                        help="batch sizes (default: 1 8 32; with --quick 1 4)")
    parser.add_argument("--mask-ratio", type=float, default=0.25,
                        help="fraction of tokens to regenerate (the paper's p) (default: %(default)s)")
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast (CUDA)")
    parser.add_argument("--compile", action="store_true", help="torch.compile (CUDA)")
    parser.add_argument("--cuda-graphs", action="store_true",
                        help="with --compile: CUDA graphs (mode reduce-overhead)")
    parser.add_argument("--warmup", type=int, default=None,
                        help="untimed runs per row (default: 1 on CPU, 0 with --quick, 3 on CUDA)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed runs per row, median reported (default: 1 on CPU, 10 on CUDA)")
    parser.add_argument("--quick", action="store_true",
                        help="a short run (tau/T = 1/2 unless --steps/--renoise say otherwise, batches "
                        "1 and 4, no warm-up per row) that takes under a minute for the tiny set on a "
                        "small CPU; per-step cost is what it measures, so denoise time scales with T")
    add_decoder_options(parser, seed=False)  # every timed run takes its own seed
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device)
    on_cuda = device.type == "cuda"
    if on_cuda:
        torch.backends.cudnn.benchmark = True
        torch.set_float32_matmul_precision("high")
    if args.compile:
        from torch import _dynamo

        # Every (batch, size) row is one more static-shape graph; the default limit of 8
        # would silently fall back to eager for the later rows.
        _dynamo.config.cache_size_limit = 64
    decoding = decoder_settings(args, QUICK_SETTINGS if args.quick else None)
    batches = args.batches or ([1, 4] if args.quick else [1, 8, 32])
    warmup = args.warmup if args.warmup is not None else (3 if on_cuda else 0 if args.quick else 1)
    repeats = args.repeats if args.repeats is not None else (10 if on_cuda else 1)

    start = time.perf_counter()
    models = full_size_model_set(device) if args.model == "full" else load_model_set("tiny", device)
    build_seconds = time.perf_counter() - start
    decoder = LaMIDecoder(models, decoding, bf16=args.bf16, compile=args.compile, cuda_graphs=args.cuda_graphs)
    # One small decode first, so that no row pays for one-time set-up (kernel selection, ...).
    latent = (1, 32 // models.vqgan.downscale, 32 // models.vqgan.downscale)
    decoder.decode(torch.zeros(latent, dtype=torch.long), torch.ones(latent, dtype=torch.bool), [""])
    settings = [(size, batch) for size in args.sizes for batch in batches]
    rows = []
    for size, batch in tqdm(settings, desc="showtime", unit="row", leave=False):
        timings = measure(decoder, size, batch, args.mask_ratio, warmup, repeats)
        plain = measure(decoder, size, batch, args.mask_ratio, warmup, repeats, plain=True)
        rows.append(Row(size, batch, timings, plain))

    options = [name for name in ("bf16", "compile", "cuda_graphs") if getattr(args, name)]
    print(f"LaMI receiver showtime: {models.name} model set on {device_name(device)} "
          f"(torch {torch.__version__}, models built in {build_seconds:.1f} s)")
    print(f"tau/T = {decoding.renoise}/{decoding.steps}, {decoding.renoise_scope} re-noising, cfg "
          f"{decoding.cfg:g} for {decoding.guided_steps} steps, mask ratio {args.mask_ratio:g}, "
          f"options: {', '.join(options) or 'none'}; median of {repeats} run(s) after {warmup} "
          f"warm-up run(s); peer: plain Paella sampling of the same batch")
    print_table(rows)
    if on_cuda:
        print(f"peak GPU memory {torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except LamigoError as err:
        sys.exit(f"showtime: error: {err}")
