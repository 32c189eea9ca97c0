"""A modem's guard of PDU lengths, shared by the PSK and OFDM modems: GNU Radio's FEC and
tagged-stream blocks throw, and stop their thread, on a PDU longer than they were built for."""

from __future__ import annotations

import logging

import pmt
from gnuradio import gr

from lamigo.logs import RateLimitedLog
from lamigo_gr.blocks.modems.coding import CRC_BYTES
from lamigo_gr.support.done import SYSTEM_PORT, drain, is_done

logger = logging.getLogger(__name__)


class length_guard(gr.basic_block):  # noqa: N801 (GNU Radio block naming)
    """PDUs on `in` -> those of `min_items` to `max_items` items on `out`; longer ones dropped
    with a rate-limited warning (GNU Radio's FEC and tagged-stream blocks throw, and stop their
    thread, on a PDU longer than they were built for), shorter ones silently (the empty packet
    that flushes a receiver at the end of a stream).

    With `flush_on_done`, when the flowgraph's upstream is done the block sends an empty packet
    with its CRC after the queued ones: its frame trails the last real one, so the receiver, whose header
    and payload demux waits for each header's decoding, still takes in the last real frame
    before the stream ends (the flush frame itself may be lost with the stream's end)."""

    def __init__(self, min_items: int, max_items: int, what: str, flush_on_done: bool = False) -> None:
        gr.basic_block.__init__(self, "lamigo_length_guard", None, None)
        self.min_items, self.max_items, self.what, self.dropped = int(min_items), int(max_items), what, 0
        self._log = RateLimitedLog(logger)
        self.message_port_register_in(pmt.intern("in"))
        self.message_port_register_out(pmt.intern("out"))
        self.set_msg_handler(pmt.intern("in"), self._handle)
        if flush_on_done:
            self.set_msg_handler(SYSTEM_PORT, self._system)

    def _handle(self, msg) -> None:
        if not pmt.is_pair(msg) or not pmt.is_uniform_vector(pmt.cdr(msg)):
            self.dropped += 1
            self._log.warning("%s: dropped a message that is not a PDU", self.what)
            return
        length = pmt.length(pmt.cdr(msg))
        if length > self.max_items:
            self.dropped += 1
            self._log.warning("%s: dropped a PDU of %d items, more than the %d this modem was built for",
                              self.what, length, self.max_items)
        elif length >= self.min_items:
            self.message_port_pub(pmt.intern("out"), msg)

    def _system(self, msg) -> None:
        if is_done(msg):
            drain(self, "in", self._handle)
            # an empty packet with its CRC-32 (that of no bytes is 0)
            self.message_port_pub(pmt.intern("out"), pmt.cons(pmt.make_dict(), pmt.make_u8vector(CRC_BYTES, 0)))
        self.to_basic_block().system_handler(msg)
