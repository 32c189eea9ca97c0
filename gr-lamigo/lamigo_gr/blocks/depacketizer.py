"""Depacketizer: link packet PDUs in, one reassembled GO message PDU per message out."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import numpy as np
import pmt
from gnuradio import gr

from lamigo.errors import LamigoError
from lamigo.link import LinkKey, Reassembler
from lamigo.link.collector import DEFAULT_MAX_IN_FLIGHT, DEFAULT_TIMEOUT
from lamigo.message import DEFAULT_MAX_TOKENS, ReceivedMessage, ReceiverLimits, pack_message
from lamigo.models.index_prior import model_set_codebook_size, model_set_index_prior
from lamigo_gr.support.done import SYSTEM_PORT, drain, is_done
from lamigo_gr.support.expiry_timer import ExpiryTimer
from lamigo_gr.support.pdu import RateLimitedLog, make_pdu, split_pdu

logger = logging.getLogger(__name__)


class depacketizer(gr.basic_block):  # noqa: N801 (GNU Radio block naming)
    """Collects packet PDUs on `in` (CRC-checked by `lamigo.link.Reassembler`) and emits one PDU
    on `out` per message that completed (all packets arrived), timed out (no packet for
    `timeout` seconds) or grew too old, and for every message still open when the flowgraph
    signals done.

    Output PDU: the GO message as it arrived (`lamigo.message.pack_message`, index 0 standing in
    for lost tokens; its indices coded with the pre-shared prior's code, not with an image table
    fitted again, which costs more than reassembling the message), with metadata:
    `message_id`, the link statistics (`packets_expected`,
    `packets_received`, `packets_lost`, `index_groups_lost`, `caption_chunks_lost`,
    `tokens_lost`, ...; `lamigo.message.LinkStats`) and `lost_map`, the np.packbits bitmap of
    lost tokens (row-major over the latent grid). Damaged, foreign or forged packets and
    messages beyond `max_tokens` are counted in `stats`, never raised; no input stops the block.

    The PDU is for other blocks and the wire (the decoder client forwards its bytes to the
    service unparsed). Code in the same process that wants the messages themselves registers
    with `add_listener` and gets each `lamigo.message.ReceivedMessage` as the object it is,
    never packed and parsed back.

    Args:
        timeout: seconds without a packet after which a message completes with what it has.
        max_in_flight: messages collected at once.
        model_set, weights: whose index prior the coders use (as at the source).
        max_tokens: largest latent (h' x w') accepted; larger messages are refused from their
            control block alone.
        link_key: file of the pre-shared packet-authentication key (`lamigo.link.auth`); empty
            accepts packets without authentication.
    """

    def __init__(
        self,
        timeout: float = DEFAULT_TIMEOUT,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        model_set: str = "tiny",
        weights: str = "",
        max_tokens: int = DEFAULT_MAX_TOKENS,
        link_key: str = "",
    ) -> None:
        gr.basic_block.__init__(self, name="lamigo_depacketizer", in_sig=None, out_sig=None)
        self.prior = model_set_index_prior(model_set, weights or None)
        limits = ReceiverLimits(max_tokens=max_tokens,
                                codebook_size=model_set_codebook_size(model_set, self.prior))
        key = LinkKey.load(link_key) if link_key else None
        self.reassembler = Reassembler(self.prior, limits=limits, key=key, timeout=timeout,
                                       max_in_flight=max_in_flight)
        self.pdus_rejected = 0  #: inputs that were not PDUs (bad packets count in `stats`)
        self.publish_failed = 0  #: reassembled messages that could not be packed again
        self.messages_out = 0
        self.listener_failed = 0  #: messages a listener raised on
        self._listeners: list[Callable[[ReceivedMessage], None]] = []
        self._log = RateLimitedLog(logger)
        self._lock = threading.Lock()
        self._timer = ExpiryTimer("lamigo_depacketizer", min(0.25, self.reassembler.timeout / 4),
                                  self._expire, self._log)
        self.message_port_register_in(pmt.intern("in"))
        self.message_port_register_out(pmt.intern("out"))
        self.set_msg_handler(pmt.intern("in"), self._handle)
        # Messages still open when the upstream blocks finish are flushed before this one does.
        self.set_msg_handler(SYSTEM_PORT, self._system)

    @property
    def stats(self):
        """`lamigo.link.ReassemblerStats`: packets accepted and rejected, messages completed."""
        return self.reassembler.stats

    def add_listener(self, listener: Callable[[ReceivedMessage], None]) -> None:
        """Call `listener` with every message this block completes, before its PDU goes out (in
        the block's thread: it should be quick). One that raises is logged and loses that
        message for itself only."""
        self._listeners.append(listener)

    def start(self) -> bool:
        self._timer.start()
        return True

    def stop(self) -> bool:
        self._timer.stop()
        return True

    def _handle(self, msg: pmt.pmt_base) -> None:
        try:
            _, data = split_pdu(msg)
        except LamigoError as err:
            self.pdus_rejected += 1
            self._log.warning("dropped input: %s", err)
            return
        try:
            with self._lock:
                completed = self.reassembler.push(data)
        except Exception:  # a bug met by one input must not stop the block
            self.pdus_rejected += 1
            self._log.exception("packet could not be handled")
            return
        self._publish(completed)

    def _expire(self) -> None:
        with self._lock:
            completed = self.reassembler.expire()
        self._publish(completed)

    def _system(self, msg: pmt.pmt_base) -> None:
        if is_done(msg):
            drain(self, "in", self._handle)
            try:
                with self._lock:
                    completed = self.reassembler.flush()
            except Exception:
                self._log.exception("flushing messages failed")
                completed = []
            self._publish(completed)
        self.to_basic_block().system_handler(msg)

    def _publish(self, messages: list[ReceivedMessage]) -> None:
        for received in messages:
            for listener in self._listeners:
                try:
                    listener(received)
                except Exception:  # a listener's bug loses it this message, not the block
                    self.listener_failed += 1
                    self._log.exception("a listener failed on message %d", received.message_id)
            try:
                data = pack_message(received.message, self.prior, table_weight=None)
                meta = {"message_id": received.message_id, **received.link.as_dict(),
                        "lost_map": np.packbits(received.lost.ravel())}
                pdu = make_pdu(data, meta)
            except Exception:  # one message that cannot be packed again loses itself only
                self.publish_failed += 1
                self._log.exception("message %d could not be passed on", received.message_id)
                continue
            stats = received.link
            logger.info("message %d: %d/%d packets, %d of %d sent tokens lost", received.message_id,
                        stats.packets_received, stats.packets_expected, stats.tokens_lost, stats.tokens_sent)
            self.messages_out += 1
            self.message_port_pub(pmt.intern("out"), pdu)
