"""A modem chosen by name: `modem_tx` / `modem_rx` hold the Tx or Rx hierarchical block of the
registry entry `modem` (`lamigo_gr.blocks.modems.MODEMS`), so a flowgraph or app takes the modem
as one option (`--modem NAME`) and a modem registered later drops in without a new block.

`modem_tx`: link packets (PDUs) on message port `in` -> complex baseband, one burst per packet.
`modem_rx`: complex baseband -> the packets that passed the modem's CRC on message port `out`,
with the metadata that modem gives; with `symbols`, also a complex output of the modem's
recovered symbols for a constellation display (PSK and OFDM: after timing, carrier recovery and
the equaliser; GFSK: the discriminator's soft symbol, +-1 on the real axis when clean).

Options of the modem itself (`options`) go to its Tx or Rx block as keyword arguments; both
ends must name the same modem and options that the two halves share.
"""

from __future__ import annotations

from typing import Any

import inspect

from gnuradio import blocks, gr

from lamigo_gr.blocks.modems import get_modem


class modem_tx(gr.hier_block2):
    """Link packets on message port `in` -> the named modem's baseband (complex)."""

    def __init__(self, modem: str = "gfsk", **options: Any) -> None:
        gr.hier_block2.__init__(self, "modem_tx", gr.io_signature(0, 0, 0), gr.io_signature(1, 1, gr.sizeof_gr_complex))
        self.message_port_register_hier_in("in")
        self.entry = get_modem(modem)
        self.modem = self.entry.tx(**options)
        self.msg_connect(self, "in", self.modem, "in")
        self.connect(self.modem, self)


class modem_rx(gr.hier_block2):
    """The named modem's baseband (complex) -> the packets that passed its CRC on `out`; with
    `symbols`, its recovered symbols (complex) on output 0."""

    def __init__(self, modem: str = "gfsk", symbols: bool = False, **options: Any) -> None:
        gr.hier_block2.__init__(self, "modem_rx", gr.io_signature(1, 1, gr.sizeof_gr_complex),
                                gr.io_signature(1, 1, gr.sizeof_gr_complex) if symbols else gr.io_signature(0, 0, 0))
        self.message_port_register_hier_out("out")
        self.entry = get_modem(modem)
        if symbols:  # the GFSK receiver calls its symbol output soft_symbols (real valued)
            name = "symbols" if "symbols" in inspect.signature(self.entry.rx).parameters else "soft_symbols"
            options[name] = True
        self.modem = self.entry.rx(**options)
        self.connect(self, self.modem)
        self.msg_connect(self.modem, "out", self, "out")
        if symbols:
            if self.modem.output_signature().sizeof_stream_item(0) == gr.sizeof_float:
                self.to_complex = blocks.float_to_complex(1)
                self.connect(self.modem, self.to_complex, self)
            else:
                self.connect(self.modem, self)


__all__ = ["modem_rx", "modem_tx"]
