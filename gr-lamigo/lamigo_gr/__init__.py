"""gr-lamigo: GNU Radio blocks that carry LaMI-GO messages (wrappers around the `lamigo` library).

Blocks (message passing; PDUs are pmt pairs of a metadata dict and a u8vector):
`go_message_source` (images -> GO messages), `packetizer` (GO message -> link packets),
`depacketizer` (link packets -> reassembled GO messages with their losses) and
`decoder_client` (GO messages -> the LaMI decoder service over ZMQ, decoded images back) and
`classical_receiver` (link packets of a classical file -> its best-effort image).
The modem every flowgraph shares, two hierarchical blocks of GNU Radio's own blocks: `gfsk_mod`
(link packets -> GFSK baseband) and `gfsk_demod` (baseband -> the packets that passed the CRC).
"""

from lamigo_gr.classical_receiver import classical_receiver
from lamigo_gr.decoder_client import decoder_client
from lamigo_gr.depacketizer import depacketizer
from lamigo_gr.go_message_source import go_message_source
from lamigo_gr.modem import gfsk_demod, gfsk_mod
from lamigo_gr.packetizer import packetizer

__all__ = ["classical_receiver", "decoder_client", "depacketizer", "gfsk_demod", "gfsk_mod", "go_message_source", "packetizer"]
