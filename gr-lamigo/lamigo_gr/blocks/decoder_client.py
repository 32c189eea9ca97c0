"""Decoder client: sends reassembled GO messages to the LaMI decoder service over ZMQ and
optionally receives the regenerated images back."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pmt
import zmq
from gnuradio import gr
from zmq.utils.monitor import recv_monitor_message

from lamigo.errors import ConfigError, LamigoError
from lamigo.images import save_numbered_png
from lamigo.logs import RateLimitedLog
from lamigo.service.wire import (
    DEFAULT_MAX_RESULT_PIXELS,
    DEFAULT_MESSAGES_ADDRESS,
    Refusal,
    max_png_bytes,
    parse_reply,
    pdu_frames,
)
from lamigo_gr.support.done import SYSTEM_PORT, drain, is_done
from lamigo_gr.support.pdu import fits_pdu, make_pdu, read_input_pdu
from lamigo_gr.support.report import PacketTally, packets_text, place_text

logger = logging.getLogger(__name__)

MAX_REFUSAL_CAUSES = 32  #: causes of refusals told apart (and each logged once); others counted together


def _connect(context: zmq.Context, kind: int, address: str, max_frame_bytes: int = -1) -> zmq.Socket:
    socket = context.socket(kind)
    socket.setsockopt(zmq.LINGER, 1000)  # never hang at exit on messages nobody takes
    # A peer sending a larger frame is disconnected by ZMQ before the frame takes memory.
    socket.setsockopt(zmq.MAXMSGSIZE, max_frame_bytes)
    try:
        socket.connect(address)
    except zmq.ZMQError as err:
        socket.close()
        raise ConfigError(f"cannot connect to {address!r}: {err}") from None
    return socket


class decoder_client(gr.basic_block):  # noqa: N801 (GNU Radio block naming)
    """Sends each GO message PDU on `in` to the decoder service (`lamigo serve`) as one
    multipart message of the service wire format (`lamigo.service.wire`: JSON header, GO
    message, lost-token bitmap) on a PUSH socket connected to `address`.

    It takes the depacketizer's output (lost tokens in the `lost_map` metadata, link statistics
    forwarded in the header) or the image source's (nothing lost), and forwards the GO
    message bytes as they are: the service parses and checks them, so this block needs no
    model set. With `results_address`
    it subscribes to the service's results: each result whose PNG decodes to an RGB image of the
    size its record gives, of at most `max_result_pixels`, is saved as
    `output_folder/message_NNNNN.png` (when a folder is given) and emitted on `decoded` as a PDU
    of PNG bytes with the service's record as metadata. A message the service refused (another
    model set on the sending end, a message over its limits, a failed batch) comes back as a
    refusal (`lamigo.service.wire.Refusal`): counted in `refused` and per cause in
    `refusal_causes`, and each cause logged once as an error on the block's GNU Radio logger, so
    whoever started the flowgraph reads it. The logger also prints one line per message (its id,
    packets received and lost, tokens regenerated, where the image went; without
    `results_address`, as it is sent) and a summary when the block stops (the flowgraph's end or
    Ctrl+C; `lamigo_gr.support.report`). Bad input is counted and logged; a
    frame larger than such a PNG can be closes the connection before it takes memory (ZMQ's
    maxmsgsize), and the block connects again.

    Args:
        address: where the service takes messages (it binds PULL there).
        results_address: where the service publishes results; empty = do not listen.
        output_folder: folder for the decoded PNGs; empty = do not save.
        wait_results: seconds to wait, once the flowgraph is done, for results still due.
        max_result_pixels: largest result image accepted (default 1024x1024, the largest the
            service decodes by default).
    """

    def __init__(
        self,
        address: str = DEFAULT_MESSAGES_ADDRESS,
        results_address: str = "",
        output_folder: str = "",
        wait_results: float = 30.0,
        max_result_pixels: int = DEFAULT_MAX_RESULT_PIXELS,
    ) -> None:
        gr.basic_block.__init__(self, name="lamigo_decoder_client", in_sig=None, out_sig=None)
        self.output_folder = Path(output_folder).expanduser() if output_folder else None
        self.wait_results = wait_results
        if max_result_pixels < 1:
            raise ConfigError(f"max_result_pixels must be at least 1, got {max_result_pixels}")
        self.max_result_pixels = max_result_pixels
        self.messages_sent = 0
        self.messages_dropped = 0  #: the send queue was full (the service is not keeping up)
        self.rejected = 0  #: input that was not a valid GO message PDU
        self.results_received = 0
        self.results_rejected = 0
        self.refused = 0  #: messages the service answered with a refusal
        #: refusals per cause (the service's reason), at most MAX_REFUSAL_CAUSES causes
        self.refusal_causes: dict[str, int] = {}
        self.results_connections_dropped = 0  #: ZMQ dropped the results link (an oversized frame)
        self.save_failed = 0  #: decoded images that could not be written to the output folder
        self.saved: list[Path] = []
        self.packets = PacketTally()  #: packets of the messages sent, from the depacketizer's metadata
        self._log = RateLimitedLog(logger)
        self._pending: set[int] = set()
        self._pending_changed = threading.Condition()
        self._context = zmq.Context.instance()
        self._push = _connect(self._context, zmq.PUSH, address)
        self._sub = self._monitor = None
        self._results_address = results_address
        if results_address:
            self._sub = _connect(self._context, zmq.SUB, results_address, max_png_bytes(max_result_pixels))
            self._sub.setsockopt(zmq.SUBSCRIBE, b"")
            # ZMQ ends a connection that brought an oversized frame for good: seen here, made again
            self._monitor = self._sub.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        self._stop = threading.Event()
        self._receiver: threading.Thread | None = None
        self.message_port_register_in(pmt.intern("in"))
        self.message_port_register_out(pmt.intern("decoded"))
        self.set_msg_handler(pmt.intern("in"), self._handle)
        self.set_msg_handler(SYSTEM_PORT, self._system)

    def start(self) -> bool:
        self._stop.clear()
        if self._sub is not None:
            self._receiver = threading.Thread(target=self._receive, name="lamigo_decoder_client", daemon=True)
            self._receiver.start()
        return True

    def stop(self) -> bool:
        """Closes the sockets (a stopped client is not started again) and prints the summary."""
        self._stop.set()
        if self._receiver is not None:
            self._receiver.join(timeout=5)
            self._receiver = None
        self.logger.info(self.summary())
        self._push.close()
        if self._sub is not None:
            self._sub.disable_monitor()
            self._monitor.close()
            self._sub.close()
        return True

    def summary(self) -> str:
        """"decoder client: 3 messages sent (118/120 packets received), 2 decoded, ..."."""
        text = f"decoder client: {self.messages_sent} messages sent ({self.packets.text()})"
        if self._sub is None:
            return f"{text}, {self.messages_dropped} dropped (results not listened to)"
        with self._pending_changed:
            waiting = len(self._pending)
        text += (f", {self.results_received} decoded, {self.refused} refused, {self.messages_dropped} dropped, "
                 f"{waiting} without a result")
        return text + (f"; images in {self.output_folder}" if self.output_folder is not None else "; images not saved")

    def _handle(self, msg: pmt.pmt_base) -> None:
        def parse(meta: dict, data: bytes) -> tuple[list[bytes], int, dict]:
            default_id = self.messages_sent % 0x10000
            frames = pdu_frames(meta, data, default_id=default_id)
            return frames, meta.get("message_id", default_id), meta  # checked by pdu_frames

        parsed = read_input_pdu(msg, parse, self._count_rejected, self._log)
        if parsed is None:
            return
        frames, message_id, meta = parsed
        with self._pending_changed:  # before sending: the result may come back at once
            self._pending.add(message_id)
        try:
            self._push.send_multipart(frames, flags=zmq.NOBLOCK)
        except zmq.ZMQError as err:  # zmq.Again: the queue is full, the service not keeping up
            self.messages_dropped += 1
            self._log.warning("message %d dropped: %s", message_id, err)
            with self._pending_changed:
                self._pending.discard(message_id)
            return
        self.messages_sent += 1
        link = meta if "packets_expected" in meta else None  # checked whole by pdu_frames
        self.packets.add(link)
        if self._sub is None:
            tokens = None
            if link:
                tokens = (f"{int(meta['tokens_masked_by_policy']) + int(meta['tokens_lost'])} of "
                          f"{int(meta['tokens_masked_by_policy']) + int(meta['tokens_sent'])} tokens to regenerate")
            self.logger.info(_message_line(message_id, link, tokens,
                                           "sent to the decoder service (results not listened to)"))

    def _count_rejected(self) -> None:
        self.rejected += 1

    def _receive(self) -> None:
        poller = zmq.Poller()
        poller.register(self._sub, zmq.POLLIN)
        poller.register(self._monitor, zmq.POLLIN)
        while not self._stop.is_set():
            ready = dict(poller.poll(100))
            if self._monitor in ready:
                self._reconnect()
            if self._sub not in ready:
                continue
            try:
                # checks the message id, and the PNG against the record's size and our limit
                reply = parse_reply(self._sub.recv_multipart(), self.max_result_pixels)
                if isinstance(reply, Refusal):
                    self._refused(reply)
                else:
                    self._deliver(*reply)
            except LamigoError as err:
                self.results_rejected += 1
                self._log.warning("dropped result: %s", err)
            except Exception:  # the receiver thread must outlive any one result
                self.results_rejected += 1
                self._log.exception("result could not be handled")

    def _reconnect(self) -> None:
        recv_monitor_message(self._monitor)
        self.results_connections_dropped += 1
        self._log.warning("the results connection closed (a frame over %d bytes, or the service went away): "
                          "connecting again", self._sub.getsockopt(zmq.MAXMSGSIZE))
        try:
            self._sub.disconnect(self._results_address)
        except zmq.ZMQError:  # already gone
            pass
        self._sub.connect(self._results_address)

    def _refused(self, refusal: Refusal) -> None:
        self.refused += 1
        cause = refusal.reason
        if cause in self.refusal_causes:
            self.refusal_causes[cause] += 1
        elif len(self.refusal_causes) < MAX_REFUSAL_CAUSES:
            self.refusal_causes[cause] = 1
            service = f"the decoder service ({refusal.model_set})" if refusal.model_set else "the decoder service"
            self.logger.error(f"{service} refused message {refusal.message_id}: {cause} (said once per cause; "
                              "the others are counted)")
        else:
            self._log.warning("the decoder service refused message %d: %s", refusal.message_id, cause)
        self._done_with(refusal.message_id)

    def _done_with(self, message_id: int) -> None:
        with self._pending_changed:
            self._pending.discard(message_id)
            self._pending_changed.notify_all()

    def _deliver(self, record: dict, png: bytes) -> None:
        message_id = record["message_id"]
        self.results_received += 1
        path = None
        if self.output_folder is not None:
            path = save_numbered_png(png, self.output_folder, "message", message_id)
            if path is None:
                self.save_failed += 1
            else:
                self.saved.append(path)
        link = record.get("link")
        self.logger.info(_message_line(message_id, link if _is_link(link) else None, _regenerated(record),
                                       place_text(path, self.output_folder), record.get("decode_seconds")))
        try:
            meta = {key: value for key, value in record.items() if fits_pdu(value)}
            self.message_port_pub(pmt.intern("decoded"), make_pdu(png, meta))
        finally:
            self._done_with(message_id)

    def _system(self, msg: pmt.pmt_base) -> None:
        if is_done(msg):
            drain(self, "in", self._handle)
            if self._sub is not None:
                self._wait_for_results()
        self.to_basic_block().system_handler(msg)

    def _wait_for_results(self) -> None:
        deadline = time.monotonic() + self.wait_results
        with self._pending_changed:
            while self._pending and (left := deadline - time.monotonic()) > 0:
                self._pending_changed.wait(left)
            if self._pending:
                self.logger.warn(f"no result for messages {sorted(self._pending)} within {self.wait_results} s")


def _count(record: dict, key: str) -> int | None:
    value = record.get(key)
    return value if type(value) is int and value >= 0 else None


def _is_link(link: object) -> bool:
    return isinstance(link, dict) and all(_count(link, key) is not None for key in ("packets_expected",
                                                                                     "packets_received"))


def _regenerated(record: dict) -> str | None:
    """"120 of 256 tokens regenerated": the tokens the denoiser filled (masked by the policy or lost)."""
    masked, lost, tokens = (_count(record, key) for key in ("tokens_masked_by_policy", "tokens_lost", "tokens"))
    return None if None in (masked, lost, tokens) else f"{masked + lost} of {tokens} tokens regenerated"


def _message_line(message_id: int, link: dict | None, tokens: str | None, place: str, seconds: object = None) -> str:
    """"message 3: 40/42 packets received (2 lost), 120 of 256 tokens regenerated, decoded in 1.2 s, saved ..."."""
    parts = [packets_text(link["packets_received"], link["packets_expected"]) if link else "no link statistics"]
    if tokens is not None:
        parts.append(tokens)
    if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and 0 <= seconds < 1e6:
        parts.append(f"decoded in {seconds:.1f} s")
    return f"message {message_id}: " + ", ".join(parts + [place])
