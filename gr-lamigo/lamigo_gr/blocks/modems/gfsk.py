"""The GFSK modem every flowgraph shares, as two hierarchical blocks of GNU Radio's own blocks.

`gfsk_pdu_tx`: link packets (PDUs) -> CRC-32 (`crc_append`) -> access code and length header
(`protocol_formatter_async`) -> bits -> NRZ -> 0101 phasing before and after each frame ->
Gaussian filter -> frequency modulator: complex baseband at `samples_per_symbol`.

`gfsk_pdu_rx`: complex baseband -> channel filter -> FM discriminator -> symbol integration ->
Symbol Sync (Mueller and Mueller) -> slicer -> access code correlator (reads the length header)
-> bytes -> PDU -> CRC-32 check: the link packets that arrived intact.

Modulation index 1 (a symbol turns the phase by pi), Gaussian BT 0.5, GNU Radio's default 64-bit
access code. Both ends must use the same samples per symbol and access code.
"""

from __future__ import annotations

import numpy as np
from gnuradio import analog, blocks, digital, filter, gr, pdu
from gnuradio.filter import firdes

from lamigo_gr.blocks.modems.coding import CRC_BYTES, crc_append, crc_check

DEFAULT_ACCESS_CODE = digital.packet_utils.default_access_code
LENGTH_TAG = "packet_len"



def _sensitivity(samples_per_symbol: int) -> float:
    """Phase step per sample for modulation index 1: pi per symbol."""
    return np.pi / samples_per_symbol


def _header_format(access_code: str) -> digital.header_format_default:
    """Access code, then the frame length twice (16 bits each)."""
    return digital.header_format_default(access_code, 0, 1)


def gfsk_frame_samples(packet_bytes: int, samples_per_symbol: int = 4, ramp_symbols: int = 32,
                       access_code: str = DEFAULT_ACCESS_CODE) -> int:
    """Samples of the burst `gfsk_pdu_tx` makes of a link packet of `packet_bytes`: the phasing
    on both ends, the access code, the length header, the packet and its CRC-32, one bit a symbol."""
    bits = 2 * ramp_symbols + _header_format(access_code).header_nbits() + 8 * (packet_bytes + CRC_BYTES)
    return bits * samples_per_symbol


class gfsk_pdu_tx(gr.hier_block2):
    """Link packets on message port `in` -> GFSK baseband (complex, amplitude `amplitude`), each
    burst's first sample tagged `packet_len` with the burst's length in samples (GNU Radio's
    tagged-stream convention, which a UHD sink turns into start and end of burst).

    Each packet becomes one burst: `ramp_symbols` of 0101 phasing (the receiver locks on), the
    access code, the length header, the packet and its CRC-32, then `ramp_symbols` of phasing
    again (the receiver's filters flush)."""

    def __init__(self, samples_per_symbol: int = 4, bt: float = 0.5, ramp_symbols: int = 32,
                 amplitude: float = 1.0, access_code: str = DEFAULT_ACCESS_CODE) -> None:
        gr.hier_block2.__init__(self, "gfsk_pdu_tx", gr.io_signature(0, 0, 0),
                                gr.io_signature(1, 1, gr.sizeof_gr_complex))
        self.message_port_register_hier_in("in")
        sps = int(samples_per_symbol)
        self.crc_append = crc_append()
        self.formatter = digital.protocol_formatter_async(_header_format(access_code))
        self.header_stream = pdu.pdu_to_tagged_stream(gr.types.byte_t, LENGTH_TAG)
        self.payload_stream = pdu.pdu_to_tagged_stream(gr.types.byte_t, LENGTH_TAG)
        self.frame_mux = blocks.tagged_stream_mux(gr.sizeof_char, LENGTH_TAG, 0)
        self.unpack_bits = blocks.repack_bits_bb(8, 1, LENGTH_TAG, False, gr.GR_MSB_FIRST)
        self.nrz = digital.chunks_to_symbols_bf([-1.0, 1.0], 1)
        self.phasing = digital.burst_shaper_ff([1.0] * (2 * ramp_symbols), 0, 0, True, LENGTH_TAG)
        # Gaussian pulse convolved with a symbol-long rectangle: the frequency pulse of GFSK
        taps = np.convolve(firdes.gaussian(1.0, sps, bt, 4 * sps), [1.0] * sps)
        self.gaussian_filter = filter.interp_fir_filter_fff(sps, taps)
        self.fm = analog.frequency_modulator_fc(_sensitivity(sps))
        # the interpolating filter moves each burst's length tag to its first sample but keeps
        # its value in symbols: make it samples, so a UHD sink (TSB tag name packet_len) sends
        # each burst between start- and end-of-burst
        self.burst_length = blocks.tagged_stream_multiply_length(gr.sizeof_gr_complex, LENGTH_TAG, sps)
        self.scale = blocks.multiply_const_cc(amplitude)

        self.msg_connect(self, "in", self.crc_append, "in")
        self.msg_connect(self.crc_append, "out", self.formatter, "in")
        self.msg_connect(self.formatter, "header", self.header_stream, "pdus")
        self.msg_connect(self.formatter, "payload", self.payload_stream, "pdus")
        self.connect(self.header_stream, (self.frame_mux, 0))
        self.connect(self.payload_stream, (self.frame_mux, 1))
        self.connect(self.frame_mux, self.unpack_bits, self.nrz, self.phasing, self.gaussian_filter,
                     self.fm, self.burst_length, self.scale, self)

    def set_amplitude(self, amplitude: float) -> None:
        self.scale.set_k(amplitude)


