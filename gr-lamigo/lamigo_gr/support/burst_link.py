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


def release(top_block: gr.top_block, *hier_blocks: gr.hier_block2 | None) -> None:
    """Disconnect a finished flowgraph and its hierarchical blocks. A Python hier block wired to
    its own ports holds itself (a shared-pointer cycle), so without this every run keeps its
    blocks and their stream buffers (shared-memory segments, a few thousand per machine) until
    the process ends; a sweep of many runs would run out of them."""
    top_block.disconnect_all()
    for block in hier_blocks:
        if block is not None:
            block.disconnect_all()


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
