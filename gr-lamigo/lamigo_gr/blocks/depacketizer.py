"""Depacketizer: link packet PDUs in, one reassembled GO message PDU per message out."""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pmt

from lamigo.link import LinkKey, Reassembler
from lamigo.link.collector import DEFAULT_MAX_IN_FLIGHT, DEFAULT_TIMEOUT
from lamigo.message import DEFAULT_MAX_TOKENS, ReceivedMessage, ReceiverLimits, pack_message
from lamigo.zoo.index_prior import model_set_codebook_size, model_set_index_prior
from lamigo_gr.support.packet_receiver import packet_receiver_block
from lamigo_gr.support.pdu import make_pdu

logger = logging.getLogger(__name__)


class depacketizer(packet_receiver_block):  # noqa: N801 (GNU Radio block naming)
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
        self.prior = model_set_index_prior(model_set, weights or None)
        limits = ReceiverLimits(max_tokens=max_tokens,
                                codebook_size=model_set_codebook_size(model_set, self.prior))
        key = LinkKey.load(link_key) if link_key else None
        packet_receiver_block.__init__(
            self, "lamigo_depacketizer",
            Reassembler(self.prior, limits=limits, key=key, timeout=timeout, max_in_flight=max_in_flight),
            timeout, logger)
        self.messages_out = 0
        self.listener_failed = 0  #: messages a listener raised on
        self._listeners: list[Callable[[ReceivedMessage], None]] = []

    @property
    def reassembler(self) -> Reassembler:
        """The core receiver (`lamigo.link.Reassembler`) this block adapts."""
        return self.receiver

    def add_listener(self, listener: Callable[[ReceivedMessage], None]) -> None:
        """Call `listener` with every message this block completes, before its PDU goes out (in
        the block's thread: it should be quick). One that raises is logged and loses that
        message for itself only."""
        self._listeners.append(listener)

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
