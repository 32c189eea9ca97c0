"""Everything a GPU must show, in one call that stops itself (issue 28): correctness first, then
speed, each section in its own process under a budget, inside one global deadline.

Sections, in this order (budgets in seconds, for the default --deadline 450):
- environment (15): versions, the device, and its two ceilings measured (bf16 matrix product,
  device-to-device copy); the core library alone (no GNU Radio is imported).
- parity (40): the Paella parity fixtures (tests/models/test_paella_parity.py) on the device, TF32
  off, to their own tolerances.
- tokens (80): the LaMI sampler's tokens on the device against the CPU's in float32 on the same
  seed (`portable_random`: both draw from CPU generators), for the tiny and the default set, and
  the same for bf16, compiled and CUDA-graphed runs, to the tolerances in TOLERANCES.
- batching (30): a service batch gives each message what it gives alone (the decoder's tokens
  batched and alone; the service's published pixels against the direct batch's).
- service (30): the decoder service's messages per second with the default set, against direct
  decoding in the same run (bench/bench_service.py).
- speed-eager, speed-compiled, speed-graphs (75, 90, 90): bench/showtime.py's stages at the paper's
  256x512 with a full-size Paella v3 denoiser, VQGAN and text encoders of random weights (the
  shapes of the public checkpoints), tau/T 4/8 and 28/32, with and without guidance, batch 1 and
  the best batch (the eager sweep's), eager (float32 with TF32, and bf16) / compiled (bf16) / CUDA
  graphs (bf16); and the VQGAN's encode and decode. TARGETS are printed beside the figures.

A section that overruns is killed, marked "timed out", and the next one starts; rows finished
before are kept. Under --out DIR (default: $OUT, else out/device-check) the run writes
tables.md (every table), results.json (every row, each section's status) and device_check.log
(what every section printed), rewritten after each section: three files, as the device machine
returns at most eight.

Before any device time, on the CPU (the tiny set, under a minute; tests/test_device_check.py):

    PYTHONPATH=python python bench/device_check.py --dry-run --out out/device-check

A session that is lent a device machine, from the repository root of the checkout it sends:

    bash bench/device_prepare.sh      # here, once: the wheels the device lacks and the parity
                                      # fixtures, into .device/ (ignored by git, 3 MB + 2 MB)
    run(command="bash bench/device_check.sh", carry=[".device"], timeout_s=540)

bench/device_check.sh (with bench/device_env.sh) installs the wheels, points the parity suite at
the fixtures and runs this script under $OUT with the device's own python3 and torch; the reply's
output ends with the tables. Rerun part of it with e.g.
`bash bench/device_check.sh --sections tokens,speed-graphs`. Training the large set there is its
own call: bench/device_train.sh.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))  # showtime.py and bench_service.py, reused

# Pass/fail rules. Agreement is the fraction of regenerated (masked) tokens equal to the
# reference's; received tokens are equal by construction (eq. 12) and are not counted.
TOLERANCES = {
    # Float32 on the device against float32 on the CPU, and batched against alone: the logits
    # differ by rounding only, and the same noise is drawn, so a token can change only where two
    # codewords nearly tie in the exponential race (torch.multinomial's rule).
    "fp32": 0.999,
    # Compiled float32 (inductor fuses and reorders reductions): rounding only, as above.
    "compiled": 0.999,
    # bfloat16 autocast: logits off by about 1e-2 relative, the same noise; the CPU's bf16 autocast
    # agreed on 0.89 of 3276 regenerated tokens with the default set (4/8, cfg 8, 256x256, two
    # messages) and on all of them with the tiny set.
    "bf16": 0.75,
}
TARGETS = {
    "batch 1": "<= 100 ms per 256x512 image at 4/8 with guidance (paper: 1290 ms on an A100)",
    "batched": ">= 30 images/s at 4/8 with guidance",
}
TARGET_MS = 100.0
TARGET_IMAGES_PER_SECOND = 30.0
LOG = "device_check.log"
TABLES = "tables.md"
RESULTS = "results.json"


@dataclass(frozen=True)
class Section:
    budget: float  # seconds, at the default deadline
    cuda_only: bool = False  # nothing to run without a GPU (the dry run reports it skipped)


SECTIONS = {
    "environment": Section(15),
    "parity": Section(40),
    "tokens": Section(80),
    "batching": Section(30),
    "service": Section(30),
    "speed-eager": Section(75),
    "speed-compiled": Section(90, cuda_only=True),
    "speed-graphs": Section(90, cuda_only=True),
}
DEFAULT_DEADLINE = 450.0
# The dry run's: a small shared CPU is slower at the tiny set than a GPU host at the full one, and
# the budgets only cap a run (the dry run takes under a minute on an idle 2-core machine).
DRY_RUN_DEADLINE = 900.0
COMPILE_RESERVE = 35.0  # seconds a section must have left to start compiling a model
KILL_GRACE = 5.0  # seconds the parent keeps for itself after the last section


# --- what a section process shares ---------------------------------------------------------------

@dataclass
class Context:
    """What a section runs with: the device, the dry-run flag, the time it must end by and
    where its rows go (one JSON object a line, flushed, so a killed section keeps its rows)."""

    device: str
    dry_run: bool
    until: float
    rows_path: Path
    best_batch: int | None = None

    def emit(self, table: str, **row: object) -> None:
        with self.rows_path.open("a") as rows:
            rows.write(json.dumps({"table": table, "row": row}) + "\n")

    def note(self, text: str) -> None:
        print(text, flush=True)
        with self.rows_path.open("a") as rows:
            rows.write(json.dumps({"note": text}) + "\n")

    def left(self) -> float:
        return self.until - time.time()

    @property
    def cuda(self) -> bool:
        return self.device.startswith("cuda")


def synchronize(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def median_seconds(work: Callable[[], object], device: str, warmup: int, repeats: int) -> float:
    for _ in range(warmup):
        work()
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        work()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@contextlib.contextmanager
def float32_exact() -> Iterator[None]:
    """Float32 stays float32 on the GPU (no TF32), as on the CPU."""
    import torch

    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def status(ok: bool) -> str:
    return "pass" if ok else "FAIL"


# --- environment ---------------------------------------------------------------------------------

def run_environment(ctx: Context) -> None:
    import numpy
    import torch
    import transformers

    items = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "CUDA (torch)": torch.version.cuda or "-",
        "numpy": numpy.__version__,
        "transformers": transformers.__version__,
        "CPU cores": str(os.cpu_count()),
        "device": showtime_module().device_name(torch.device(ctx.device)),
    }
    if ctx.cuda:
        properties = torch.cuda.get_device_properties(0)
        items["GPU memory"] = f"{properties.total_memory / 2**30:.0f} GiB, {properties.multi_processor_count} SMs"
    import lamigo.lami  # noqa: F401 - the core library, as every later section imports it
    import lamigo.service.server  # noqa: F401

    items["GNU Radio imported"] = "yes" if any(name.split(".")[0] in ("gnuradio", "lamigo_gr")
                                                  for name in sys.modules) else "no"
    for item, value in items.items():
        ctx.emit("environment", item=item, value=value)

    side = 8192 if ctx.cuda else 512
    dtype = torch.bfloat16 if ctx.cuda else torch.float32
    a = torch.randn(side, side, device=ctx.device, dtype=dtype)
    b = torch.randn(side, side, device=ctx.device, dtype=dtype)
    seconds = median_seconds(lambda: a @ b, ctx.device, warmup=3, repeats=10)
    ctx.emit("ceilings", measure=f"{str(dtype).removeprefix('torch.')} matrix product {side}^3",
             value=f"{2 * side**3 / seconds / 1e12:.3g} TFLOP/s")
    count = (1 << 30 if ctx.cuda else 1 << 24) // 4
    source = torch.randn(count, device=ctx.device)
    target = torch.empty_like(source)
    seconds = median_seconds(lambda: target.copy_(source), ctx.device, warmup=3, repeats=10)
    ctx.emit("ceilings", measure=f"copy of {count * 4 / 2**20:.0f} MiB (read + write)",
             value=f"{2 * count * 4 / seconds / 1e9:.0f} GB/s")


def showtime_module():
    import showtime

    return showtime


# --- parity --------------------------------------------------------------------------------------

def run_parity(ctx: Context) -> None:
    test = REPO / "tests" / "models" / "test_paella_parity.py"
    env = dict(os.environ, LAMIGO_TEST_DEVICE=ctx.device)
    row = dict(device=ctx.device, tests=str(test.relative_to(REPO)))
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfs", str(test)],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=max(5.0, ctx.left() - 2),
        )
    except subprocess.TimeoutExpired as err:
        print(err.stdout or "", flush=True)
        ctx.emit("parity", **row, status="FAIL: the tests outran the budget")
        return
    print(completed.stdout[-6000:], completed.stderr[-2000:], sep="\n", flush=True)
    last = (completed.stdout.strip().splitlines() or [""])[-1]
    counts = {kind: int(number) for number, kind in re.findall(r"(\d+) (passed|failed|skipped|errors?)", last)}
    passed, failed = counts.get("passed", 0), counts.get("failed", 0) + counts.get("error", 0) + counts.get("errors", 0)
    skipped = counts.get("skipped", 0)
    if completed.returncode == 0 and passed:
        verdict = "pass"
    elif completed.returncode == 0 and skipped and ctx.dry_run:
        verdict = "skipped: fixtures not found (LAMIGO_PARITY_DIR)"
    else:
        verdict = "FAIL"
    ctx.emit("parity", **row, passed=passed, failed=failed, skipped=skipped, status=verdict)


# --- tokens --------------------------------------------------------------------------------------

def test_messages(models, size: tuple[int, int], count: int, ratio: float = 0.4):
    """`count` GO messages of the bundled photos at `size`, PRM-masked, captions of several
    lengths (so conditions of several shapes share a batch)."""
    from lamigo.images import load_image
    from lamigo.lami.transmitter import Transmitter
    from lamigo.masking import make_policy
    from lamigo.message import ReceivedMessage

    photos = [load_image("photo:coffee"), load_image("photo:chelsea")]
    captions = ["a cup of coffee on a saucer", "a cat", "", "a ginger cat lying on a blanket, looking left"]
    messages = []
    for number in range(count):
        transmitter = Transmitter(models, make_policy("prm", ratio=ratio, seed=number), size=size)
        message = transmitter.encode(photos[number % 2], caption=captions[number % len(captions)])
        messages.append(ReceivedMessage.whole(message, number + 1))
    return messages


def agreement(tokens, reference, messages) -> tuple[float, bool, int]:
    """(fraction of regenerated tokens equal, all tokens equal, regenerated tokens)."""
    import numpy as np

    mask = np.stack([m.regenerate for m in messages])
    ours, theirs = tokens.cpu().numpy(), reference.cpu().numpy()
    masked = int(mask.sum())
    equal = float((ours[mask] == theirs[mask]).mean()) if masked else 1.0
    return equal, bool((ours == theirs).all()), masked


# (name, LaMIDecoder options, tolerance) of each run compared with the CPU, most wanted first.
TOKEN_VARIANTS = [
    ("fp32", {}, "fp32"),
    ("bf16", {"bf16": True}, "bf16"),
    ("compiled fp32", {"compile": True}, "compiled"),
    ("CUDA graphs fp32", {"compile": True, "cuda_graphs": True}, "compiled"),
    ("CUDA graphs bf16", {"bf16": True, "compile": True, "cuda_graphs": True}, "bf16"),
]


def run_tokens(ctx: Context) -> None:
    import torch

    from lamigo.lami import DecoderSettings, LaMIDecoder
    from lamigo.zoo.sets import load_model_set

    settings = DecoderSettings()  # the paper's 4/8 with guidance 8
    sets = {"tiny": (64, 128)} if ctx.dry_run else {"tiny": (128, 256), "default": (256, 512)}
    for name, size in sets.items():
        cpu_models = load_model_set(name, captioner=False)
        messages = test_messages(cpu_models, size, count=2)
        reference = LaMIDecoder(cpu_models, settings).decode_messages(messages).indices
        models = load_model_set(name, device=ctx.device, captioner=False)
        for variant, options, tolerance in TOKEN_VARIANTS:
            row = dict(set=name, image=f"{size[0]}x{size[1]}", variant=variant)
            uses_cuda = options.get("bf16") or options.get("compile")
            if uses_cuda and not ctx.cuda:
                ctx.emit("tokens", **row, status="skipped: CUDA only")
                continue
            if options.get("compile"):
                if name == "tiny":
                    continue  # compiling costs the budget; the default set shows it
                if ctx.left() < COMPILE_RESERVE:
                    ctx.emit("tokens", **row, status="skipped: budget")
                    continue
                torch._dynamo.reset()
            started = time.perf_counter()
            with float32_exact():
                decoder = LaMIDecoder(models, settings, portable_random=True, **options)
                tokens = decoder.decode_messages(messages).indices
                if options.get("cuda_graphs"):  # a replay, not only the recording
                    tokens = decoder.decode_messages(messages).indices
            equal, identical, masked = agreement(tokens, reference, messages)
            ctx.emit("tokens", **row, regenerated=masked, agreement=f"{equal:.4f}",
                     identical="yes" if identical else "no", tolerance=f">= {TOLERANCES[tolerance]}",
                     seconds=f"{time.perf_counter() - started:.1f}", status=status(equal >= TOLERANCES[tolerance]))


# --- batching ------------------------------------------------------------------------------------

def run_batching(ctx: Context) -> None:
    import bench_service
    import numpy as np

    from lamigo.images import to_uint8
    from lamigo.lami import DecoderSettings, LaMIDecoder
    from lamigo.zoo.index_prior import model_set_index_prior
    from lamigo.zoo.sets import load_model_set
    from lamigo.service import ServiceConfig, connect_sender, message_frames, png_to_image, receive_result, send_message

    name, size = ("tiny", (64, 64)) if ctx.dry_run else ("default", (256, 512))
    models = load_model_set(name, device=ctx.device, captioner=False)
    prior = model_set_index_prior(name)
    messages = test_messages(models, size, count=4)
    decoder = LaMIDecoder(models, DecoderSettings())  # as `lamigo serve` makes it
    batched = decoder.decode_messages(messages, seed=0)
    for number, message in enumerate(messages):
        alone = decoder.decode_messages([message], seed=0)
        equal, identical, masked = agreement(batched.indices[number:number + 1], alone.indices, [message])
        ctx.emit("batch against alone", set=name, message=message.message_id, caption=repr(message.message.caption),
                 regenerated=masked, agreement=f"{equal:.4f}", identical="yes" if identical else "no",
                 tolerance=f">= {TOLERANCES['fp32']}", status=status(equal >= TOLERANCES["fp32"]))

    expected = to_uint8(batched.images)
    with tempfile.TemporaryDirectory() as folder:
        config = ServiceConfig(listen=f"ipc://{folder}/messages", publish=f"ipc://{folder}/results",
                               batch_size=len(messages), batch_wait=5.0, queue_size=16,
                               max_messages=len(messages))
        with bench_service.running_service(decoder, config, prior, name) as (context, results):
            sender = connect_sender(context, config.listen)
            for message in messages:
                send_message(sender, message_frames(message, prior), timeout=10)
            published = {}
            for _ in messages:
                record, png = receive_result(results, timeout=max(5.0, ctx.left() - 2))
                published[record["message_id"]] = (record, png_to_image(png))
    for number, message in enumerate(messages):
        record, pixels = published[message.message_id]
        same = bool(np.array_equal(pixels, expected[number]))
        ctx.emit("service batch against direct batch", set=name, message=message.message_id,
                 batch_size=record["batch_size"], pixels_identical="yes" if same else "no",
                 status=status(same and record["batch_size"] == len(messages)))


# --- service rate --------------------------------------------------------------------------------

def run_service(ctx: Context) -> None:
    import bench_service

    from lamigo.lami import DecoderSettings, LaMIDecoder
    from lamigo.zoo.index_prior import model_set_index_prior
    from lamigo.zoo.sets import load_model_set
    from lamigo.service import message_frames

    name, size, count, batches = (("tiny", (64, 64), 4, [1, 4]) if ctx.dry_run
                                  else ("default", (256, 512), 64, [1, 8, 32]))
    models = load_model_set(name, device=ctx.device, captioner=False)
    prior = model_set_index_prior(name)
    (message,) = test_messages(models, size, count=1, ratio=0.3)
    frames = message_frames(message, prior)
    decoder = LaMIDecoder(models, DecoderSettings())
    settings = decoder.settings
    with tempfile.TemporaryDirectory() as folder:
        for batch in batches:
            bench_service.in_thread(lambda: bench_service.direct_rate(decoder, message, batch, batch))  # warm-up
            direct = bench_service.in_thread(lambda: bench_service.direct_rate(decoder, message, count, batch))
            served = bench_service.service_rate(decoder, frames, count, batch, name, prior, folder)
            ctx.emit("service", set=name, image=f"{size[0]}x{size[1]}", steps=f"{settings.renoise}/{settings.steps}",
                     batch=batch, messages=count, direct_msg_per_s=f"{direct:.1f}",
                     service_msg_per_s=f"{served:.1f}", service_over_direct=f"{served / direct:.2f}")


# --- speed ---------------------------------------------------------------------------------------

SPEED_VARIANTS = {
    "speed-eager": [("eager bf16", {"bf16": True}), ("eager fp32 (TF32)", {})],
    "speed-compiled": [("compiled bf16", {"bf16": True, "compile": True})],
    "speed-graphs": [("CUDA graphs bf16", {"bf16": True, "compile": True, "cuda_graphs": True})],
}


def speed_rows(best: int | None, sweep: list[int]) -> list[tuple[int, int, float, int]]:
    """(tau, T, cfg, batch) in the order they are worth the budget: the batch-1 target first,
    then the sweep for the best batch (when it is not known yet), then the rest."""
    rows = [(4, 8, 8.0, 1)]
    rows += [(4, 8, 8.0, batch) for batch in sweep] if best is None else [(4, 8, 8.0, best)]
    rest = [(tau, steps, cfg, batch) for tau, steps in ((4, 8), (28, 32)) for cfg in (8.0, 1.0)
            for batch in (1, best or max(sweep))]
    return list(dict.fromkeys(rows + rest))


def run_speed(ctx: Context, section: str) -> None:
    import torch

    from lamigo.lami import DecoderSettings, LaMIDecoder
    from lamigo.zoo.sets import load_model_set

    showtime = showtime_module()
    device = torch.device(ctx.device)
    if ctx.cuda:
        torch.backends.cudnn.benchmark = True
        torch.set_float32_matmul_precision("high")
        torch._dynamo.config.cache_size_limit = 64
    size = (32, 64) if ctx.dry_run else (256, 512)
    sweep = [2] if ctx.dry_run else [8, 16, 32]
    warmup, repeats = (0, 1) if ctx.dry_run else (1, 3)
    started = time.perf_counter()
    models = load_model_set("tiny") if ctx.dry_run else showtime.full_size_model_set(device)
    ctx.note(f"{models.name} model set built in {time.perf_counter() - started:.1f} s")
    if section == "speed-eager":
        run_vqgan_speed(ctx, models, size, [1] + sweep)
    best = ctx.best_batch
    # Without CUDA (the dry run) only eager float32 runs, over every row.
    variants = SPEED_VARIANTS[section] if ctx.cuda else [("eager fp32", {})]
    for number, (variant, options) in enumerate(variants):
        if number:
            rows = [(4, 8, 8.0, 1), (4, 8, 1.0, 1)]  # the peer of bf16, at the target's rows
        else:
            rows = speed_rows(best, sweep)
        # One decoder per variant, its settings changed row by row: a compiled denoiser then
        # compiles once per shape, not once per row.
        decoder = LaMIDecoder(models, DecoderSettings(), **options)
        seconds_per_unit = None  # seconds per image, forward pass and step of the last row
        for tau, steps, cfg, batch in rows:
            row = dict(variant=variant, image=f"{size[0]}x{size[1]}", steps=f"{tau}/{steps}",
                       guidance="cfg 8" if cfg != 1.0 else "none", batch=batch)
            units = batch * (2 if cfg != 1.0 else 1) * steps * (warmup + repeats + 1)
            if seconds_per_unit is not None and seconds_per_unit * units * 1.3 > ctx.left():
                ctx.emit("showtime", **row, status="skipped: budget")
                continue
            decoder.settings = DecoderSettings(steps=steps, renoise=tau, cfg=cfg)
            first = time.perf_counter()
            timings = showtime.measure(decoder, size, batch, 0.25, warmup=0, repeats=1)  # compiles a new shape
            first = time.perf_counter() - first
            if not ctx.dry_run:
                extra = 1 if options.get("cuda_graphs") else 0  # recording, then replays
                timings = showtime.measure(decoder, size, batch, 0.25, warmup + extra, repeats)
            seconds_per_unit = timings.total / (batch * (2 if cfg != 1.0 else 1) * steps)
            per_image = 1000 * timings.total / batch
            images_per_second = batch / timings.total
            target, met = "-", "-"
            if (tau, steps, cfg) == (4, 8, 8.0) and batch == 1:
                target, met = f"<= {TARGET_MS:g} ms/img", "yes" if per_image <= TARGET_MS else "no"
            elif (tau, steps, cfg) == (4, 8, 8.0):
                target = f">= {TARGET_IMAGES_PER_SECOND:g} img/s"
                met = "yes" if images_per_second >= TARGET_IMAGES_PER_SECOND else "no"
            ctx.emit("showtime", **row,
                     text_ms_per_img=f"{1000 * timings.text_encoding / batch:.1f}",
                     denoise_ms_per_img=f"{1000 * timings.denoising / batch:.1f}",
                     vqgan_ms_per_img=f"{1000 * timings.vqgan_decode / batch:.1f}",
                     total_ms_per_img=f"{per_image:.1f}", images_per_s=f"{images_per_second:.2f}",
                     first_call_s=f"{first:.1f}", target=target, met=met)
            if number == 0 and best is None and (tau, steps, cfg) == (4, 8, 8.0):
                ctx.emit("best batch", batch=batch, images_per_s=f"{images_per_second:.2f}")
    if ctx.cuda:
        ctx.note(f"peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")


def run_vqgan_speed(ctx: Context, models, size: tuple[int, int], batches: list[int]) -> None:
    """The VQGAN's encode (image -> indices) and decode (indices -> image), per image."""
    import torch

    vqgan = models.vqgan
    precisions = {"fp32": contextlib.nullcontext}
    if ctx.cuda:
        precisions["bf16"] = lambda: torch.autocast("cuda", dtype=torch.bfloat16)
    warmup, repeats = (0, 1) if ctx.dry_run else (2, 5)
    for batch in batches:
        images = torch.rand(batch, 3, *size, device=ctx.device)
        with torch.inference_mode():
            indices, _ = vqgan.encode(images)
        for precision, autocast in precisions.items():
            def encode() -> None:
                with torch.inference_mode(), autocast():
                    vqgan.encode(images)

            def decode() -> None:
                with torch.inference_mode(), autocast():
                    vqgan.decode_latents(vqgan.vquantizer.embed(indices))

            for operation, work in (("encode", encode), ("decode", decode)):
                seconds = median_seconds(work, ctx.device, warmup, repeats)
                ctx.emit("VQGAN", operation=operation, precision=precision, image=f"{size[0]}x{size[1]}",
                         batch=batch, ms_per_img=f"{1000 * seconds / batch:.2f}", images_per_s=f"{batch / seconds:.1f}")


