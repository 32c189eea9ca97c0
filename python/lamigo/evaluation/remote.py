"""`lamigo eval --decoders`: an evaluation's LaMI-GO decodes handed to running decoder services
(`lamigo serve`), on other GPUs or hosts, instead of decoded in the evaluating process.

Every trial is prepared here as in-process (`lamigo.evaluation.trial.prepare_lami`: the same
message, link and channel realisation) and sent with its decode request
(`lamigo.service.wire.DecodeRequest`: the settings and seed the in-process run decodes it
with), and the image that comes back is measured here: a row equals the one an in-process run
writes, whichever service decoded it, but for the stage seconds (the service's, of the batch
that held the message). The baselines decode here.

One PUSH socket connects to every service's messages address (ZMQ hands each message to the
next service that has a connection, as `lamigo serve` scales out) and one SUB socket to every
results address. A result counts only if it carries this run's token (in the message's info)
and an id waiting for it, with the model set, bf16 and settings asked for; at most
`IN_FLIGHT_PER_SERVICE` messages per service wait. When no service answers within the timeout
the run ends with a RunError (CLI exit 2); every row finished until then is in the CSV.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import secrets
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import zmq

from lamigo.errors import ConfigError, MessageError, RunError
from lamigo.evaluation.data import EvalImage
from lamigo.evaluation.experiments import Condition
from lamigo.evaluation.trial import LaMITrial, TrialContext, finish_trial, prepare_lami, run_trial
from lamigo.message import CODEC_NAME
from lamigo.service.client import png_to_image, send_message
from lamigo.service.wire import MAX_HEADER_BYTES, DecodeRequest, max_png_bytes, message_frames, parse_result

if TYPE_CHECKING:
    from lamigo.lami.decoder import ShowtimeTimings

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_DECODER_TIMEOUT", "DecoderAddress", "RemoteDecoders", "parse_decoders", "remote_trials"]

DEFAULT_DECODER_TIMEOUT = 120.0  #: seconds without any result before the run gives up
IN_FLIGHT_PER_SERVICE = 16  #: messages waiting per service: two default batches, a quarter of its queue
MESSAGE_IDS = 1 << 16
RUN_TOKEN = "eval_run"  #: the info field that tells this run's results from others'


@dataclass(frozen=True)
class DecoderAddress:
    """Where one `lamigo serve` takes messages (its --listen) and publishes results (--publish)."""

    messages: str
    results: str


def parse_decoders(text: str) -> tuple[DecoderAddress, ...]:
    """`--decoders`: comma-separated MESSAGES[=RESULTS] addresses; RESULTS defaults to the
    messages port + 1 (as `lamigo serve`'s defaults 5557 and 5558), HOST:PORT means tcp."""
    decoders = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        messages, _, results = (side.strip() for side in entry.partition("="))
        messages = messages if "://" in messages else f"tcp://{messages}"
        if not results:
            host, _, port = messages.rpartition(":")
            if not messages.startswith("tcp://") or not port.isdigit() or not 0 < int(port) < 65535:
                raise ConfigError(f"--decoders: {entry!r} is no tcp://HOST:PORT; give other addresses as "
                                  "MESSAGES=RESULTS")
            results = f"{host}:{int(port) + 1}"
        results = results if "://" in results else f"tcp://{results}"
        decoders.append(DecoderAddress(messages, results))
    if not decoders:
        raise ConfigError("--decoders: give at least one address")
    if len({item.messages for item in decoders}) != len(decoders):
        raise ConfigError("--decoders: an address is given twice")
    return tuple(decoders)


@dataclass
class _Waiting:
    condition: Condition
    item: EvalImage
    row: dict
    trial: LaMITrial
    request: DecodeRequest


class RemoteDecoders:
    """Sockets to running decoder services, connected (and each service heard from) on
    construction; a context manager that closes them.

    Args:
        decoders: the services' addresses.
        model_set: the name every service must decode with.
        bf16: whether the services must decode under bfloat16 autocast.
        size: (height, width) of every image; larger results are refused unread.
        timeout: seconds to wait for a service to connect, take a message, or answer.
        context: the ZMQ context (a private one when None).
    """

    def __init__(self, decoders: Sequence[DecoderAddress], model_set: str, bf16: bool, size: tuple[int, int],
                 timeout: float = DEFAULT_DECODER_TIMEOUT, context: zmq.Context | None = None) -> None:
        self.decoders = tuple(decoders)
        self.model_set, self.bf16, self.size, self.timeout = model_set, bf16, size, timeout
        self.window = IN_FLIGHT_PER_SERVICE * len(self.decoders)
        self.token = secrets.token_hex(8)
        self.waiting: dict[int, _Waiting] = {}
        self._next_id = 0
        self._context = context or zmq.Context()
        self._own_context = context is None
        self._push = self._context.socket(zmq.PUSH)
        self._push.immediate = True  # only to services that are connected, never queued for a missing one
        self._push.sndhwm = IN_FLIGHT_PER_SERVICE
        self._push.linger = 0
        self._sub = self._context.socket(zmq.SUB)
        self._sub.maxmsgsize = max_png_bytes(size[0] * size[1]) + MAX_HEADER_BYTES
        self._sub.linger = 0
        self._sub.subscribe(b"")
        try:
            self._connect()
        except BaseException:
            self.close()
            raise

    def _connect(self) -> None:
        """Connect both sockets and wait until every service has shaken hands on both."""
        sockets = ((self._push, [item.messages for item in self.decoders]),
                   (self._sub, [item.results for item in self.decoders]))
        monitors = []
        for socket, addresses in sockets:
            monitors.append(socket.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED))
            for address in addresses:
                try:
                    socket.connect(address)
                except zmq.ZMQError as err:
                    raise ConfigError(f"--decoders: cannot use address {address}: {err}") from None
        deadline = time.monotonic() + self.timeout
        try:
            for (socket, addresses), monitor in zip(sockets, monitors):
                missing = set(addresses)
                while missing and monitor.poll(max(0, int((deadline - time.monotonic()) * 1000))):
                    event = monitor.recv_multipart()
                    missing.discard(event[1].decode(errors="replace"))
                if missing:
                    raise RunError(f"no decoder service answered at {', '.join(sorted(missing))} within "
                                   f"{self.timeout:g} s: start `lamigo serve --listen MESSAGES --publish RESULTS` "
                                   "there first")
        finally:
            for socket, monitor in zip((self._push, self._sub), monitors):
                socket.disable_monitor()
                monitor.close()
        logger.info("decoding on %d service(s): %s", len(self.decoders),
                    ", ".join(f"{item.messages} (results {item.results})" for item in self.decoders))

    def close(self) -> None:
        self._push.close(0)
        self._sub.close(0)
        if self._own_context:
            self._context.term()

    def __enter__(self) -> RemoteDecoders:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def full(self) -> bool:
        return len(self.waiting) >= self.window

    def submit(self, waiting: _Waiting) -> None:
        """Send a prepared trial's message with its request."""
        message_id = self._next_id
        while message_id in self.waiting:  # never reached while the window is below 65536
            message_id = (message_id + 1) % MESSAGE_IDS
        self._next_id = (message_id + 1) % MESSAGE_IDS
        received = dataclasses.replace(waiting.trial.received, message_id=message_id,
                                       info={**waiting.trial.received.info, RUN_TOKEN: self.token})
        try:
            send_message(self._push, message_frames(received, None, waiting.request), timeout=self.timeout)
        except TimeoutError:
            raise RunError(f"no decoder service took a message within {self.timeout:g} s "
                           f"({', '.join(item.messages for item in self.decoders)})") from None
        self.waiting[message_id] = waiting

    def collect(self) -> tuple[_Waiting, ShowtimeTimings, np.ndarray]:
        """The next result of a waiting trial: (trial, the service's stage seconds, image).
        RunError when none comes within the timeout, or a service decodes with other models or
        settings than asked."""
        deadline = time.monotonic() + self.timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self._sub.poll(int(left * 1000)):
                raise RunError(f"no decoder service answered within {self.timeout:g} s ({len(self.waiting)} "
                               f"message(s) waiting at {', '.join(item.messages for item in self.decoders)}); "
                               "the rows finished so far are kept, run again to resume")
            frames = self._sub.recv_multipart()
            try:
                record, png = parse_result(frames, max_pixels=self.size[0] * self.size[1])
                waiting = self._match(record)
                if waiting is None:
                    continue
                result = waiting, _timings(record), png_to_image(png)
            except MessageError as err:
                logger.warning("skipped a result: %s", err)
                continue
            del self.waiting[record["message_id"]]
            return result

    def _match(self, record: dict[str, Any]) -> _Waiting | None:
        """The waiting trial `record` answers, None for another run's result; RunError when
        it was decoded otherwise than asked."""
        info = record.get("info")
        message_id = record["message_id"]
        if not isinstance(info, dict) or info.get(RUN_TOKEN) != self.token or message_id not in self.waiting:
            logger.debug("skipped result %s of another run", message_id)
            return None
        waiting = self.waiting[message_id]
        asked = {"model_set": self.model_set, "bf16": self.bf16, "height": self.size[0], "width": self.size[1],
                 **waiting.request.as_dict()}
        differing = sorted(name for name, value in asked.items() if record.get(name) != value)
        if differing:
            raise RunError(f"a decoder service decoded message {message_id} otherwise than asked: "
                           + ", ".join(f"{name} {record.get(name)!r} (asked {asked[name]!r})" for name in differing))
        return waiting


