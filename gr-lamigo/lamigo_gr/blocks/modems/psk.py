"""The burst PSK modem, coded or not, as two hierarchical blocks of GNU Radio's own blocks, in the
style of GNU Radio's packet_tx / packet_rx examples (gr-digital/examples/packet).

`psk_pdu_tx`: link packets (PDUs) -> CRC-32 (`crc_append`) -> payload FEC (`fec.async_encoder`:
the K=7 rate-1/2 convolutional code, terminated and padded to whole bytes; or none) -> the coded
bits block-interleaved within the packet (`interleaver`: a fade becomes short runs of errors
the Viterbi decoder corrects) -> access
code and length header (`protocol_formatter_async`, header_format_default), the header coded
apart with the same convolutional code -> bits -> BPSK or QPSK symbols -> phasing ramp up and
down and tail padding (`burst_shaper`) -> root-raised-cosine pulses at `samples_per_symbol`:
complex baseband, mean power 1 per sample over a burst.

`psk_pdu_rx`: complex baseband -> `agc2_cc` -> `corr_est_cc` (finds the coded access code: timing,
phase and amplitude estimates as tags; only the strongest trigger within a header's length is
kept) -> `pfb_clock_sync_ccf` (matched filter and symbol timing) -> `costas_loop_cc` (carrier;
its phase set from the correlator's estimate at each burst, so the QPSK ambiguity is resolved by
the known access code) -> `linear_equalizer` (symbol spaced, LMS, trained on the sync symbols
from the correlator's tag at every burst, then decision directed: it undoes the multipath's
inter-symbol interference and follows the fading through the burst) -> `header_payload_demux` -> header: soft bits -> Viterbi (`fec.extended_decoder`) ->
`protocol_parser_b`, its claimed length checked against what this receiver decodes -> payload:
`constellation_soft_decoder_cf` soft bits -> PDU -> deinterleaved -> `fec.async_decoder` (Viterbi) -> CRC-32
check: the link packets that arrived intact, on message port `out`.

Per-packet metadata on each PDU out: `esn0_db` (Es/N0 of the payload symbols estimated from
their soft bits), `snr_db` (the same as an SNR per sample, Es/N0 over the samples per symbol),
and `soft_quality` (mean |soft bit| over its standard deviation, before decoding). No CFO: the
Costas loop's frequency is a stream GNU Radio's demux does not carry with the payload, and read
from Python it belongs to whatever burst the loop is on by then.

Frame, in symbols of the payload constellation: the header (64-bit access code and 16-bit
coded-payload length twice, 96 bits, coded to 208 bits), then the coded payload; the first and
last `ramp_symbols` of each burst are phasing (alternating +-1) under a Hann ramp, then
`tail_symbols` of silence let the receiver's filters flush.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pmt
from gnuradio import analog, blocks, digital, fec, filter, gr, pdu
from gnuradio.fft import window as fft_window
from gnuradio.filter import firdes

from lamigo.errors import ConfigError
from lamigo_gr.blocks.modems.coding import (CC_RATE, CRC_BYTES, cc_decoder, cc_encoder, coded_bytes, crc_append,
                                            crc_check)
from lamigo_gr.blocks.modems.gfsk import DEFAULT_ACCESS_CODE
from lamigo_gr.blocks.modems.length_guard import length_guard

LENGTH_TAG = "packet_len"
PAYLOAD_TAG = "payload symbols"  # what header_format_default's parser names the payload length
DEFAULT_MAX_PACKET = 1500  #: bytes of the longest link packet a receiver takes (before the CRC)

# Gray-mapped constellations of unit mean power: index bits (MSB first) -> point
CONSTELLATIONS = {
    "bpsk": [-1.0 + 0j, 1.0 + 0j],
    "qpsk": [complex(i, q) / math.sqrt(2) for i in (-1, 1) for q in (-1, 1)],
}
CODES = ("cc", "none")  #: payload FEC: K=7 rate 1/2 convolutional (Viterbi, soft), or uncoded
LOOP_LEVEL = 0.35
MARK_DELAY = lambda n: 2 * (n // 2) + 1
_FRAME_KEY = pmt.intern("psk_frame_bytes")  # between the receiver's own blocks only
_HEADER_BITS = digital.header_format_default(DEFAULT_ACCESS_CODE, 0, 1).header_nbits()


def _constellation(name: str) -> digital.constellation:
    if name not in CONSTELLATIONS:
        raise ConfigError(f"unknown constellation {name!r}; choose one of {', '.join(CONSTELLATIONS)}")
    points = CONSTELLATIONS[name]
    return digital.constellation_calcdist(points, [], len(points), 1, digital.constellation.NO_NORMALIZATION).base()


def packet_bytes(coded: int, code: str) -> int | None:
    """The link packet length a payload of `coded` bytes on the air carries; None when no
    packet codes to that length."""
    n = coded - CRC_BYTES if code == "none" else (coded - 2) // 2 - CRC_BYTES
    return n if n >= 1 and coded_bytes(n, code) == coded else None


INTERLEAVE_COLUMNS = 16  #: columns of the payload's bit interleaver (coded bits, 8 trellis steps)


@functools.lru_cache(maxsize=64)
def interleaver(n_bits: int) -> np.ndarray:
    """The order in which the payload's `n_bits` coded bits go on the air: a block interleaver
    written row by row into `INTERLEAVE_COLUMNS` columns and read column by column (the last row
    may be short), so that a fade of F consecutive bits on the air leaves runs of about
    F / rows errors, `INTERLEAVE_COLUMNS` bits apart, in the decoder's input. `sent[k] =
    bits[order[k]]`; the receiver puts soft bit k back at `order[k]`."""
    index = np.arange(n_bits)
    return np.lexsort((index // INTERLEAVE_COLUMNS, index % INTERLEAVE_COLUMNS))


class _interleave(gr.basic_block):
    """Between the payload encoder and the framer: the coded payload's bits (a packed u8vector
    PDU) in `interleaver` order."""

    def __init__(self) -> None:
        gr.basic_block.__init__(self, "psk_interleave", None, None)
        self.message_port_register_in(pmt.intern("in"))
        self.message_port_register_out(pmt.intern("out"))
        self.set_msg_handler(pmt.intern("in"), self._handle)

    def _handle(self, msg) -> None:
        bits = np.unpackbits(np.frombuffer(bytes(pmt.u8vector_elements(pmt.cdr(msg))), dtype=np.uint8))
        packed = np.packbits(bits[interleaver(bits.size)])
        self.message_port_pub(pmt.intern("out"), pmt.cons(pmt.car(msg), pmt.init_u8vector(packed.size, packed.tolist())))


def _header_symbols(bits_per_symbol: int) -> int:
    return cc_encoder(_HEADER_BITS).get_output_size() // bits_per_symbol


def _pulse(samples_per_symbol: int, excess_bw: float, span: int) -> np.ndarray:
    """Root-raised-cosine taps at `samples_per_symbol`, scaled so that sum(h^2) equals the samples
    per symbol: unit-power symbols become a signal of mean power 1 per sample."""
    taps = np.array(firdes.root_raised_cosine(1.0, samples_per_symbol, 1.0, excess_bw, span * samples_per_symbol + 1))
    return taps * math.sqrt(samples_per_symbol / np.sum(taps ** 2))


@functools.cache
def _sync_symbols(constellation: str, access_code: str) -> tuple[complex, ...]:
    """The symbols that carry the coded access code at the start of every header (its first
    2 x 64 coded bits depend on the access code alone), computed with GNU Radio's encoder."""
    bits = [int(b) for b in access_code] + [0] * (_HEADER_BITS - len(access_code))
    top_block = gr.top_block()
    source, sink = blocks.vector_source_b(bits), blocks.vector_sink_b()
    top_block.connect(source, fec.encoder(cc_encoder(_HEADER_BITS), gr.sizeof_char, gr.sizeof_char), sink)
    top_block.run()
    coded = list(sink.data())[: CC_RATE * len(access_code)]
    points = CONSTELLATIONS[constellation]
    bps = int(math.log2(len(points)))
    return tuple(points[int("".join(map(str, coded[i:i + bps])), 2)] for i in range(0, len(coded), bps))


def _turn(constellation: str) -> complex:
    """The rotation that takes +-1 onto two points of the constellation (QPSK: pi/4)."""
    return complex(CONSTELLATIONS[constellation][-1])


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


class psk_pdu_tx(gr.hier_block2):
    """Link packets on message port `in` -> burst PSK baseband (complex, mean power 1 per sample
    over a burst, times `amplitude` squared).

    Args:
        constellation: "bpsk" or "qpsk" (header and payload alike).
        code: payload FEC, "cc" (K=7 rate 1/2 convolutional) or "none"; the header is always coded.
        samples_per_symbol: integer, >= 2.
        excess_bw: root-raised-cosine roll-off.
        ramp_symbols: phasing symbols under the Hann ramp at each end of a burst.
        tail_symbols: silence after each burst (the receiver's filters flush).
        amplitude: output scale (keep the peaks below 1 in front of a DAC).
        max_packet: the longest link packet accepted, bytes before the CRC.
    """

    def __init__(self, constellation: str = "qpsk", code: str = "cc", samples_per_symbol: int = 2,
                 excess_bw: float = 0.35, ramp_symbols: int = 16, tail_symbols: int = 32, amplitude: float = 1.0,
                 max_packet: int = DEFAULT_MAX_PACKET, access_code: str = DEFAULT_ACCESS_CODE) -> None:
        gr.hier_block2.__init__(self, "psk_pdu_tx", gr.io_signature(0, 0, 0),
                                gr.io_signature(1, 1, gr.sizeof_gr_complex))
        self.message_port_register_hier_in("in")
        sps = int(samples_per_symbol)
        _check(code in CODES, f"unknown code {code!r}; choose one of {', '.join(CODES)}")
        _check(sps >= 2 and ramp_symbols >= 0 and tail_symbols >= 0 and 0 < excess_bw <= 1 and max_packet >= 1,
               "psk_pdu_tx: need samples_per_symbol >= 2, ramps and tail >= 0, 0 < excess_bw <= 1, max_packet >= 1")
        const = _constellation(constellation)
        bps = const.bits_per_symbol()
        mtu = coded_bytes(max_packet, code)
        self.crc_append = crc_append()
        payload_encoder = cc_encoder(8 * (max_packet + CRC_BYTES)) if code == "cc" else \
            fec.dummy_encoder_make(8 * (max_packet + CRC_BYTES))
        self.payload_encoder = fec.async_encoder(payload_encoder, True, False, False, mtu)
        self.interleave = _interleave()
        self.formatter = digital.protocol_formatter_async(
            digital.header_format_default(access_code, 0, bps))
        self.header_encoder = fec.async_encoder(cc_encoder(_HEADER_BITS), True, False, False, 64)
        self.header_stream = pdu.pdu_to_tagged_stream(gr.types.byte_t, LENGTH_TAG)
        self.payload_stream = pdu.pdu_to_tagged_stream(gr.types.byte_t, LENGTH_TAG)
        self.frame_mux = blocks.tagged_stream_mux(gr.sizeof_char, LENGTH_TAG, 0)
        self.frame_mux.set_min_output_buffer(2 * (mtu + 64))
        self.unpack = blocks.repack_bits_bb(8, bps, LENGTH_TAG, False, gr.GR_MSB_FIRST)
        self.unpack.set_min_output_buffer(2 * 8 * (mtu + 64))
        # the burst shaper's phasing is +-1: map to the constellation turned so that +-1 are two
        # of its points, shape, and turn back (QPSK's points sit on the diagonals)
        turn = _turn(constellation)
        self.symbols = digital.chunks_to_symbols_bc([point / turn for point in const.points()], 1)
        self.shaper = digital.burst_shaper_cc(firdes.window(fft_window.WIN_HANN, 2 * ramp_symbols, 0) if ramp_symbols
                                              else [], 0, tail_symbols, True, LENGTH_TAG)
        self.pulse = filter.interp_fir_filter_ccf(sps, _pulse(sps, excess_bw, 11))
        self.scale = blocks.multiply_const_cc(amplitude * turn)
        self._turn = turn

        # when the flowgraph's upstream is done, an empty packet follows the last one, so that the
        # receiver's header/payload demux still takes in the last real burst before the stream ends
        self.flush = length_guard(0, max_packet + CRC_BYTES, "PSK transmitter", flush_on_done=True)
        self.msg_connect(self, "in", self.crc_append, "in")
        self.msg_connect(self.crc_append, "out", self.flush, "in")
        self.msg_connect(self.flush, "out", self.payload_encoder, "in")
        self.msg_connect(self.payload_encoder, "out", self.interleave, "in")
        self.msg_connect(self.interleave, "out", self.formatter, "in")
        self.msg_connect(self.formatter, "header", self.header_encoder, "in")
        self.msg_connect(self.header_encoder, "out", self.header_stream, "pdus")
        self.msg_connect(self.formatter, "payload", self.payload_stream, "pdus")
        self.connect(self.header_stream, (self.frame_mux, 0))
        self.connect(self.payload_stream, (self.frame_mux, 1))
        self.connect(self.frame_mux, self.unpack, self.symbols, self.shaper, self.pulse, self.scale, self)

    def set_amplitude(self, amplitude: float) -> None:
        self.scale.set_k(amplitude * self._turn)


class _header_check(gr.basic_block):
    """Between the header parser and the header/payload demux: a header whose claimed payload
    is no packet this receiver takes (longer than `max_packet`, or no coded length) becomes a
    failed header (PMT_F), so no forged length makes the demux swallow the bursts that follow."""

    def __init__(self, code: str, bits_per_symbol: int, max_packet: int) -> None:
        gr.basic_block.__init__(self, "psk_header_check", None, None)
        self.code, self.bps, self.max_packet = code, bits_per_symbol, max_packet
        self.rejected = 0
        self.message_port_register_in(pmt.intern("in"))
        self.message_port_register_out(pmt.intern("out"))
        self.set_msg_handler(pmt.intern("in"), self._handle)

    def _handle(self, msg) -> None:
        if pmt.is_dict(msg):
            try:
                symbols = pmt.to_long(pmt.dict_ref(msg, pmt.intern(PAYLOAD_TAG), pmt.from_long(0)))
                n = packet_bytes(symbols * self.bps // 8, self.code) if (symbols * self.bps) % 8 == 0 else None
            except (RuntimeError, ValueError, TypeError):  # not a header_format_default answer
                n = None
            if n is None or n > self.max_packet:
                self.rejected += 1
                msg = pmt.PMT_F
        elif not pmt.eq(msg, pmt.PMT_F):
            msg = pmt.PMT_F
        self.message_port_pub(pmt.intern("out"), msg)


class _payload_soft_bits(gr.basic_block):
    """Between the payload's soft bits (a PDU of floats) and the Viterbi decoder: checks the
    length is a coded packet's, puts the bits back in coded order (`interleaver`), scales them to a mean magnitude of 1/2 and clips them to
    +-1 (the decoder quantises x*48+128 to a byte without saturating), and records the packet's
    metadata: soft-bit quality, estimated Es/N0 and SNR per sample."""

    def __init__(self, code: str, bits_per_symbol: int, samples_per_symbol: int, max_packet: int) -> None:
        gr.basic_block.__init__(self, "psk_payload_soft_bits", None, None)
        self.code, self.bps, self.sps, self.max_packet = code, bits_per_symbol, samples_per_symbol, max_packet
        self.message_port_register_in(pmt.intern("in"))
        self.message_port_register_out(pmt.intern("out"))
        self.set_msg_handler(pmt.intern("in"), self._handle)

    def _handle(self, msg) -> None:
        if not pmt.is_pair(msg) or not pmt.is_f32vector(pmt.cdr(msg)):
            return
        soft = np.asarray(pmt.f32vector_elements(pmt.cdr(msg)), dtype=np.float32)
        n = packet_bytes(soft.size // 8, self.code) if soft.size % 8 == 0 else None
        if n is None or n > self.max_packet:
            return
        magnitude = np.abs(soft)
        mean, spread = float(np.mean(magnitude)), float(np.std(magnitude))
        if not mean > 0:
            return
        # folded moments of the soft bits (linear in I and Q for Gray BPSK/QPSK): SNR per dimension
        per_dimension = mean ** 2 / max(spread ** 2, 1e-12)
        esn0 = per_dimension / (2 if self.bps == 1 else 1)
        meta = pmt.car(msg) if pmt.is_dict(pmt.car(msg)) else pmt.make_dict()
        meta = pmt.dict_add(meta, _FRAME_KEY, pmt.from_long(n + CRC_BYTES))
        for key, value in (("esn0_db", 10 * math.log10(esn0)), ("snr_db", 10 * math.log10(esn0 / self.sps)),
                           ("soft_quality", mean / max(spread, 1e-12))):
            meta = pmt.dict_add(meta, pmt.intern(key), pmt.from_double(float(value)))
        scaled = np.empty_like(soft)
        scaled[interleaver(soft.size)] = np.clip(soft * (0.5 / mean), -1.0, 1.0)
        self.message_port_pub(pmt.intern("out"), pmt.cons(meta, pmt.init_f32vector(scaled.size, scaled.tolist())))


class _frame_trim(gr.basic_block):
    """After the Viterbi decoder: the packet and its CRC, as long as the header said. With
    `padded` on both ends, GNU Radio's async decoder returns one byte more than was coded (its
    frame size loses the padding twice); the first bytes are the frame."""

    def __init__(self) -> None:
        gr.basic_block.__init__(self, "psk_frame_trim", None, None)
        self.message_port_register_in(pmt.intern("in"))
        self.message_port_register_out(pmt.intern("out"))
        self.set_msg_handler(pmt.intern("in"), self._handle)

    def _handle(self, msg) -> None:
        meta = pmt.car(msg)
        size = pmt.to_long(pmt.dict_ref(meta, _FRAME_KEY, pmt.from_long(-1)))
        data = pmt.cdr(msg)
        if not 0 < size <= pmt.length(data):
            return
        self.message_port_pub(pmt.intern("out"), pmt.cons(pmt.dict_delete(meta, _FRAME_KEY),
                                                          pmt.init_u8vector(size, pmt.u8vector_elements(data)[:size])))


_TRIGGER_KEYS = tuple(pmt.intern(key) for key in ("phase_est", "time_est", "corr_est", "amp_est"))


class _trigger_holdoff(gr.sync_block):
    """After the access-code correlator: complex samples pass unchanged, `holdoff` samples late;
    of its triggers (the phase_est, time_est, corr_est and amp_est tags it puts on one sample) only
    the strongest (corr_est) within `holdoff` samples either side stays. GNU Radio's corr_est_cc
    looks for the next peak `sps` samples after a detection, so a channel that smears the peak
    over paths a sample or two apart fires it several times per burst, and so can a burst's
    ramp after the gain control has risen in the silence before it; every trigger restarts the
    carrier loop and the equaliser's training. Its corr_start tags (nothing here reads them) go."""

    def __init__(self, holdoff: int) -> None:
        gr.sync_block.__init__(self, "psk_trigger_holdoff", [np.complex64], [np.complex64])
        self.set_tag_propagation_policy(gr.TPP_DONT)
        self.holdoff = int(holdoff)
        self.set_history(self.holdoff + 1)
        self.kept = self.dropped = 0
        self._triggers: dict[int, float] = {}  # offset -> correlation, of the last 3 holdoffs

    def work(self, input_items, output_items):
        n, w = len(output_items[0]), self.holdoff
        output_items[0][:] = input_items[0][:n]
        now = self.nitems_read(0)  # input items [now - w, now + n) are here; output k is input k - w
        tags = self.get_tags_in_range(0, max(now - w, 0), now + n)
        for tag in tags:
            if tag.key == _TRIGGER_KEYS[2]:
                self._triggers[tag.offset] = pmt.to_double(tag.value)
        for tag in tags:
            if tag.offset >= now - w + n or tag.key == pmt.intern("corr_start"):
                continue
            if any(tag.key == key for key in _TRIGGER_KEYS):
                mine = self._triggers.get(tag.offset, 0.0)
                if any(abs(o - tag.offset) <= w and (c > mine or (c == mine and o < tag.offset))
                       for o, c in self._triggers.items()):
                    self.dropped += tag.key == _TRIGGER_KEYS[1]
                    continue
                self.kept += tag.key == _TRIGGER_KEYS[1]
            self.add_item_tag(0, tag.offset + w, tag.key, tag.value, tag.srcid)
        self._triggers = {o: c for o, c in self._triggers.items() if o >= now + n - 3 * w}
        return n


class psk_pdu_rx(gr.hier_block2):
    """Burst PSK baseband (complex) -> the link packets that passed the CRC-32, on message port
    `out`, with per-packet metadata (esn0_db, snr_db, soft_quality).

    Args:
        constellation, code, samples_per_symbol, excess_bw, max_packet, access_code: as at the
            transmitter.
        threshold: the access-code correlator's absolute threshold, a fraction of the clean
            correlation peak's power after gain control (lower: detects at lower SNR, more false
            triggers; these cost a header decode, not a packet).
        timing_bandwidth, carrier_bandwidth: loop bandwidths (rad/symbol) of the symbol timing
            and Costas loops.
        equalizer_taps: symbol-spaced taps of the LMS equaliser (0: none; its centre tap delays
            the symbols by half its length).
        equalizer_step: the equaliser's LMS step for symbols of unit power (larger: follows
            faster fading, costs more SNR in noise; above ~0.1 it loses low-SNR bursts).
        access_threshold: bits of the decoded access code that may be wrong (a burst's first
            symbols come while the equaliser still trains).
        symbols: adds a complex output, the symbols after timing and carrier recovery and the
            equaliser (for a constellation display).
    """

    def __init__(self, constellation: str = "qpsk", code: str = "cc", samples_per_symbol: int = 2,
                 excess_bw: float = 0.35, threshold: float = 0.3, timing_bandwidth: float = 0.004,
                 carrier_bandwidth: float = 0.01, equalizer_taps: int = 7, equalizer_step: float = 0.03,
                 access_threshold: int = 12,
                 max_packet: int = DEFAULT_MAX_PACKET, access_code: str = DEFAULT_ACCESS_CODE,
                 symbols: bool = False) -> None:
        gr.hier_block2.__init__(self, "psk_pdu_rx", gr.io_signature(1, 1, gr.sizeof_gr_complex),
                                gr.io_signature(1, 1, gr.sizeof_gr_complex) if symbols else gr.io_signature(0, 0, 0))
        self.message_port_register_hier_out("out")
        sps = int(samples_per_symbol)
        _check(code in CODES, f"unknown code {code!r}; choose one of {', '.join(CODES)}")
        equalizer_taps = int(equalizer_taps)
        _check(sps >= 2 and 0 < excess_bw <= 1 and max_packet >= 1 and 0 < threshold < 1 and equalizer_taps >= 0
               and 0 < equalizer_step < 1 and 0 <= access_threshold <= 16,
               "psk_pdu_rx: need samples_per_symbol >= 2, 0 < excess_bw <= 1, max_packet >= 1, 0 < threshold < 1, "
               "equalizer_taps >= 0, 0 < equalizer_step < 1, 0 <= access_threshold <= 16")
        const = _constellation(constellation)
        bps = const.bits_per_symbol()
        nfilts = 32
        pulse = _pulse(sps, excess_bw, 11)
        sync = np.convolve(np.kron(_sync_symbols(constellation, access_code), np.r_[1.0, np.zeros(sps - 1)]), pulse)
        # the correlator's tag marks the start of the sync waveform; its first symbol peaks after
        # the transmit pulse's and the matched filter's half spans
        # gain control first, so that the correlator's absolute threshold means the same at every
        # signal level (its dynamic threshold, relative to the mean correlation of the block it
        # works on, fires on the end of a burst followed by quiet and resets the carrier loop)
        self.agc = analog.agc2_cc(0.1, 0.01, 1.0, 1.0)
        self.agc.set_max_gain(1e4)
        # the equaliser's output lags its input by its centre tap: the tags move as many symbols
        # later, so that training begins where the first sync symbol leaves the equaliser
        lag = equalizer_taps - 1 - equalizer_taps // 2 if equalizer_taps else 0
        self.correlator = digital.corr_est_cc(sync.astype(np.complex64).tolist(), sps,
                                              MARK_DELAY(len(pulse)) + lag * sps, threshold,
                                              digital.THRESHOLD_ABSOLUTE)
        # one trigger per burst: the header is the shortest a burst can be
        self.holdoff = _trigger_holdoff(_header_symbols(bps) * sps)
        # the timing and carrier loops' gains assume symbols of about this amplitude
        self.loop_level = blocks.multiply_const_cc(LOOP_LEVEL)
        self.clock_sync = digital.pfb_clock_sync_ccf(
            sps, timing_bandwidth, firdes.root_raised_cosine(nfilts, nfilts * sps, 1.0, excess_bw, 11 * sps * nfilts),
            nfilts, nfilts // 2, 1.5, 1)
        self.costas = digital.costas_loop_cc(carrier_bandwidth, const.arity(), False)
        # symbol-spaced LMS equaliser, trained on the sync symbols from the correlator's tag at
        # every burst, then decision directed (it follows the fading through the burst); its
        # points at the loop level, so that what follows sees the symbols at the same scale
        self.equalizer = None
        if equalizer_taps:
            level = [LOOP_LEVEL * p for p in CONSTELLATIONS[constellation]]
            points = digital.constellation_calcdist(level, [], len(level), 1,
                                                    digital.constellation.NO_NORMALIZATION).base()
            self.equalizer = digital.linear_equalizer(
                equalizer_taps, 1, digital.adaptive_algorithm_lms(points, equalizer_step / LOOP_LEVEL ** 2).base(),
                True, [LOOP_LEVEL * p for p in _sync_symbols(constellation, access_code)], "time_est")
            # the first burst trains from a pass-through (the centre tap), not from nothing
            self.equalizer.set_taps([1.0 if k == equalizer_taps // 2 else 0.0 for k in range(equalizer_taps)])
        max_symbols = 8 * coded_bytes(max_packet, code) // bps
        header_symbols = _header_symbols(bps)
        self.demux = digital.header_payload_demux(header_symbols, 1, 0, PAYLOAD_TAG, "time_est", True,
                                                  gr.sizeof_gr_complex, "rx_time", 1.0, [], 0)
        # the demux takes a whole payload from its input at once and hands it out at once
        self.demux.set_min_output_buffer(2 * max_symbols + 1024)
        self.header_soft = digital.constellation_soft_decoder_cf(const)
        self.header_clip = blocks.multiply_const_ff(0.5)
        self.header_decoder = fec.extended_decoder(decoder_obj_list=[cc_decoder(_HEADER_BITS)], threading=None,
                                                   ann=None, puncpat="11", integration_period=10000)
        # the decoded access code may have a few wrong bits (the equaliser is still training on
        # its symbols); shifted by any number of bits it is >= 28 bits from itself
        self.header_parser = digital.protocol_parser_b(digital.header_format_default(access_code, access_threshold,
                                                                                     bps))
        self.header_check = _header_check(code, bps, max_packet)
        self.payload_soft = digital.constellation_soft_decoder_cf(const)
        self.payload_soft.set_min_output_buffer(2 * max_symbols * bps + 1024)
        self.payload_length = blocks.tagged_stream_multiply_length(gr.sizeof_float, PAYLOAD_TAG, bps)
        self.payload_length.set_min_output_buffer(2 * max_symbols * bps + 1024)
        self.to_pdu = pdu.tagged_stream_to_pdu(gr.types.float_t, PAYLOAD_TAG)
        self.soft_bits = _payload_soft_bits(code, bps, sps, max_packet)
        # one byte of room: the decoder asks for its frame plus the padding (see _frame_trim)
        decoder = cc_decoder(8 * (max_packet + CRC_BYTES + 1)) if code == "cc" else \
            fec.dummy_decoder.make(8 * (max_packet + CRC_BYTES))
        self.payload_decoder = fec.async_decoder(decoder, True, False, coded_bytes(max_packet, code))
        self.trim = _frame_trim()
        self.crc_check = crc_check()

        recovered = [self.costas] + ([self.equalizer] if self.equalizer is not None else [])
        for block in recovered:
            block.set_min_output_buffer(2 * (max_symbols + header_symbols) + 1024)
        self.connect(self, self.agc, self.correlator, self.holdoff, self.loop_level, self.clock_sync, *recovered, self.demux)
        self.connect((self.demux, 0), self.header_soft, self.header_clip, self.header_decoder, self.header_parser)
        self.msg_connect(self.header_parser, "info", self.header_check, "in")
        self.msg_connect(self.header_check, "out", self.demux, "header_data")
        self.connect((self.demux, 1), self.payload_soft, self.payload_length, self.to_pdu)
        self.msg_connect(self.to_pdu, "pdus", self.soft_bits, "in")
        self.msg_connect(self.soft_bits, "out", self.payload_decoder, "in")
        self.msg_connect(self.payload_decoder, "out", self.trim, "in")
        self.msg_connect(self.trim, "out", self.crc_check, "in")
        self.out_guard = length_guard(1, max_packet, "PSK receiver")  # drops the transmitter's empty flush packet
        self.msg_connect(self.crc_check, "ok", self.out_guard, "in")
        self.msg_connect(self.out_guard, "out", self, "out")
        if symbols:
            self.connect(recovered[-1], self)

    def set_carrier_bandwidth(self, bandwidth: float) -> None:
        self.costas.set_loop_bandwidth(bandwidth)

    def set_timing_bandwidth(self, bandwidth: float) -> None:
        self.clock_sync.set_loop_bandwidth(bandwidth)


__all__ = ["CODES", "CONSTELLATIONS", "coded_bytes", "interleaver", "packet_bytes", "psk_pdu_rx", "psk_pdu_tx"]
