"""The decoder service: GO messages in over ZMQ PULL, LaMI decoding in batches, results out
over ZMQ PUB (and optionally as files).

One process, two threads: a receiver drains the PULL socket, parses each message
(`lamigo.service.wire.parse_request`, refusing from the control header alone what its model set
cannot decode, and a request for more than `max_steps` denoising steps) and appends it to a
bounded queue that drops its oldest
message when full; the decoding thread takes the oldest message and the queued messages of the
same geometry and decoder settings (the service's own, or those the message asks for), waiting up to `batch_wait` seconds (counted from the first one's arrival) for a
full batch of `batch_size` (fewer when their tokens would exceed `max_batch_tokens`), decodes them with `LaMIDecoder.decode_messages` and publishes one
result per message (`lamigo.service.wire.result_frames`). A message refused (its header gave an
id, but this model set cannot decode it, it is over a limit, or its batch failed) is answered on
the same PUB socket with a refusal saying why (`lamigo.service.wire.refusal_frames`), at most
`REFUSALS_PER_SECOND` a second, so that the sender learns of a mismatch between the two ends. A stop (SIGTERM in `lamigo serve`)
ends the batch being decoded within one layer of the models and abandons it with the queue.

Scaling out: ZMQ PUSH spreads messages round-robin over every PULL peer connected to it, so
several services share one stream with no code change.

* The sender binds and the services connect. The sender (or a small ventilator) binds a PUSH
  socket, e.g. ``tcp://0.0.0.0:5557``, and every service, on any GPU host, joins with
  ``lamigo serve --connect tcp://SENDER:5557 --publish tcp://0.0.0.0:5558``. Results: a
  collector's SUB connects to every service's publish address, or binds one address that all
  services join with ``--publish-connect tcp://COLLECTOR:5558``.
* Or each service binds (the default) and the sender's PUSH connects to all of their addresses
  (`lamigo.service.client.connect_sender` once per address on the same socket).

Overload never grows memory without limit: ZMQ holds at most `queue_size` messages per peer,
the service queue at most `queue_size` (the oldest goes, counted as dropped), and anything
malformed or over the size limits is logged, counted and skipped.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import zmq
from zmq.utils.monitor import recv_monitor_message

from lamigo.coding.prior import IndexPrior
from lamigo.errors import Cancelled, ConfigError, MessageError
from lamigo.files import OutputFolder
from lamigo.images import encode_png, to_uint8
from lamigo.logs import counted_level
from lamigo.lami import DecodeResult, LaMIDecoder
from lamigo.message import Geometry, ReceivedMessage, ReceiverLimits
from lamigo.service.curve import CurveKeys, start_authenticator
from lamigo.service.wire import (
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_MAX_STEPS,
    DEFAULT_MAX_TOKENS,
    DEFAULT_MESSAGES_ADDRESS,
    DEFAULT_RESULTS_ADDRESS,
    MAX_HEADER_BYTES,
    DecodeRequest,
    OversizedError,
    Refusal,
    refusal_frames,
    parse_request,
    result_frames,
)

logger = logging.getLogger(__name__)

__all__ = ["DecoderService", "ServiceConfig", "ServiceStats"]

POLL_SECONDS = 0.1  # how often idle threads look at the stop flag
RESULT_LINGER_MS = 2000  # at shutdown, time left to deliver results still in the PUB queue
REFUSALS_PER_SECOND = 20  # refusals published at most (a flood of bad messages is not echoed)
REFUSALS_QUEUED = 64  # refusals waiting for the publishing thread; beyond it the oldest goes


@dataclass(frozen=True)
class ServiceConfig:
    """How the service listens, batches and publishes (the options of `lamigo serve`).

    Args:
        listen: address the PULL socket binds for messages; None binds nothing (use `connect`).
        connect: upstream PUSH addresses the PULL socket connects to (scaling out).
        publish: address the PUB socket binds for results; None binds nothing.
        publish_connect: addresses the PUB socket connects to (a collector that binds SUB).
        batch_size: most messages decoded together.
        batch_wait: seconds a message waits for others of its geometry to fill a batch.
        queue_size: messages held waiting; beyond it the oldest is dropped.
        out_dir: where to write `<message_id>.png` and `.json` as well (never through a symlink
            found in it: `lamigo.files.OutputFolder`); None writes nothing.
        max_messages: stop after this many messages were decoded (or failed to); None runs on.
        max_message_bytes, max_tokens: larger messages are rejected as oversized.
        max_batch_tokens: most latent tokens decoded together (a message above it alone): what
            bounds the time of one batch, and of one layer's work that a stop waits for.
        max_steps: most denoising steps a message may ask for (`lamigo.service.wire.DecodeRequest`);
            one asking for more is malformed.
        stats_interval: seconds between statistics lines in the log.
        seed: sampling seed of every batch.
        curve: CURVE keys; None leaves the links unencrypted.
    """

    listen: str | None = DEFAULT_MESSAGES_ADDRESS
    connect: Sequence[str] = ()
    publish: str | None = DEFAULT_RESULTS_ADDRESS
    publish_connect: Sequence[str] = ()
    batch_size: int = 8
    batch_wait: float = 0.02
    queue_size: int = 64
    out_dir: Path | None = None
    max_messages: int | None = None
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    max_tokens: int = DEFAULT_MAX_TOKENS
    max_batch_tokens: int = DEFAULT_MAX_TOKENS
    max_steps: int = DEFAULT_MAX_STEPS
    stats_interval: float = 30.0
    seed: int = 0
    curve: CurveKeys | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.listen is None and not self.connect:
            problems.append("give an address to listen on or to connect to for messages")
        if self.batch_size < 1 or self.queue_size < 1:
            problems.append("batch size and queue size must be at least 1")
        if self.batch_size > self.queue_size:
            problems.append(f"batch size {self.batch_size} exceeds the queue size {self.queue_size}")
        if self.batch_wait < 0 or self.stats_interval <= 0:
            problems.append("batch wait must be >= 0 and the stats interval > 0")
        if self.max_messages is not None and self.max_messages < 1:
            problems.append("max messages must be at least 1")
        if min(self.max_message_bytes, self.max_tokens, self.max_batch_tokens, self.max_steps) < 1:
            problems.append("size limits must be positive")
        if problems:
            raise ConfigError("bad service configuration: " + "; ".join(problems))


@dataclass
class ServiceStats:
    """Counts over the service's lifetime."""

    received: int = 0  #: multipart messages taken off the socket
    malformed: int = 0  #: failed to parse, or not decodable by this model set
    oversized: int = 0  #: over the byte or token limit
    dropped: int = 0  #: queued but pushed out by newer ones under overload
    decoded: int = 0  #: decoded and published
    failed: int = 0  #: the decoder raised on their batch
    batches: int = 0
    decode_seconds: float = 0.0  #: summed over batches
    abandoned: int = 0  #: queued or being decoded when the service stopped
    #: sender connections that ZMQ closed: a frame far over the size limit (dropped by ZMQ before
    #: it takes memory, so it is never received), or a sender that went away
    connections_dropped: int = 0
    refusals_sent: int = 0  #: refused messages answered with a refusal
    refusals_unsent: int = 0  #: refused messages not answered (over REFUSALS_PER_SECOND)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(eq=False)