RUNNERS: dict[str, Callable[[Context], None]] = {
    "environment": run_environment,
    "parity": run_parity,
    "tokens": run_tokens,
    "batching": run_batching,
    "service": run_service,
    "speed-eager": lambda ctx: run_speed(ctx, "speed-eager"),
    "speed-compiled": lambda ctx: run_speed(ctx, "speed-compiled"),
    "speed-graphs": lambda ctx: run_speed(ctx, "speed-graphs"),
}


# --- the parent: sections in processes, tables, log -----------------------------------------------

@dataclass
class Outcome:
    name: str
    status: str
    seconds: float
    rows: list[dict]
    notes: list[str]


def read_rows(path: Path) -> tuple[list[dict], list[str]]:
    rows, notes = [], []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue  # a line cut off by the kill
            if "note" in item:
                notes.append(item["note"])
            else:
                rows.append(item)
    return rows, notes


def run_section(name: str, args: argparse.Namespace, timeout: float, work: Path, log) -> Outcome:
    rows_path = work / f"{name}.jsonl"
    command = [sys.executable, str(Path(__file__).resolve()), "--section", name, "--rows", str(rows_path),
               "--until", repr(time.time() + timeout - 1), "--device", args.device]
    if args.dry_run:
        command.append("--dry-run")
    if args.best_batch:
        command += ["--best-batch", str(args.best_batch)]
    log.write(f"\n===== {name}: budget {timeout:.0f} s =====\n")
    log.flush()
    started = time.monotonic()
    # Its own process group, so that a kill takes its children (pytest, compile workers) too.
    process = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        code = process.wait(timeout=timeout)
        verdict = "ran" if code == 0 else f"failed (exit {code})"
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        process.wait()
        verdict = "timed out"
    seconds = time.monotonic() - started
    rows, notes = read_rows(rows_path)
    if verdict == "ran":
        failed = any(str(item["row"].get("status", "")).startswith("FAIL") for item in rows)
        verdict = "FAILED" if failed else "passed"
        if not failed and rows and all(str(item["row"].get("status", "pass")).startswith("skipped")
                                       for item in rows):
            verdict = "skipped"
    log.write(f"===== {name}: {verdict} in {seconds:.1f} s =====\n")
    log.flush()
    return Outcome(name, verdict, seconds, rows, notes)


