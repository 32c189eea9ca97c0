"""gr-lamigo: GNU Radio blocks that carry LaMI-GO messages (thin wrappers around the `lamigo` library).

The package is grouped by role, as gr-satellites groups its components:
- `lamigo_gr.blocks`: the blocks a flowgraph holds, one per file (their GRC YAML in `grc/`),
  with the modems in `lamigo_gr.blocks.modems`, one Tx/Rx pair of hierarchical blocks per file;
- `lamigo_gr.support`: what the blocks share (PDU conversion, the flowgraph's done message, the
  expiry timer), no blocks;
- `lamigo_gr.apps`: programs built on the blocks (the demo, the loopback runner and SNR sweep,
  the GNU Radio Companion launcher);
- `lamigo_gr.grc` and `lamigo_gr.flowgraphs`: the block YAML and the flowgraphs as package data
  (the repository's top-level `grc/` and `flowgraphs/` folders, installed with the package).

Blocks (message passing; PDUs are pmt pairs of a metadata dict and a u8vector):
`image_source` (images -> one encoded image each: a GO message, or a classical file),
`packetizer` (a GO message or classical file -> link packets), `depacketizer` (link packets ->
reassembled GO messages with their losses), `decoder_client` (GO messages -> the LaMI decoder
service over ZMQ, decoded images back) and `classical_receiver` (link packets of a classical
file -> its best-effort image). Modems: `gfsk_pdu_tx` (link packet PDUs -> GFSK baseband) and
`gfsk_pdu_rx` (baseband -> the packet PDUs that passed the CRC); named for their PDU ports, so
they are not mistaken for GNU Radio's stream-in `digital.gfsk_mod`/`gfsk_demod`.
"""

from lamigo_gr.blocks.classical_receiver import classical_receiver
from lamigo_gr.blocks.decoder_client import decoder_client
from lamigo_gr.blocks.depacketizer import depacketizer
from lamigo_gr.blocks.image_source import image_source
from lamigo_gr.blocks.modems.gfsk import gfsk_pdu_rx, gfsk_pdu_tx
from lamigo_gr.blocks.packetizer import packetizer
from lamigo_gr.support.gr_logging import quiet_debug_logging

quiet_debug_logging()  # Debian's GNU Radio logs every failed radio CRC at debug level

__all__ = ["classical_receiver", "decoder_client", "depacketizer", "gfsk_pdu_rx", "gfsk_pdu_tx", "image_source",
           "packetizer"]
