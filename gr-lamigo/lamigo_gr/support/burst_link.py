"""A modem's packets through a channel and back, in two steps that PER measurements and modem
tests share: `modulate` runs a Tx hier block (PDUs in on message port `in`, complex baseband
out) over a list of packets once and keeps its samples and their mean power; `demodulate` runs
those samples, then silence that flushes the receiver, through a channel block into an Rx hier
block (complex baseband in, packet PDUs out on `out`) and returns what arrived, with metadata.

Modulating once and demodulating the same samples at every SNR and seed is what makes a sweep
cheap, and the measured mean power is the P of the channel's SNR definition
(`lamigo_gr.blocks.channels`), so the stated SNR holds for whatever the modem emits.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pmt
from gnuradio import blocks, gr

from lamigo_gr.blocks.channels import mean_power
from lamigo_gr.support.pdu import make_pdu, split_pdu


class _relay(gr.basic_block):
    """A message port to post PDUs from Python into a hier block's message input."""

    def __init__(self) -> None:
        gr.basic_block.__init__(self, "burst_link_relay", None, None)
        self.message_port_register_in(pmt.intern("in"))
        self.message_port_register_out(pmt.intern("out"))
        self.set_msg_handler(pmt.intern("in"), self._handle)

    def _handle(self, msg) -> None:
        self.message_port_pub(pmt.intern("out"), msg)


class _samples_then_silence(gr.sync_block):
    """The samples, then `flush` zeros, then nothing, without ending: a source that ends would
    end the flowgraph while the receiver's header/payload demux still waits for its parser's
    answer about the last burst."""

    def __init__(self, samples: np.ndarray, flush: int) -> None:
        gr.sync_block.__init__(self, "burst_link_source", None, [np.complex64])
        self.data = np.concatenate([samples.astype(np.complex64), np.zeros(flush, np.complex64)])
        self.position = 0

    def work(self, input_items, output_items):
        out = output_items[0]
        n = min(len(out), self.data.size - self.position)
        if n <= 0:
            time.sleep(0.01)  # idle without spinning
            return 0
        out[:n] = self.data[self.position:self.position + n]
        self.position += n
        return n

    @property
    def finished(self) -> bool:
        return self.position >= self.data.size


@dataclass(frozen=True)
class Bursts:
    """A Tx block's baseband for a list of packets: the samples and their mean power per sample
    while transmitting (the silence between bursts, exact zeros, left out)."""

    samples: np.ndarray
    packets: tuple[bytes, ...]

    @property
    def power(self) -> float:
        return mean_power(self.samples[self.samples != 0])


def _settle(count: Callable[[], int], expected: int, timeout: float, poll: float = 0.05,
            begun: bool = False) -> None:
    """Wait until `count()` reaches `expected`, or has begun (or `begun`) and then stopped
    growing for a second, at most `timeout` s."""
    deadline, last, still = time.monotonic() + timeout, -1, 0.0
    while time.monotonic() < deadline:
        now = count()
        if now >= expected:
            return
        still = still + poll if now == last and (now > 0 or begun) else 0.0
        if still >= 1.0:
            return
        last = now
        time.sleep(poll)


def _held_blocks(holder: object, seen: set[int]) -> list:
    """The GNU Radio blocks (hierarchical or not) held by `holder`'s attributes, depth first, each once."""
    found = []
    for value in vars(holder).values() if hasattr(holder, "__dict__") else ():
        if id(value) not in seen and (isinstance(value, gr.hier_block2) or hasattr(value, "set_detail")
                                      or hasattr(value, "to_basic_block")):
            seen.add(id(value))
            found += [value, *_held_blocks(value, seen)]
    return found


def release(top_block: gr.top_block, *blocks_: gr.basic_block | gr.hier_block2 | None) -> None:
    """Free a finished (stopped) flowgraph's stream buffers now. GNU Radio keeps a block's buffers
    (SysV shared-memory segments, a few thousand per machine) in its block detail for as long as
    the block lives, and Python blocks and hier blocks live on in reference cycles (a hier block
    wired to its own ports, a message handler bound to its block), so a process that runs many
    flowgraphs (a sweep, the test suite) ran out of segments. This disconnects the flowgraph and
    every hierarchical block, and drops the detail of every block: those given and every block
    the top block or they hold as attributes (as a generated flowgraph's top block, `modem_tx`
    and `modem_rx` hold theirs). The blocks' Python state (counters, stored messages) stays."""
    seen: set[int] = set()
    held = _held_blocks(top_block, seen)
    for block in blocks_:
        if block is not None and id(block) not in seen:
            seen.add(id(block))
            held += [block, *_held_blocks(block, seen)]
    top_block.disconnect_all()
    for block in held:
        if isinstance(block, gr.hier_block2):
            block.disconnect_all()
    for block in held:
        for target in (block, getattr(block, "_impl", None)):  # a Python hier block's C++ side
            if target is not None and hasattr(target, "set_detail"):
                target.set_detail(None)


def modulate(tx: gr.hier_block2, packets: Sequence[bytes], timeout: float = 60.0) -> Bursts:
    """Run `tx` over `packets` (one PDU each, in order); its output samples."""
    top_block = gr.top_block()
    relay, sink = _relay(), blocks.vector_sink_c()
    top_block.msg_connect(relay, "out", tx, "in")
    top_block.connect(tx, sink)
    top_block.start()
    for packet in packets:
        relay.to_basic_block()._post(pmt.intern("in"), make_pdu(bytes(packet)))
    # each packet becomes samples: wait until the output stops growing
    _settle(lambda: len(sink.data()), 1 << 62, timeout, poll=0.1)
    top_block.stop()
    top_block.wait()
    release(top_block, tx)
    return Bursts(np.array(sink.data(), dtype=np.complex64), tuple(bytes(p) for p in packets))


def demodulate(bursts: Bursts | np.ndarray, rx: gr.hier_block2, channel: gr.hier_block2 | None = None,
               flush: int = 20_000, expected: int | None = None,
               timeout: float = 60.0) -> list[tuple[bytes, dict[str, Any]]]:
    """Run the samples (then `flush` zeros) through `channel` (none: straight) into `rx`; the
    packets it delivered, in order, each with its metadata dict."""
    samples = bursts.samples if isinstance(bursts, Bursts) else np.asarray(bursts, dtype=np.complex64)
    top_block = gr.top_block()
    source = _samples_then_silence(samples, flush)
    received = blocks.message_debug()
    if channel is None:
        top_block.connect(source, rx)
    else:
        top_block.connect(source, channel, rx)
    top_block.msg_connect(rx, "out", received, "store")
    top_block.start()
    deadline = time.monotonic() + timeout
    while not source.finished and time.monotonic() < deadline:
        time.sleep(0.05)
    limit = expected if expected is not None else (len(bursts.packets) if isinstance(bursts, Bursts) else 1 << 62)
    _settle(received.num_messages, limit, timeout, begun=True)
    top_block.stop()
    top_block.wait()
    release(top_block, rx, channel)
    out = []
    for i in range(received.num_messages()):
        meta, data = split_pdu(received.get_message(i))
        out.append((data, meta))
    return out


__all__ = ["Bursts", "demodulate", "modulate", "release"]
