"""Messages per second end to end through the decoder service (ZMQ PUSH -> `DecoderService` ->
PUB, on ipc sockets), at several batch sizes, against calling `LaMIDecoder.decode_messages`
directly on the same messages in the same run: what the service's sockets, parsing, queueing,
PNG encoding and publishing cost on top of decoding.

    .venv/bin/python bench/bench_service.py --quick      # tiny set on the CPU, about a minute
    .venv/bin/python bench/bench_service.py --device cuda --model-set default --size 256x256
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import tempfile
import threading
import time
from collections.abc import Callable, Iterator

import torch
import zmq
from tqdm.auto import tqdm

from lamigo.images import load_image, parse_size
from lamigo.lami import LaMIDecoder, add_decoder_options, decoder_settings
from lamigo.lami.transmitter import Transmitter
from lamigo.masking import make_policy
from lamigo.message import ReceivedMessage
from lamigo.zoo.index_prior import model_set_index_prior
from lamigo.zoo.sets import load_model_set
from lamigo.service import (
    DecoderService,
    ServiceConfig,
    connect_results,
    connect_sender,
    message_frames,
    receive_result,
    send_message,
)

SUBSCRIPTION_SECONDS = 0.3


def in_thread(work: Callable[[], float]) -> float:
    """Run `work` in a new thread, as the service decodes in one: on a busy CPU, torch's
    OpenMP threads in the main thread and in others run at very different speeds."""
    result: list[float] = []
    thread = threading.Thread(target=lambda: result.append(work()))
    thread.start()
    thread.join()
    return result[0]


def direct_rate(decoder: LaMIDecoder, message, count: int, batch: int) -> float:
    """Messages/s of decode_messages on batches of `batch` copies of `message`."""
    start = time.perf_counter()
    done = 0
    while done < count:
        size = min(batch, count - done)
        decoder.decode_messages([message] * size)
        done += size
    return count / (time.perf_counter() - start)


@contextlib.contextmanager
def running_service(decoder: LaMIDecoder, config: ServiceConfig, prior, model_set: str) -> Iterator[tuple]:
    """A DecoderService serving `config` in a thread -> (a ZMQ context, a SUB socket subscribed
    to its results); stopped on leaving."""
    service = DecoderService(decoder, config, prior=prior, model_set=model_set)
    service.bind()
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    context = zmq.Context()
    context.linger = 0
    try:
        results = connect_results(context, config.publish)
        time.sleep(SUBSCRIPTION_SECONDS)
        yield context, results
    finally:
        service.stop()
        thread.join()
        context.destroy()


def service_rate(decoder: LaMIDecoder, frames: list[bytes], count: int, batch: int, model_set: str,
                 prior, folder: str) -> float:
    """Messages/s from the first send to the last result received, through a running service."""
    messages_address, results_address = f"ipc://{folder}/messages-{batch}", f"ipc://{folder}/results-{batch}"
    config = ServiceConfig(listen=messages_address, publish=results_address, batch_size=batch,
                           batch_wait=0.05, queue_size=max(64, count))
    with running_service(decoder, config, prior, model_set) as (context, results):
        sender = connect_sender(context, messages_address, queue_size=count)
        start = time.perf_counter()
        for _ in range(count):
            send_message(sender, frames)
        for _ in range(count):
            receive_result(results, timeout=600)
        seconds = time.perf_counter() - start
    return count / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="64x64 images and 16 messages per run")
    parser.add_argument("--messages", type=int, default=64, help="messages per run (default: %(default)s)")
    parser.add_argument("--size", default="128x128", help="image size HxW (default: %(default)s)")
    parser.add_argument("--batch-sizes", default="1,8", help="comma-separated (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs of each measurement; the best counts, as others share the CPU (default: %(default)s)")
    parser.add_argument("--model-set", default="tiny", help="model set (default: %(default)s)")
    parser.add_argument("--device", default="cpu", help="torch device (default: %(default)s)")
    add_decoder_options(parser)
    args = parser.parse_args()
    settings = decoder_settings(args)
    count, size = (16, (64, 64)) if args.quick else (args.messages, parse_size(args.size))
    repeats = 2 if args.quick else args.repeats
    batches = [int(part) for part in args.batch_sizes.split(",")]

    models = load_model_set(args.model_set, device=args.device)
    prior = model_set_index_prior(args.model_set)
    transmitter = Transmitter(models, make_policy("prm", ratio=0.3, seed=0), size=size, index_prior=prior)
    message = transmitter.encode(load_image("photo:coffee"), caption="a cup of coffee on a saucer")
    frames = message_frames(ReceivedMessage.whole(message, 1), prior)
    decoder = LaMIDecoder(models, settings)
    for batch in batches:  # warm up every batch shape once
        in_thread(lambda: direct_rate(decoder, message, batch, batch))

    rows = []
    with tempfile.TemporaryDirectory() as folder, tqdm(total=2 * len(batches) * repeats, desc="runs") as bar:
        for batch in batches:
            direct = served = 0.0
            for _ in range(repeats):  # alternate the two, so that load from others hits both alike
                direct = max(direct, in_thread(lambda: direct_rate(decoder, message, count, batch)))
                bar.update()
                served = max(served, service_rate(decoder, frames, count, batch, models.name, prior, folder))
                bar.update()
            rows.append((batch, direct, served))

    print(f"\n{models.name} model set on {args.device} ({platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads), {size[0]}x{size[1]} images, tau/T = {settings.renoise}/"
          f"{settings.steps}, {count} messages per run, best of {repeats} runs\n")
    header = ["batch", "direct msg/s", "service msg/s", "service / direct"]
    print(" | ".join(f"{cell:>16}" for cell in header))
    print("-|-".join("-" * 16 for _ in header))
    for batch, direct, served in rows:
        print(" | ".join(f"{cell:>16}" for cell in (batch, f"{direct:.2f}", f"{served:.2f}",
                                                     f"{served / direct:.2f}")))


if __name__ == "__main__":
    main()
