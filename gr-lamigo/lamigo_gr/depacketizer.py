"""Depacketizer: link packet PDUs in, one reassembled GO message PDU per message out."""

from __future__ import annotations

import json
import logging
import threading

import numpy as np
import pmt
from gnuradio import gr

from lamigo.errors import LamigoError
from lamigo.link import Reassembler, ReceivedMessage
from lamigo.models.index_prior import model_set_index_prior
from lamigo.service.wire import received_frames
from lamigo_gr.done import SYSTEM_PORT, drain, is_done
from lamigo_gr.pdu import make_pdu, split_pdu

logger = logging.getLogger(__name__)


class depacketizer(gr.basic_block):  # noqa: N801 (GNU Radio block naming)
    """Collects packet PDUs on `in` (CRC-checked by `lamigo.link.Reassembler`) and emits one PDU
    on `out` per message that completed (all packets arrived) or timed out (no packet for
    `timeout` seconds), and for every message still open when the flowgraph signals done.

    Output PDU: the GO message as it arrived (`lamigo.message.pack_message`, index 0 standing in
    for lost tokens), with metadata: the service wire header fields (`message_id`, `tokens`,
    `tokens_lost`, `packets_expected`, `packets_received`, `packets_lost`, `index_groups_lost`,
    `caption_chunks_lost`, ...) and `lost_map`, the np.packbits bitmap of lost tokens (row-major
    over the latent grid). Damaged or foreign packets are counted in `stats`, never raised.

    Args:
        timeout: seconds without a packet after which a message completes with what it has.
        max_in_flight: messages collected at once.
        model_set, weights: whose index prior the coders use (as at the source).
    """

    def __init__(
        self, timeout: float = 2.0, max_in_flight: int = 16, model_set: str = "tiny", weights: str = ""
    ) -> None:
        gr.basic_block.__init__(self, name="lamigo_depacketizer", in_sig=None, out_sig=None)
        self.prior = model_set_index_prior(model_set, weights or None)
        self.reassembler = Reassembler(self.prior, timeout=timeout, max_in_flight=max_in_flight)
        self.pdus_rejected = 0  #: inputs that were not PDUs (bad packets count in `stats`)
        self.messages_out = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None
        self.message_port_register_in(pmt.intern("in"))
        self.message_port_register_out(pmt.intern("out"))
        self.set_msg_handler(pmt.intern("in"), self._handle)
        # Messages still open when the upstream blocks finish are flushed before this one does.
        self.set_msg_handler(SYSTEM_PORT, self._system)

    @property
    def stats(self):
        """`lamigo.link.ReassemblerStats`: packets accepted and rejected, messages completed."""
        return self.reassembler.stats

    def start(self) -> bool:
        self._stop.clear()
        self._timer = threading.Thread(target=self._expire_loop, name="lamigo_depacketizer", daemon=True)
        self._timer.start()
        return True

    def stop(self) -> bool:
        self._stop.set()
        if self._timer is not None:
            self._timer.join(timeout=5)
        return True

    def _handle(self, msg: pmt.pmt_base) -> None:
        try:
            _, data = split_pdu(msg)
        except LamigoError as err:
            self.pdus_rejected += 1
            logger.warning("dropped input: %s", err)
            return
        with self._lock:
            completed = self.reassembler.push(data)
        self._publish(completed)

    def _expire_loop(self) -> None:
        period = min(0.25, self.reassembler.timeout / 4)
        while not self._stop.wait(period):
            with self._lock:
                completed = self.reassembler.expire()
            self._publish(completed)

    def _system(self, msg: pmt.pmt_base) -> None:
        if is_done(msg):
            drain(self, "in", self._handle)
            with self._lock:
                completed = self.reassembler.flush()
            self._publish(completed)
        self.to_basic_block().system_handler(msg)

    def _publish(self, messages: list[ReceivedMessage]) -> None:
        for received in messages:
            header, data, lost_map = received_frames(received, self.prior)
            meta = json.loads(header) | {"lost_map": np.frombuffer(lost_map, dtype=np.uint8)}
            stats = received.stats
            logger.info("message %d: %d/%d packets, %d of %d sent tokens lost", received.message_id,
                        stats.packets_received, stats.packets_expected, stats.tokens_lost, stats.tokens_sent)
            self.messages_out += 1
            self.message_port_pub(pmt.intern("out"), make_pdu(data, meta))
