"""What the two receiving blocks (the GO Depacketizer and the Classical Receiver) share, so that
each is only its own output: link packet PDUs on `in`, handed under a lock to a core receiver
(`lamigo.link.Reassembler` or `lamigo.link.classical.FileReceiver`, both on
`lamigo.link.collector`: `push`, `expire`, `flush`, `stats`); what completes by a packet, by the
clock (an `ExpiryTimer` from start() to stop()) or when the flowgraph signals done goes to the
block's `_publish`. No input stops the block: a bad PDU, a bug met by one packet or a failed
flush is counted and logged rate-limited."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pmt
from gnuradio import gr

from lamigo.errors import LamigoError
from lamigo.logs import RateLimitedLog
from lamigo_gr.support.done import SYSTEM_PORT, drain, is_done
from lamigo_gr.support.expiry_timer import ExpiryTimer
from lamigo_gr.support.pdu import pdu_payload


class packet_receiver_block(gr.basic_block):  # noqa: N801 (GNU Radio block naming)
    """Base of the receiving blocks. Subclasses call `__init__` with their block name, their core
    receiver, its timeout and their module's logger, and implement `_publish(completed)`."""

    def __init__(self, name: str, receiver: Any, timeout: float, logger: logging.Logger) -> None:
        gr.basic_block.__init__(self, name=name, in_sig=None, out_sig=None)
        self.receiver = receiver
        self.pdus_rejected = 0  #: inputs that were not PDUs (bad packets count in `stats`)
        self.publish_failed = 0  #: completed messages or files that could not be passed on
        self._log = RateLimitedLog(logger)
        self._lock = threading.Lock()
        self._timer = ExpiryTimer(name, min(0.25, timeout / 4), self._expire, self._log)
        self.message_port_register_in(pmt.intern("in"))
        self.message_port_register_out(pmt.intern("out"))
        self.set_msg_handler(pmt.intern("in"), self._handle)
        # What is still open when the upstream blocks finish is flushed before this block does.
        self.set_msg_handler(SYSTEM_PORT, self._system)

    @property
    def stats(self):
        """The core receiver's statistics: packets accepted, rejected and replayed, completions."""
        return self.receiver.stats

    def start(self) -> bool:
        self._timer.start()
        return True

    def stop(self) -> bool:
        self._timer.stop()
        return True

    def _publish(self, completed: list) -> None:
        raise NotImplementedError

    def _handle(self, msg: pmt.pmt_base) -> None:
        try:
            data = pdu_payload(msg)
        except LamigoError as err:
            self.pdus_rejected += 1
            self._log.warning("dropped input: %s", err)
            return
        try:
            with self._lock:
                rejected = self.stats.packets_rejected
                completed = self.receiver.push(data)
        except Exception:  # a bug met by one input must not stop the block
            self.pdus_rejected += 1
            self._log.exception("packet could not be handled")
            return
        if self.stats.packets_rejected > rejected:
            self._log.warning("dropped a packet that is damaged, foreign or not authenticated")
        self._publish(completed)

    def _expire(self) -> None:
        with self._lock:
            completed = self.receiver.expire()
        self._publish(completed)

    def _system(self, msg: pmt.pmt_base) -> None:
        if is_done(msg):
            drain(self, "in", self._handle)
            try:
                with self._lock:
                    completed = self.receiver.flush()
            except Exception:
                self._log.exception("flushing what was still open failed")
                completed = []
            self._publish(completed)
        self.to_basic_block().system_handler(msg)