class _Queued:
    received: ReceivedMessage
    arrived: float
    request: DecodeRequest | None = None  #: None: the service's own settings

    @property
    def geometry(self) -> Geometry:
        return self.received.message.geometry

    @property
    def kind(self) -> tuple[Geometry, DecodeRequest | None]:
        """What messages decoded in one batch share."""
        return self.geometry, self.request


class DecoderService:
    """Receives GO messages, decodes them in batches and publishes the images.

    Args:
        decoder: the LaMI decoder (its model set fixes the codebook and the sampling settings).
        config: addresses, batching and limits.
        prior: the index prior the senders code with (`lamigo.zoo.index_prior.model_set_index_prior`).
        model_set: the model set's name, for the result records.
        context: the ZMQ context to use (a private one when None).

    `run()` binds, serves until `stop()` (from any thread or a signal handler) or
    `max_messages`, and returns the final statistics. `bind()` may be called first to learn
    the bound addresses (`messages_endpoint`, `results_endpoint`; "tcp://127.0.0.1:*" binds a
    free port).
    """

    def __init__(
        self,
        decoder: LaMIDecoder,
        config: ServiceConfig | None = None,
        *,
        prior: IndexPrior | None = None,
        model_set: str = "",
        context: zmq.Context | None = None,
    ) -> None:
        self.decoder = decoder
        self.config = config or ServiceConfig()
        self.prior = prior
        self.model_set = model_set
        self._context = context or zmq.Context()
        self._own_context = context is None
        self._stats = ServiceStats()
        self._queue: deque[_Queued] = deque()
        self._refusals: deque[Refusal] = deque()  # for the decoding thread, which owns the PUB socket
        self._refusal_allowance, self._refusal_clock = float(REFUSALS_PER_SECOND), time.monotonic()
        self._condition = threading.Condition()
        self._stopping = threading.Event()
        self._pull: zmq.Socket | None = None
        self._monitor: zmq.Socket | None = None
        self._pub: zmq.Socket | None = None
        self._authenticator = None
        self.limits = ReceiverLimits.for_models(decoder.models, max_tokens=self.config.max_tokens,
                                                max_message_bytes=self.config.max_message_bytes)
        self.messages_endpoint: str | None = None
        self.results_endpoint: str | None = None
        self._out = OutputFolder(self.config.out_dir) if self.config.out_dir is not None else None

    @property
    def stats(self) -> ServiceStats:
        """A snapshot of the counters."""
        with self._condition:
            return ServiceStats(**asdict(self._stats))

    def bind(self) -> None:
        """Open, bind and connect the sockets (ConfigError on a bad or busy address)."""
        if self._pull is not None:
            return
        config = self.config
        curve = config.curve
        if curve is not None and curve.allowed_clients is not None:
            self._authenticator = start_authenticator(self._context, curve.allowed_clients)
        pull = self._context.socket(zmq.PULL)
        # ZMQ refuses frames far over the limit itself, so they never take memory; smaller
        # oversized ones arrive and are counted.
        pull.maxmsgsize = 8 * config.max_message_bytes + MAX_HEADER_BYTES
        pull.rcvhwm = config.queue_size
        pull.linger = 0
        self._monitor = pull.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        pub = self._context.socket(zmq.PUB)
        pub.sndhwm = 4 * config.queue_size
        pub.linger = RESULT_LINGER_MS
        self._pull, self._pub = pull, pub
        try:
            self.messages_endpoint = self._attach(pull, config.listen, config.connect)
            self.results_endpoint = self._attach(pub, config.publish, config.publish_connect)
        except ConfigError:
            self._close()
            raise
        logger.info(
            "decoder service: messages on %s, results on %s, batches of up to %d (wait %.0f ms), "
            "queue %d, model set %s on %s%s",
            self.messages_endpoint or ", ".join(config.connect),
            self.results_endpoint or ", ".join(config.publish_connect) or "nowhere",
            config.batch_size, config.batch_wait * 1000, config.queue_size, self.model_set or "?",
            self.decoder.device, ", CURVE" if curve else "",
        )

    def _attach(self, socket: zmq.Socket, bind: str | None, connect: Sequence[str]) -> str | None:
        curve = self.config.curve
        try:
            if bind is not None:
                if curve is not None:
                    curve.apply_server(socket)
                socket.bind(bind)
            if connect and curve is not None:
                if bind is not None:
                    raise ConfigError("with CURVE a socket either binds (server) or connects (client)")
                curve.apply_client(socket)
            for address in connect:
                socket.connect(address)
        except zmq.ZMQError as err:
            raise ConfigError(f"cannot use address {bind or ', '.join(connect)}: {err}") from None
        return socket.last_endpoint.decode() if bind is not None else None

    def stop(self) -> None:
        """Ask the service to return from `run()`, abandoning the batch being decoded (it ends
        within one layer of the models) and the queue; safe from signal handlers and other
        threads."""
        self._stopping.set()

    def run(self) -> ServiceStats:
        """Serve until stopped; returns the final statistics."""
        self.bind()
        receiver = threading.Thread(target=self._receive_loop, name="lamigo-service-receiver", daemon=True)
        receiver.start()
        started = last_log = time.monotonic()
        try:
            while not self._stopping.is_set():
                batch = self._next_batch()
                if batch:
                    self._decode(batch)
                self._send_refusals()
                now = time.monotonic()
                if now - last_log >= self.config.stats_interval:
                    self._log_stats(now - started)
                    last_log = now
                if self.config.max_messages is not None:
                    stats = self.stats
                    if stats.decoded + stats.failed >= self.config.max_messages:
                        logger.info("decoded %d message(s), the --max-messages limit: stopping", self.config.max_messages)
                        self.stop()
        finally:
            self.stop()
            receiver.join()
            with self._condition:
                self._stats.abandoned += len(self._queue)
                self._queue.clear()
            self._send_refusals()  # the answers to what was refused last
            self._close()
        self._log_stats(time.monotonic() - started, final=True)
        return self.stats

    def _close(self) -> None:
        if self._monitor is not None:
            self._pull.disable_monitor()
            self._monitor.close()
        for socket in (self._pull, self._pub):
            if socket is not None:
                socket.close()
        if self._authenticator is not None:
            self._authenticator.stop()
        if self._out is not None:
            self._out.close()
        if self._own_context:
            self._context.term()

    def _receive_loop(self) -> None:
        """Drain the PULL socket into the queue until stopped (the only user of that socket)."""
        assert self._pull is not None
        poller = zmq.Poller()
        poller.register(self._pull, zmq.POLLIN)
        poller.register(self._monitor, zmq.POLLIN)
        while not self._stopping.is_set():  # one message at a time, so a stop is seen at once
            ready = dict(poller.poll(int(POLL_SECONDS * 1000)))
            if self._monitor in ready:
                self._count_disconnect()
            if self._pull not in ready:
                continue
            try:
                frames = self._pull.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                continue
            try:
                self._accept(frames)
            except Exception:  # a bug met by one message must not end the receiving thread
                logger.exception("a message could not be handled")
                with self._condition:
                    self._stats.received += 1
                    self._stats.malformed += 1

    def _count_disconnect(self) -> None:
        recv_monitor_message(self._monitor)
        with self._condition:
            self._stats.connections_dropped += 1
            count = self._stats.connections_dropped
        logger.log(counted_level(count), "a sender's connection closed (%d so far): it left, or sent a frame over %d bytes",
                   count, self._pull.maxmsgsize)

    def _accept(self, frames: list[bytes]) -> None:
        try:
            received, request = parse_request(frames, self.prior, self.limits, self.config.max_steps)
        except OversizedError as err:
            self._reject("oversized", err)
            return
        except MessageError as err:
            self._reject("malformed", err)
            return
        with self._condition:
            self._stats.received += 1
            if len(self._queue) == self.config.queue_size:
                self._queue.popleft()
                self._stats.dropped += 1
                dropped = self._stats.dropped
                logger.log(counted_level(dropped), "queue full (%d): dropped the oldest message (%d dropped so far)",
                           self.config.queue_size, dropped)
            self._queue.append(_Queued(received, time.monotonic(), request))
            self._condition.notify()

    def _reject(self, counter: str, err: MessageError) -> None:
        with self._condition:
            self._stats.received += 1
            count = getattr(self._stats, counter) + 1
            setattr(self._stats, counter, count)
        logger.log(counted_level(count), "skipped a %s message (%d so far): %s", counter, count, err)
        if err.message_id is not None:
            self._refuse(Refusal(err.message_id, err.reason or str(err), counter, self.model_set))

    def _refuse(self, refusal: Refusal) -> None:
        """Queue the answer to a refused message for the decoding thread to publish."""
        with self._condition:
            if len(self._refusals) == REFUSALS_QUEUED:
                self._refusals.popleft()
                self._stats.refusals_unsent += 1
            self._refusals.append(refusal)

    def _send_refusals(self) -> None:
        """Publish the queued refusals, at most REFUSALS_PER_SECOND (the rest counted unsent)."""
        now = time.monotonic()
        self._refusal_allowance = min(float(REFUSALS_PER_SECOND),
                                      self._refusal_allowance + (now - self._refusal_clock) * REFUSALS_PER_SECOND)
        self._refusal_clock = now
        with self._condition:
            refusals = list(self._refusals)
            self._refusals.clear()
        sent = 0
        for refusal in refusals:
            if self._refusal_allowance < 1:
                break
            self._refusal_allowance -= 1
            try:
                self._pub.send_multipart(refusal_frames(refusal), zmq.NOBLOCK)
            except zmq.Again:
                break
            except Exception:  # a refusal that cannot be sent must not end the service
                logger.exception("refusal of message %d not published", refusal.message_id)
                continue
            sent += 1
        with self._condition:
            self._stats.refusals_sent += sent
            self._stats.refusals_unsent += len(refusals) - sent

    def _next_batch(self) -> list[_Queued]:
        """The oldest message and up to batch_size - 1 queued ones of its geometry and settings (as many as fit
        max_batch_tokens, the oldest alone if it does not), once the batch is full or the oldest has waited batch_wait; [] when nothing came within POLL_SECONDS.
        Only this thread changes decoded and failed, so they are read here without the lock."""
        config = self.config
        limit = config.batch_size
        if config.max_messages is not None:  # stop at exactly max_messages
            limit = min(limit, config.max_messages - self._stats.decoded - self._stats.failed)
        with self._condition:
            if not self._queue:
                self._condition.wait(POLL_SECONDS)
            while self._queue and not self._stopping.is_set():
                first = self._queue[0]
                geometry = first.geometry
                full = min(limit, max(1, config.max_batch_tokens // (geometry.latent_height * geometry.latent_width)))
                batch = [item for item in self._queue if item.kind == first.kind][:full]
                wait = first.arrived + config.batch_wait - time.monotonic()
                if len(batch) == full or wait <= 0:
                    for item in batch:
                        self._queue.remove(item)
                    return batch
                self._condition.wait(min(wait, POLL_SECONDS))
            return []

    def _decode(self, batch: list[_Queued]) -> None:
        started = time.monotonic()
        request = batch[0].request
        try:
            if request is None:
                result = self.decoder.decode_messages([item.received for item in batch], seed=self.config.seed,
                                                      stop=self._stopping.is_set)
            else:
                result = self.decoder.decode_messages([item.received for item in batch], settings=request.settings,
                                                      plain=request.plain, stop=self._stopping.is_set)
            images = to_uint8(result.images)
        except Cancelled as stopped:
            logger.info("stopped while decoding a batch of %d message(s), abandoned: %s", len(batch), stopped)
            with self._condition:
                self._stats.abandoned += len(batch)
            return
        except Exception as err:  # whatever one batch raises (a torch error included), the service goes on
            logger.exception("decoding a batch of %d message(s) failed", len(batch))
            with self._condition:
                self._stats.failed += len(batch)
            for item in batch:
                self._refuse(Refusal(item.received.message_id, f"decoding its batch failed: {type(err).__name__}: {err}",
                                     "failed", self.model_set))
            return
        seconds = time.monotonic() - started
        published = 0
        for item, image in zip(batch, images):
            try:
                record = self._record(item, result, image, seconds, started, len(batch))
                png = encode_png(image)
                self._publish(record, png)
            except Exception:  # one message's record cannot end the service or lose the others
                logger.exception("result of message %d not published", item.received.message_id)
                continue
            published += 1
            if self._out is not None:
                self._write_files(record, png)
        with self._condition:
            self._stats.decoded += published
            self._stats.failed += len(batch) - published
            self._stats.batches += 1
            self._stats.decode_seconds += seconds

    def _record(self, item: _Queued, result: DecodeResult, image: np.ndarray, seconds: float,
                started: float, batch_size: int) -> dict[str, Any]:
        received = item.received
        mask, lost = received.message.mask, received.lost
        timings = result.timings
        if item.request is None:  # what the batch was sampled with (`decode_messages`)
            settings = {**self.decoder.settings.as_dict(), "seed": self.config.seed, "plain": False}
        else:
            settings = item.request.as_dict()
        return {
            "message_id": received.message_id,
            "tokens": int(mask.size),
            "tokens_masked_by_policy": int(mask.sum()),
            "tokens_lost": int((lost & ~mask).sum()),
            **settings,
            "decode_seconds": round(seconds, 6),
            "stage_seconds": {"text": round(timings.text_encoding, 6), "denoising": round(timings.denoising, 6),
                              "vqgan": round(timings.vqgan_decode, 6)},
            "queue_seconds": round(started - item.arrived, 6),
            "batch_size": batch_size,
            "model_set": self.model_set,
            "device": str(self.decoder.device),
            "bf16": self.decoder.bf16,
            "height": int(image.shape[0]),
            "width": int(image.shape[1]),
            "caption": received.message.caption,
            "link": received.link.as_dict() if received.link is not None else None,
            "info": received.info,
        }

    def _publish(self, record: dict[str, Any], png: bytes) -> None:
        assert self._pub is not None
        try:
            self._pub.send_multipart(result_frames(record, png), zmq.NOBLOCK)
        except zmq.Again:  # PUB drops for slow subscribers rather than block; say so
            logger.warning("result of message %d not published: subscribers too slow", record["message_id"])

    def _write_files(self, record: dict[str, Any], png: bytes) -> None:
        stem = str(record["message_id"])
        try:
            self._out.write(f"{stem}.png", png)
            self._out.write(f"{stem}.json", (json.dumps(record, indent=2) + "\n").encode())
        except OSError as err:
            logger.error("cannot write the result of message %s to %s: %s", stem, self._out.path, err)

    def _log_stats(self, elapsed: float, final: bool = False) -> None:
        stats = self.stats
        with self._condition:
            queued = len(self._queue)
        logger.info(
            "%s after %.0f s: %d received, %d decoded in %d batches (%.2f msg/s), %d malformed, "
            "%d oversized, %d dropped, %d failed, %d queued, %d connections dropped, %d refusals sent%s",
            "final stats" if final else "stats", elapsed, stats.received, stats.decoded, stats.batches,
            stats.decoded / elapsed if elapsed > 0 else 0.0, stats.malformed, stats.oversized,
            stats.dropped, stats.failed, queued, stats.connections_dropped, stats.refusals_sent,
            f", {stats.abandoned} abandoned" if final else "",
        )