class gfsk_pdu_rx(gr.hier_block2):
    """GFSK baseband (complex) -> the link packets that passed the CRC-32, on message port `out`.

    With `soft_symbols`, the block also has a float output: the discriminator's value at each
    symbol instant Symbol Sync picked (+-1 when clean), to watch the eye open or close."""

    def __init__(self, samples_per_symbol: int = 4, threshold: int = 2, loop_bandwidth: float = 0.045,
                 access_code: str = DEFAULT_ACCESS_CODE, soft_symbols: bool = False) -> None:
        gr.hier_block2.__init__(self, "gfsk_pdu_rx", gr.io_signature(1, 1, gr.sizeof_gr_complex),
                                gr.io_signature(1, 1, gr.sizeof_float) if soft_symbols
                                else gr.io_signature(0, 0, 0))
        self.message_port_register_hier_out("out")
        sps = int(samples_per_symbol)
        self.channel_filter = filter.fir_filter_ccf(1, firdes.low_pass(1.0, sps, 1.0, 0.5))
        self.discriminator = analog.quadrature_demod_cf(1.0 / _sensitivity(sps))
        # sum of a symbol's phase steps: +-1 at the symbol centre
        self.integrate = filter.fir_filter_fff(1, [1.0 / sps] * sps)
        self.symbol_sync = digital.symbol_sync_ff(
            digital.TED_MUELLER_AND_MULLER, sps, loop_bandwidth, 1.0, 1.0, 1.5, 1,
            digital.constellation_bpsk().base(), digital.IR_MMSE_8TAP, 128, [])
        self.slicer = digital.binary_slicer_fb()
        self.correlator = digital.correlate_access_code_bb_ts(access_code, threshold, LENGTH_TAG)
        self.pack_bits = blocks.repack_bits_bb(1, 8, LENGTH_TAG, False, gr.GR_MSB_FIRST)
        self.to_pdu = pdu.tagged_stream_to_pdu(gr.types.byte_t, LENGTH_TAG)
        self.crc_check = crc_check()

        self.connect(self, self.channel_filter, self.discriminator, self.integrate, self.symbol_sync,
                     self.slicer, self.correlator, self.pack_bits, self.to_pdu)
        self.msg_connect(self.to_pdu, "pdus", self.crc_check, "in")
        self.msg_connect(self.crc_check, "ok", self, "out")
        if soft_symbols:
            self.connect(self.symbol_sync, self)

    def set_loop_bandwidth(self, loop_bandwidth: float) -> None:
        self.symbol_sync.set_loop_bandwidth(loop_bandwidth)


__all__ = ["DEFAULT_ACCESS_CODE", "gfsk_frame_samples", "gfsk_pdu_rx", "gfsk_pdu_tx"]