def markdown_table(rows: list[dict]) -> list[str]:
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    cells = [[str(row.get(column, "")) for column in columns] for row in rows]
    widths = [max(len(column), *(len(line[i]) for line in cells)) for i, column in enumerate(columns)]
    lines = ["| " + " | ".join(column.ljust(width) for column, width in zip(columns, widths)) + " |",
             "|" + "|".join("-" * (width + 2) for width in widths) + "|"]
    lines += ["| " + " | ".join(cell.ljust(width) for cell, width in zip(line, widths)) + " |" for line in cells]
    return lines


def report(outcomes: list[Outcome], args: argparse.Namespace, elapsed: float) -> str:
    mode = "dry run on the CPU (tiny set)" if args.dry_run else f"on {args.device}"
    lines = [f"# device check, {mode}: {elapsed:.0f} s of a {args.deadline:.0f} s deadline", "",
             "Targets: " + "; ".join(f"{key}: {value}" for key, value in TARGETS.items()) + ".",
             "Token tolerances (agreement of regenerated tokens): "
             + ", ".join(f"{key} >= {value}" for key, value in TOLERANCES.items()) + ".", ""]
    for outcome in outcomes:
        lines.append(f"## {outcome.name}: {outcome.status} ({outcome.seconds:.1f} s)")
        tables: dict[str, list[dict]] = {}
        for item in outcome.rows:
            tables.setdefault(item["table"], []).append(item["row"])
        for title, rows in tables.items():
            lines += ["", f"{title}:", ""] + markdown_table(rows)
        lines += [f"- {note}" for note in outcome.notes]
        lines.append("")
    lines += ["## summary", ""] + markdown_table(
        [{"section": o.name, "status": o.status, "seconds": f"{o.seconds:.1f}"} for o in outcomes])
    return "\n".join(lines) + "\n"


