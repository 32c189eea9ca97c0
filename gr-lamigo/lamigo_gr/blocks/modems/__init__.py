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
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from gnuradio import gr

from lamigo.registry import Registry
from lamigo_gr.blocks.modems import ofdm
from lamigo_gr.blocks.modems.gfsk import gfsk_frame_samples, gfsk_pdu_rx, gfsk_pdu_tx
from lamigo_gr.blocks.modems.psk import psk_pdu_rx, psk_pdu_tx


@dataclass(frozen=True)
class Modem:
    """A modem by name: its Tx and Rx hierarchical blocks (called with keyword options) and the
    figures that turn samples into bits, the one place every table and plot takes them from:

    - `bits_per_symbol`: coded bits per modulated symbol (for OFDM per carrier symbol);
    - `code_rate`: the payload FEC's rate (1 when uncoded);
    - `samples_per_symbol`: complex samples per modulated symbol (for OFDM the samples of an
      OFDM symbol, cyclic prefix included, over its data carriers: 80 / 48);
    - `occupied_bandwidth`: the bandwidth the signal occupies, as a fraction of the sample rate;
    - `frame_samples(packet_bytes)`: samples on air of one burst carrying a link packet of that
      many bytes (preamble, header, CRC, code and the silence around it); None when the modem
      does not state it (airtime then counts the payload's samples only).

    SNR is per sample (`lamigo_gr.blocks.channels`): mean power per sample over a burst over
    the complex noise variance in the sample band, as gr-ieee802-11's simulations define it."""

    name: str
    tx: Callable[..., gr.hier_block2]
    rx: Callable[..., gr.hier_block2]
    bits_per_symbol: float
    code_rate: float
    samples_per_symbol: float
    description: str
    occupied_bandwidth: float = 0.0
    frame_samples: Callable[[int], int] | None = None

    @property
    def information_bits_per_sample(self) -> float:
        """Information bits carried by one complex baseband sample, before framing overhead."""
        return self.bits_per_symbol * self.code_rate / self.samples_per_symbol

    def es_n0_db(self, snr_db: float) -> float:
        """Es/N0 of a modulated symbol at a per-sample SNR: the energy of its samples over N0."""
        return snr_db + 10 * math.log10(self.samples_per_symbol)

    def eb_n0_db(self, snr_db: float) -> float:
        """Eb/N0 per information bit after FEC, at a per-sample SNR (framing overhead aside)."""
        return self.es_n0_db(snr_db) - 10 * math.log10(self.bits_per_symbol * self.code_rate)

    def snr_for_eb_n0_db(self, eb_n0_db: float) -> float:
        """The per-sample SNR that gives `eb_n0_db` (the inverse of `eb_n0_db`)."""
        return eb_n0_db - self.eb_n0_db(0.0)

    def airtime_s(self, packet_bytes: Iterable[int], sample_rate: float) -> float:
        """Seconds on air, at `sample_rate` samples per second, of bursts carrying link packets of
        these sizes (their framing included when the modem states `frame_samples`)."""
        if self.frame_samples is not None:
            samples = sum(self.frame_samples(int(n)) for n in packet_bytes)
        else:
            samples = sum(8 * int(n) for n in packet_bytes) / self.information_bits_per_sample
        return samples / sample_rate

    def bandwidth_hz(self, sample_rate: float) -> float:
        """The occupied bandwidth in Hz at `sample_rate`."""
        return self.occupied_bandwidth * sample_rate


MODEMS: Registry[Modem] = Registry("modem")  #: the modems by name, in registration order


def register_modem(modem: Modem) -> Modem:
    """Add a modem under its name; a name already taken is refused."""
    return MODEMS.register(modem)


def get_modem(name: str) -> Modem:
    """The modem named `name`; ConfigError naming the choices when there is none."""
    return MODEMS.lookup(name)


register_modem(Modem("gfsk", gfsk_pdu_tx, gfsk_pdu_rx, bits_per_symbol=1, code_rate=1, samples_per_symbol=4,
                     description="uncoded GFSK, modulation index 1, BT 0.5, 4 samples per symbol",
                     occupied_bandwidth=0.5, frame_samples=gfsk_frame_samples))  # Carson: 2 (dev + Rs/2) = 2 Rs

_PSK_BANDWIDTH = (1 + 0.35) / 2  # root-raised-cosine, excess bandwidth 0.35, 2 samples per symbol
register_modem(Modem("psk-cc", psk_pdu_tx, psk_pdu_rx, bits_per_symbol=2, code_rate=0.5, samples_per_symbol=2,
                     description="burst QPSK, K=7 rate-1/2 convolutional code (soft Viterbi), RRC 0.35, "
                                 "2 samples per symbol", occupied_bandwidth=_PSK_BANDWIDTH))
register_modem(Modem("psk-uncoded", functools.partial(psk_pdu_tx, code="none"),
                     functools.partial(psk_pdu_rx, code="none"), bits_per_symbol=2, code_rate=1,
                     samples_per_symbol=2, description="burst QPSK as psk-cc with an uncoded payload "
                                                       "(the header still coded): psk-cc's FEC peer",
                     occupied_bandwidth=_PSK_BANDWIDTH))

for _modulation in ofdm.MODULATIONS:
    for _code, _suffix, _what in (("none", "", "uncoded"), ("cc", "-cc", "K=7 rate-1/2 convolutional code (soft Viterbi)")):
        register_modem(Modem(
            f"ofdm-{_modulation}{_suffix}", functools.partial(ofdm.ofdm_pdu_tx, modulation=_modulation, code=_code),
            functools.partial(ofdm.ofdm_pdu_rx, modulation=_modulation, code=_code),
            bits_per_symbol=ofdm.MODULATIONS[_modulation], code_rate=ofdm.CODES[_code],
            samples_per_symbol=ofdm.SYMBOL_SAMPLES / ofdm.DATA_CARRIERS_PER_SYMBOL,
            description=f"OFDM (802.11a carriers, 64-point FFT, CP 16), {_modulation.upper()} payload, {_what}",
            occupied_bandwidth=ofdm.OCCUPIED_BANDWIDTH,
            frame_samples=functools.partial(ofdm.frame_samples, modulation=_modulation, code=_code)))

__all__ = ["MODEMS", "Modem", "get_modem", "register_modem"]