def _timings(record: dict[str, Any]) -> ShowtimeTimings:
    """The stage seconds of a result record (MessageError unless three finite numbers)."""
    from lamigo.lami.decoder import ShowtimeTimings

    stages = record.get("stage_seconds")
    names = ("text", "denoising", "vqgan")
    if not isinstance(stages, dict) or not all(type(stages.get(name)) in (int, float)
                                               and math.isfinite(stages[name]) for name in names):
        raise MessageError(f"result {record['message_id']}: no stage seconds")
    return ShowtimeTimings(*(float(stages[name]) for name in names))


def remote_trials(ctx: TrialContext, todo: Iterable[tuple[Condition, EvalImage, int]], decoders: RemoteDecoders
                  ) -> Iterator[tuple[Condition, EvalImage, tuple[dict, np.ndarray]]]:
    """Run `todo` (condition, image, channel realisation) as `run_trial` does, the LaMI-GO decodes
    on `decoders`: yields (condition,
    image, (row, received image)) as each finishes, not in `todo`'s order; trials already in
    `ctx.done` are not run again."""

    def finished() -> tuple[Condition, EvalImage, tuple[dict, np.ndarray]]:
        waiting, timings, image = decoders.collect()
        waiting.trial.record_decode(waiting.row, timings)
        done = finish_trial(ctx, waiting.item, waiting.row, image)
        ctx.done[(*waiting.condition.key, waiting.item.name, str(waiting.row["realisation"]))] = done
        return waiting.condition, waiting.item, done

    for condition, item, realisation in todo:
        key = (*condition.key, item.name, str(realisation))
        if key not in ctx.done and condition.codec == CODEC_NAME:
            row: dict = {"image": item.name, "realisation": realisation}
            trial = prepare_lami(ctx, item, condition, row)
            if trial.received is not None:
                while decoders.full:
                    yield finished()
                decoders.submit(_Waiting(condition, item, row, trial, DecodeRequest(trial.settings, trial.plain)))
                continue
            ctx.done[key] = finish_trial(ctx, item, row, None)
        elif key not in ctx.done:
            ctx.done[key] = run_trial(ctx, item, condition, realisation)
        yield condition, item, ctx.done[key]
    while decoders.waiting:
        yield finished()