def best_batch(outcome: Outcome) -> int | None:
    sweep = [item["row"] for item in outcome.rows if item["table"] == "best batch"]
    return max(sweep, key=lambda row: float(row["images_per_s"]))["batch"] if sweep else None


def main_parent(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = args.sections or list(SECTIONS)
    unknown = [name for name in names if name not in SECTIONS]
    if unknown:
        sys.exit(f"device_check: error: unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    start = time.monotonic()
    end = start + args.deadline - KILL_GRACE
    scale = args.deadline / DEFAULT_DEADLINE
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory() as work, (out / LOG).open("w") as log:
        log.write(f"device check: {' '.join(sys.argv)}\n")
        for name in names:
            section = SECTIONS[name]
            left = end - time.monotonic()
            if section.cuda_only and not args.device.startswith("cuda"):
                outcome = Outcome(name, "skipped", 0.0, [], [f"CUDA only: nothing to run on {args.device}"])
            elif left < 5:
                outcome = Outcome(name, "skipped", 0.0, [], ["the deadline came first"])
            else:
                outcome = run_section(name, args, min(section.budget * scale, left), Path(work), log)
            if name == "speed-eager" and args.best_batch is None:
                args.best_batch = best_batch(outcome)
            outcomes.append(outcome)
            text = report(outcomes, args, time.monotonic() - start)
            (out / TABLES).write_text(text)
            (out / RESULTS).write_text(json.dumps(
                {"dry_run": args.dry_run, "device": args.device, "deadline": args.deadline,
                 "tolerances": TOLERANCES, "targets": TARGETS,
                 "sections": [vars(o) for o in outcomes]}, indent=1))
        log.write(f"\ndevice check finished in {time.monotonic() - start:.1f} s\n")
    print(text)
    return 1 if any(o.status in ("FAILED", "timed out") or o.status.startswith("failed") for o in outcomes) else 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true",
                        help="the same sections on the CPU with the tiny set, in under a minute: the script "
                        "is known to work before device time is spent (CUDA-only runs report skipped)")
    parser.add_argument("--out", default=os.environ.get("OUT") or "out/device-check",
                        help="folder of tables.md, results.json and device_check.log (default: $OUT, "
                        "else out/device-check)")
    parser.add_argument("--deadline", type=float, default=None,
                        help="seconds the whole run may take; each section's budget scales with it "
                        f"(default: {DEFAULT_DEADLINE:g}, with --dry-run {DRY_RUN_DEADLINE:g})")
    parser.add_argument("--sections", type=lambda text: text.split(","), default=None,
                        help=f"comma-separated subset, in this order: {','.join(SECTIONS)} (default: all)")
    parser.add_argument("--device", default=None, help="torch device (default: cuda; cpu with --dry-run)")
    parser.add_argument("--best-batch", type=int, default=None,
                        help="batch of the batched speed rows (default: the best of the eager sweep)")
    # Internal: one section in this process.
    parser.add_argument("--section", choices=list(SECTIONS), help=argparse.SUPPRESS)
    parser.add_argument("--rows", help=argparse.SUPPRESS)
    parser.add_argument("--until", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.device = args.device or ("cpu" if args.dry_run else "cuda")
    args.deadline = args.deadline or (DRY_RUN_DEADLINE if args.dry_run else DEFAULT_DEADLINE)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.section is None:
        if not args.dry_run and args.device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                sys.exit("device_check: error: no CUDA device here; use --dry-run to run on the CPU")
        return main_parent(args)
    ctx = Context(args.device, args.dry_run, args.until, Path(args.rows), args.best_batch)
    if args.dry_run:
        import torch

        # A small shared CPU: OpenMP threads spinning against other processes' cost ten times
        # what they gain on the tiny set.
        torch.set_num_threads(1)
    RUNNERS[args.section](ctx)
    return 0


if __name__ == "__main__":
    sys.exit(main())
