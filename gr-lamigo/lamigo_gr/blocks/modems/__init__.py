"""The modems: each a pair of hierarchical blocks built from GNU Radio's own blocks, with one
interface, and one registry of them by name (`MODEMS`, `get_modem`).

- Tx half: link packet PDUs (pmt pair of a metadata dict and a u8vector) on message port `in`
  -> complex baseband on output 0, one burst per packet.
- Rx half: complex baseband on input 0 -> on message port `out`, the PDUs whose payload passed
  the modem's CRC, with per-packet metadata where the modem can give it (estimated SNR, CFO,
  soft-bit quality).

One Tx/Rx pair per file, as gr-digital keeps them. A flowgraph or app picks a modem by name
(`--modem NAME`; the GRC enum of the modem blocks is tested against `MODEMS`); the facts a
radio engineer compares (bits per symbol, code rate, samples per symbol) travel with the entry,
so airtime, Es/N0 and Eb/N0 are computed from one place.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from gnuradio import gr

from lamigo.errors import ConfigError
from lamigo_gr.blocks.modems.gfsk import gfsk_pdu_rx, gfsk_pdu_tx
from lamigo_gr.blocks.modems.psk import psk_pdu_rx, psk_pdu_tx


@dataclass(frozen=True)
class Modem:
    """A modem by name: its Tx and Rx hierarchical blocks (called with keyword options) and the
    figures that turn samples into bits: coded bits per modulated symbol, the code rate of its
    FEC (1 when uncoded) and complex samples per symbol (for OFDM: samples per OFDM symbol,
    cyclic prefix included, over data bits per OFDM symbol are in `bits_per_symbol`)."""

    name: str
    tx: Callable[..., gr.hier_block2]
    rx: Callable[..., gr.hier_block2]
    bits_per_symbol: float
    code_rate: float
    samples_per_symbol: float
    description: str

    @property
    def information_bits_per_sample(self) -> float:
        """Information bits carried by one complex baseband sample, before framing overhead."""
        return self.bits_per_symbol * self.code_rate / self.samples_per_symbol


MODEMS: dict[str, Modem] = {}


def register_modem(modem: Modem) -> Modem:
    """Add a modem under its name; a name already taken is refused."""
    if modem.name in MODEMS:
        raise ValueError(f"modem name {modem.name!r} is taken")
    MODEMS[modem.name] = modem
    return modem


def get_modem(name: str) -> Modem:
    """The modem named `name`; ConfigError naming the choices when there is none."""
    if name not in MODEMS:
        raise ConfigError(f"unknown modem {name!r}; choose one of {', '.join(MODEMS)}")
    return MODEMS[name]


register_modem(Modem("gfsk", gfsk_pdu_tx, gfsk_pdu_rx, bits_per_symbol=1, code_rate=1, samples_per_symbol=4,
                     description="uncoded GFSK, modulation index 1, BT 0.5, 4 samples per symbol"))

register_modem(Modem("psk-cc", psk_pdu_tx, psk_pdu_rx, bits_per_symbol=2, code_rate=0.5, samples_per_symbol=2,
                     description="burst QPSK, K=7 rate-1/2 convolutional code (soft Viterbi), RRC 0.35, "
                                 "2 samples per symbol"))
register_modem(Modem("psk-uncoded", functools.partial(psk_pdu_tx, code="none"),
                     functools.partial(psk_pdu_rx, code="none"), bits_per_symbol=2, code_rate=1,
                     samples_per_symbol=2, description="burst QPSK as psk-cc with an uncoded payload "
                                                       "(the header still coded): psk-cc's FEC peer"))

__all__ = ["MODEMS", "Modem", "get_modem", "register_modem"]
