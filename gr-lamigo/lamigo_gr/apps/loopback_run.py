"""One run of flowgraphs/loopback_sim.grc (a GO message) or flowgraphs/loopback_classical.grc (a
classical file) from Python, and what it carried (`LoopbackResult`). The SNR sweep
(`lamigo_gr.apps.sweep`) and the demo run it; `lamigo_gr.apps.loopback` is the sweep's command.

    from lamigo_gr.apps.loopback import run_loopback
    result = run_loopback(images="photo:coffee", size="64x64", modem="psk-cc", snr_db=3.0)
    print(result.packet_error_rate)

Every parameter not given takes the flowgraph's own default (its GRC parameter blocks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pmt

from lamigo.message import CODEC_NAME
from lamigo_gr.apps.flowgraphs import BUILD_DIR, load_top_block_class

__all__ = ["CLASSICAL_FLOWGRAPH", "FLOWGRAPH", "LoopbackResult", "run_loopback"]

FLOWGRAPH = "loopback_sim"
CLASSICAL_FLOWGRAPH = "loopback_classical"


@dataclass
class LoopbackResult:
    """What one run of a loopback flowgraph carried."""

    messages_sent: int
    packets_sent: int
    packets_received: int  #: arrived intact (radio CRC and link CRCs)
    packets_rejected: int  #: passed the radio CRC but not the link layer
    messages_received: int  #: reassembled and sent to the decoder service; a classical file: decoded
    messages_failed: int  #: lost with their control block (a classical file: its header block)
    bytes_on_air: int = 0  #: the link packets sent, headers and CRCs included (before framing)
    sent: list[bytes] = field(default_factory=list, repr=False)  #: the GO messages or files, as sent
    sent_meta: list[dict] = field(default_factory=list, repr=False)  #: the source's metadata of each
    packets: list[bytes] = field(default_factory=list, repr=False)  #: the link packets, as sent
    arrived: list[bytes] = field(default_factory=list, repr=False)  #: what the demodulator passed on
    #: what the receiving end emitted, (metadata, bytes): the depacketizer's GO messages as they
    #: arrived, or the Classical Receiver's images (PNG)
    received: list[tuple[dict, bytes]] = field(default_factory=list, repr=False)
    link_config: Any = field(default=None, repr=False)  #: the packetizer's `lamigo.link.LinkConfig`

    @property
    def lost_slots(self) -> frozenset[int]:
        """Positions in the sent packet stream of the packets that did not arrive intact."""
        arrived = set(self.arrived)
        return frozenset(slot for slot, packet in enumerate(self.packets) if packet not in arrived)

    @property
    def packet_error_rate(self) -> float:
        return 1.0 - self.packets_received / self.packets_sent if self.packets_sent else 0.0

    def as_dict(self) -> dict[str, Any]:
        hidden = ("sent", "sent_meta", "packets", "arrived", "received", "link_config")
        counts = {key: value for key, value in self.__dict__.items() if key not in hidden}
        return {**counts, "packet_error_rate": round(self.packet_error_rate, 4)}


def _pdus(store) -> list[tuple[dict, bytes]]:
    from lamigo_gr.support.pdu import split_pdu

    return [split_pdu(store.get_message(i)) for i in range(store.num_messages())]


def _payloads(store) -> list[bytes]:
    return [bytes(pmt.u8vector_elements(pmt.cdr(store.get_message(i)))) for i in range(store.num_messages())]


def run_loopback(build_dir: str | Path = BUILD_DIR, codec: str = CODEC_NAME, **parameters: Any) -> LoopbackResult:
    """Run flowgraphs/loopback_sim.grc to its end (`codec` lami-go), or with a classical `codec` (jpeg, jpeg-rst,
    jpeg2000) flowgraphs/loopback_classical.grc, which sends each image as that codec's file
    within `budget` bytes on air through the same modem and channel into the Classical Receiver
    (compiled into `build_dir` when needed). `parameters` are the flowgraph's GRC parameters
    (see `flowgraph_parameters`); the others keep its defaults. loopback_sim sends the received
    messages to the decoder service at `service` (PUSH: they wait in the socket's queue, up to a
    second at the end, when no service runs)."""
    from gnuradio import blocks

    from lamigo_gr.support.burst_link import release

    go = codec == CODEC_NAME
    name = FLOWGRAPH if go else CLASSICAL_FLOWGRAPH
    if not go:
        parameters["codec"] = codec
    top_block = load_top_block_class(name, build_dir)(**parameters)
    receiver = top_block.depacketizer if go else top_block.classical_receiver
    # what the source, packetizer, demodulator and receiver emit, recorded beside the flowgraph's own connections
    sent, packets, arrived, received = (blocks.message_debug() for _ in range(4))
    top_block.msg_connect(top_block.go_source, "out", sent, "store")
    top_block.msg_connect(top_block.packetizer, "out", packets, "store")
    top_block.msg_connect(top_block.modem_rx, "out", arrived, "store")
    top_block.msg_connect(receiver, "out", received, "store")
    top_block.start()
    try:
        top_block.wait()
    finally:
        # the messages recorded stay readable; GNU Radio's buffers go now, not at the process's end
        top_block.stop()
        release(top_block)
    outputs = _pdus(received)
    if go:
        stats = receiver.stats
        counts = dict(packets_received=stats.packets_accepted, packets_rejected=stats.packets_rejected,
                      messages_received=top_block.decoder_client.messages_sent,
                      messages_failed=stats.messages_failed)
    else:
        counts = dict(packets_received=sum(meta["packets_received"] for meta, _ in outputs),
                      packets_rejected=receiver.rejected,
                      messages_received=sum(bool(meta["decoded_ok"]) for meta, _ in outputs),
                      messages_failed=sum(bool(meta["header_lost"]) for meta, _ in outputs))
    sent_pdus = _pdus(sent)
    return LoopbackResult(
        messages_sent=top_block.go_source.messages_sent,
        packets_sent=top_block.packetizer.packets_out,
        **counts,
        bytes_on_air=sum(len(packet) for packet in _payloads(packets)),
        sent=[data for _, data in sent_pdus],
        sent_meta=[meta for meta, _ in sent_pdus],
        packets=_payloads(packets),
        arrived=_payloads(arrived),
        received=outputs,
        link_config=top_block.packetizer.config,
    )
