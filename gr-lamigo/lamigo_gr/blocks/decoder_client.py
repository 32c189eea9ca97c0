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
    max_png_bytes,
    parse_result,
    pdu_frames,
)
from lamigo_gr.support.done import SYSTEM_PORT, drain, is_done
from lamigo_gr.support.pdu import fits_pdu, make_pdu, read_input_pdu

logger = logging.getLogger(__name__)


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
    of PNG bytes with the service's record as metadata. Bad input is counted and logged; a
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
        self.results_connections_dropped = 0  #: ZMQ dropped the results link (an oversized frame)
        self.save_failed = 0  #: decoded images that could not be written to the output folder
        self.saved: list[Path] = []
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
        """Closes the sockets: a stopped client is not started again."""
        self._stop.set()
        if self._receiver is not None:
            self._receiver.join(timeout=5)
            self._receiver = None
        self._push.close()
        if self._sub is not None:
            self._sub.disable_monitor()
            self._monitor.close()
            self._sub.close()
        return True

    def _handle(self, msg: pmt.pmt_base) -> None:
        def parse(meta: dict, data: bytes) -> tuple[list[bytes], int]:
            default_id = self.messages_sent % 0x10000
            frames = pdu_frames(meta, data, default_id=default_id)
            return frames, meta.get("message_id", default_id)  # checked by pdu_frames

        parsed = read_input_pdu(msg, parse, self._count_rejected, self._log)
        if parsed is None:
            return
        frames, message_id = parsed
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
                record, png = parse_result(self._sub.recv_multipart(), self.max_result_pixels)
                self._deliver(record, png)
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

    def _deliver(self, record: dict, png: bytes) -> None:
        message_id = record["message_id"]
        self.results_received += 1
        if self.output_folder is not None:
            path = save_numbered_png(png, self.output_folder, "message", message_id)
            if path is None:
                self.save_failed += 1
            else:
                self.saved.append(path)
                logger.info("message %d decoded: saved %s", message_id, path)
        try:
            meta = {key: value for key, value in record.items() if fits_pdu(value)}
            self.message_port_pub(pmt.intern("decoded"), make_pdu(png, meta))
        finally:
            with self._pending_changed:
                self._pending.discard(message_id)
                self._pending_changed.notify_all()

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
                logger.warning("no result for messages %s", sorted(self._pending))
