"""The end of a flowgraph as message blocks see it: GNU Radio posts ("done" . 1) to a block's
"system" port once its upstream blocks have finished. The scheduler may dispatch that before
input messages still queued, so blocks that act on done handle their input queue first."""

from __future__ import annotations

from collections.abc import Callable

import pmt
from gnuradio import gr

_DONE = pmt.intern("done")
SYSTEM_PORT = pmt.intern("system")


def done_message() -> pmt.pmt_base:
    """The message GNU Radio posts to a block's system port when its upstream blocks are done;
    a source that ends itself posts it to its own (`gr.basic_block._post(SYSTEM_PORT, ...)`)."""
    return pmt.cons(_DONE, pmt.from_long(1))


def is_done(msg: pmt.pmt_base) -> bool:
    """Whether a system-port message says the upstream blocks are done."""
    return pmt.is_pair(msg) and pmt.eqv(pmt.car(msg), _DONE)


def drain(block: gr.basic_block, port: str, handler: Callable[[pmt.pmt_base], None]) -> None:
    """Handle every message still queued on `block`'s input `port`, in order."""
    queue = block.to_basic_block()
    port_pmt = pmt.intern(port)
    while (msg := queue.delete_head_nowait(port_pmt)) is not None:
        handler(msg)
