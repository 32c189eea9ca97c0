"""The OFDM modem: GNU Radio's OFDM blocks put together as `digital.ofdm_tx`/`digital.ofdm_rx` put
them (Schmidl & Cox sync, channel estimation from the second sync word, 64-point FFT,
16-sample cyclic prefix, the 802.11a layout of 48 data and 4 pilot carriers), as a pair of
hierarchical blocks with PDU ports, so that
what the stock `ofdm_rx` hides can be set: the detection threshold, soft decisions into a
decoder, optional convolutional coding and output buffers for the longest packet; and with two
changes that let a coded payload work down to its code's SNR (stock ofdm_rx's parts lose the
packet there first): the header is coded (the K=7 rate-1/2 code, tail-biting, on two BPSK
symbols, as 802.11a codes its SIGNAL field), and GNU Radio's static equaliser replaces the
decision-directed one (whose wrong decisions turn a carrier's estimate for the rest of the
frame), behind a pilot tracker: the channel estimate smoothed over carriers, and each symbol's
common phase (the detector's residual frequency offset) taken from its four pilots.

`ofdm_pdu_tx`: link packets (PDUs) -> CRC-32 (`crc_append`) -> additive scrambler -> optional
K=7 rate-1/2 convolutional code (`fec.async_encoder`, CC_TERMINATED, padded) -> OFDM header
(`packet_header_ofdm`: the coded length, at most 4095 bytes, its 48 bits coded with the
tail-biting K=7 rate-1/2 code by `fec.tagged_encoder` onto two BPSK symbols) and payload symbols (BPSK, QPSK or
16QAM, all of unit mean power) -> carrier allocator (the data carriers in an interleaved order,
so a code's neighbouring bits fade apart) -> IFFT -> cyclic prefix -> complex baseband of mean
power `amplitude`**2 per sample over the burst, zeros before and after each burst.

`ofdm_pdu_rx`: complex baseband -> Schmidl & Cox detector (`ofdm_sync_sc_cfb`, `threshold`) ->
fine frequency correction -> header/payload demux -> FFT, channel estimate, pilot tracker,
static equaliser (the header: soft bits -> Viterbi, `fec.extended_decoder`) ->
payload symbols -> per-packet quality (estimated SNR, CFO) -> soft bits
(`constellation_soft_decoder_cf`) -> `fec.async_decoder` (Viterbi, or hard decisions when
uncoded) -> descrambler -> CRC-32 check: the link packets that arrived intact, each PDU's
metadata holding `snr_db` (the payload's error-vector SNR after equalisation), `cfo` (carrier
frequency offset in subcarrier spacings), `evm_db` and `packet_num` (the OFDM header's counter).

Known traps this handles: `constellation_qpsk` points have |s|^2 = 4 (gnuradio#2764), so QPSK
is a unit-power copy of it; the header's 12-bit length caps a coded packet at 4095 bytes; the
tagged-stream blocks get output buffers for `max_packet`; a header claiming more than the
receiver was built for is dropped before it is decoded.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pmt
from gnuradio import blocks, digital, fec, fft, gr, pdu
from gnuradio.digital import ofdm_txrx

from lamigo.logs import RateLimitedLog
from lamigo_gr.blocks.modems.coding import (CRC_BYTES, cc_decoder, cc_encoder, coded_bytes, crc_append,
                                            crc_check)
from lamigo_gr.blocks.modems.length_guard import length_guard

logger = logging.getLogger(__name__)

FFT_LEN = 64
CP_LEN = 16
SYMBOL_SAMPLES = FFT_LEN + CP_LEN
LENGTH_TAG = "packet_len"
FRAME_TAG = "frame_len"
NUM_TAG = "packet_num"
CFO_TAG = "ofdm_fine_cfo"
MAX_HEADER_BYTES = 4095  #: the OFDM header's 12-bit length field
DEFAULT_MAX_PACKET = 1500
#: Schmidl & Cox plateau threshold; GNU Radio's ofdm_rx fixes 0.9 (0.6 missed 1 burst in 14 at 6 dB)
DEFAULT_THRESHOLD = 0.4
#: samples the frame start is moved later than the detector's trigger: at threshold 0.4 the
#: trigger sits ~11 samples into the 16-sample prefix and noise pulls it earlier still (past the
#: prefix: inter-symbol interference); 4 later leaves room on both sides of the prefix
FRAME_START_SHIFT = 4
BURST_PADDING = SYMBOL_SAMPLES  #: zeros before and after each burst: flushes the receiver's delay lines
MODULATIONS = {"bpsk": 1, "qpsk": 2, "16qam": 4}  #: payload constellations: coded bits per carrier symbol
CODES = {"none": 1.0, "cc": 0.5}  #: payload codes and their rates

# the 802.11a layout GNU Radio's ofdm_txrx uses: 48 data carriers, pilots at +-7 and +-21
_DATA_CARRIERS = sorted(ofdm_txrx._def_occupied_carriers[0])
PILOT_CARRIERS = ofdm_txrx._def_pilot_carriers
PILOT_SYMBOLS = ofdm_txrx._def_pilot_symbols
DATA_CARRIERS_PER_SYMBOL = len(_DATA_CARRIERS)
ACTIVE_CARRIERS = DATA_CARRIERS_PER_SYMBOL + len(PILOT_CARRIERS[0])
# Consecutive symbols three carriers apart (802.11a's first interleaver permutation): the 14
# coded bits a K=7 rate-1/2 code spreads one input bit over never sit on neighbouring carriers.
OCCUPIED_CARRIERS = ([_DATA_CARRIERS[(k % 16) * 3 + k // 16] for k in range(DATA_CARRIERS_PER_SYMBOL)],)
#: carriers -26..26 at a spacing of 1/64 of the sample rate (DC empty): the occupied fraction
OCCUPIED_BANDWIDTH = (2 * max(abs(c) for c in _DATA_CARRIERS) + 1) / FFT_LEN
SYNC_WORD1 = ofdm_txrx._make_sync_word1(FFT_LEN, OCCUPIED_CARRIERS, PILOT_CARRIERS)
SYNC_WORD2 = ofdm_txrx._make_sync_word2(FFT_LEN, OCCUPIED_CARRIERS, PILOT_CARRIERS)
SYNC_SYMBOLS = 2
#: FFT bins (DC in the middle, as the FFTs here shift) of the active carriers and of the pilots
ACTIVE_INDICES = sorted(c + FFT_LEN // 2 for c in list(_DATA_CARRIERS) + list(PILOT_CARRIERS[0]))
PILOT_INDICES = np.array([c + FFT_LEN // 2 for c in PILOT_CARRIERS[0]])
#: the header (packet_header_ofdm's length, number and CRC-8 in one symbol's 48 bits) coded with
#: the K=7 rate-1/2 code, tail-biting, onto two BPSK symbols, as 802.11a codes its SIGNAL field:
#: uncoded, it failed at the SNR where the coded payload still decodes
HEADER_BITS = DATA_CARRIERS_PER_SYMBOL
HEADER_SYMBOLS = 2
SCRAMBLER = dict(mask=0x8A, seed=0x7F, len=7)  #: ofdm_txrx's scrambler polynomial and seed


def constellation(modulation: str) -> digital.constellation:
    """The payload constellation, unit mean power (GNU Radio's QPSK points are scaled to |s|^2=4)."""
    if modulation == "bpsk":
        return digital.constellation_bpsk()
    if modulation == "qpsk":
        return digital.constellation_calcdist(digital.constellation_qpsk().points(), [], 4, 1,
                                              digital.constellation.POWER_NORMALIZATION)
    if modulation == "16qam":
        return digital.constellation_16qam()
    raise ValueError(f"unknown OFDM modulation {modulation!r}; choose one of {', '.join(MODULATIONS)}")


def _check(modulation: str, code: str, max_packet: int) -> int:
    """The longest coded payload (bytes after CRC and code) for `max_packet`; ValueError
    when the options cannot work."""
    if modulation not in MODULATIONS:
        raise ValueError(f"unknown OFDM modulation {modulation!r}; choose one of {', '.join(MODULATIONS)}")
    if code not in CODES:
        raise ValueError(f"unknown OFDM code {code!r}; choose one of {', '.join(CODES)}")
    coded = coded_bytes(int(max_packet), code)
    if max_packet < 1 or coded > MAX_HEADER_BYTES:
        raise ValueError(f"max_packet {max_packet} with code {code!r} needs {coded} bytes in the "
                         f"OFDM header's length, which holds at most {MAX_HEADER_BYTES}")
    return coded


def frame_symbols(packet_bytes: int, modulation: str, code: str) -> int:
    """OFDM symbols of one burst: the sync words, the header and the payload."""
    payload_symbols = -(-8 * coded_bytes(packet_bytes, code) // MODULATIONS[modulation])
    return SYNC_SYMBOLS + HEADER_SYMBOLS + -(-payload_symbols // DATA_CARRIERS_PER_SYMBOL)


def frame_samples(packet_bytes: int, modulation: str, code: str) -> int:
    """Complex samples of one burst of a `packet_bytes` link packet, the padding included."""
    return frame_symbols(packet_bytes, modulation, code) * SYMBOL_SAMPLES + 2 * BURST_PADDING


def _encoder(mtu: int) -> fec.async_encoder:
    """The K=7 rate-1/2 terminated convolutional encoder for PDUs of up to `mtu` bytes. GNU Radio
    3.10.5's async_encoder sizes its output bits as rate x MTU, without the terminated code's
    tail and padding: a PDU of the full MTU wrote 16 bits past that buffer (heap corruption, an
    occasional abort of the whole process), so its MTU is two bytes more than we send."""
    return fec.async_encoder(cc_encoder(8 * (mtu + 2)), True, False, False, mtu + 2)


def _decoder(code: str, mtu: int) -> fec.async_decoder:
    """Soft bits (positive for 1) of frames coding up to `mtu` bytes -> packed bytes: Viterbi,
    or hard decisions when uncoded."""
    if code == "cc":
        coder = cc_decoder(8 * mtu)
    else:
        coder = fec.dummy_decoder.make(8 * mtu)
    return fec.async_decoder(coder, True, False, mtu)


class _cfo_tagger(gr.sync_block):
    """Passes the samples (input 0) through and tags each detected frame's
    start (input 2, Schmidl & Cox's trigger) with the fine frequency offset the detector measured
    there (input 1, in the detector's units: pi per subcarrier spacing)."""

    def __init__(self) -> None:
        gr.sync_block.__init__(self, "lamigo_ofdm_cfo_tagger", [np.complex64, np.float32, np.uint8], [np.complex64])
        self._key = pmt.intern(CFO_TAG)

    def work(self, input_items, output_items):
        samples, offset, trigger = input_items
        output_items[0][:] = samples
        base = self.nitems_written(0)
        for index in np.flatnonzero(trigger):
            self.add_item_tag(0, base + int(index), self._key, pmt.from_double(float(offset[index]) / np.pi))
        return len(output_items[0])


class _frame_derotator(gr.sync_block):
    """OFDM symbols of frames (vectors of FFT_LEN samples, cyclic prefix removed, from the
    header/payload demux) -> the same, turned back by the fine frequency offset the detector
    measured at the frame's own trigger (the `ofdm_fine_cfo` tag on a frame's first symbol).
    GNU Radio's ofdm_rx mixes the stream with the detector's held offset instead, which a false
    trigger inside a burst (the lower threshold's price) re-latches in the middle of a frame.

    `first_symbol` None: the header output, frames of SYNC_SYMBOLS + HEADER_SYMBOLS symbols, each
    starting with its trigger's tag; a number: the payload output, frames starting at the frame
    length tag with the offset the header parser passed on, its first symbol this many symbols
    after the first sync word. On the header output, the offset tags of triggers inside a frame
    are dropped: the header parser would hand the last one to the payload."""

    def __init__(self, first_symbol: int | None = None) -> None:
        gr.sync_block.__init__(self, "lamigo_ofdm_frame_derotator", [(np.complex64, FFT_LEN)],
                               [(np.complex64, FFT_LEN)])
        self.set_tag_propagation_policy(gr.TPP_DONT)
        self.first_symbol = first_symbol
        self._cfo_key, self._frame_key = pmt.intern(CFO_TAG), pmt.intern(FRAME_TAG)
        self._step, self._symbol, self._left = 0.0, 0, 0
        self._samples = np.arange(CP_LEN, SYMBOL_SAMPLES, dtype=np.float64)

    def work(self, input_items, output_items):
        symbols, out = input_items[0], output_items[0]
        n, base = len(out), self.nitems_read(0)
        cfo, frames, tags = {}, set(), self.get_tags_in_window(0, 0, n)
        for tag in tags:
            if pmt.eq(tag.key, self._cfo_key):
                cfo.setdefault(tag.offset - base, tag)
            elif pmt.eq(tag.key, self._frame_key):
                frames.add(tag.offset - base)
        for tag in tags:
            if not pmt.eq(tag.key, self._cfo_key) or self.first_symbol is not None:
                self.add_item_tag(0, tag)
        for i in range(n):
            if self.first_symbol is None and self._left == 0 and i in cfo:
                self.add_item_tag(0, cfo[i])
                self._step = -2 * np.pi * pmt.to_double(cfo[i].value) / FFT_LEN
                self._symbol, self._left = 0, SYNC_SYMBOLS + HEADER_SYMBOLS
            elif self.first_symbol is not None and i in frames:
                value = pmt.to_double(cfo[i].value) if i in cfo else 0.0
                self._step, self._symbol = -2 * np.pi * value / FFT_LEN, self.first_symbol
            phase = self._step * (self._symbol * SYMBOL_SAMPLES + self._samples)
            out[i] = symbols[i] * np.exp(1j * phase)
            self._symbol += 1
            self._left = max(0, self._left - 1)
        return n


class _packet_quality(gr.basic_block):
    """Equalised payload symbols of one packet (PDU of c32) -> the same PDU with per-packet
    metadata: `snr_db` (mean constellation power over the error vector's, after equalisation),
    `evm_db`, `cfo` (subcarrier spacings: the channel estimator's integer offset plus the
    detector's fine offset) and `packet_num`; the channel taps and tagged-stream bookkeeping
    dropped. A packet longer than `max_symbols` (a header that claims more than this receiver
    decodes) is dropped here, before it is decoded."""

    def __init__(self, constellation_: digital.constellation, max_symbols: int) -> None:
        gr.basic_block.__init__(self, "lamigo_ofdm_packet_quality", None, None)
        self.constellation = constellation_
        self.points = np.array(constellation_.points(), dtype=np.complex64)
        self.max_symbols, self.dropped = int(max_symbols), 0
        self._log = RateLimitedLog(logger)
        self.message_port_register_in(pmt.intern("in"))
        self.message_port_register_out(pmt.intern("out"))
        self.set_msg_handler(pmt.intern("in"), self._handle)

    def _handle(self, msg) -> None:
        symbols = pmt.cdr(msg)
        if not pmt.is_c32vector(symbols) or not 0 < pmt.length(symbols) <= self.max_symbols:
            self.dropped += 1
            self._log.warning("OFDM receiver: dropped a frame of %d payload symbols (at most %d decoded)",
                              pmt.length(symbols) if pmt.is_uniform_vector(symbols) else -1, self.max_symbols)
            return
        values = np.asarray(pmt.c32vector_elements(symbols), dtype=np.complex64)
        nearest = self.points[np.argmin(np.abs(values[:, None] - self.points[None, :]), axis=1)]
        error = float(np.mean(np.abs(values - nearest) ** 2))
        power = float(np.mean(np.abs(nearest) ** 2))
        snr_db = 10 * np.log10(power / error) if error > 0 else 99.0
        tags = pmt.car(msg)
        carr_offset = pmt.dict_ref(tags, pmt.intern("ofdm_sync_carr_offset"), pmt.from_long(0))
        fine = pmt.dict_ref(tags, pmt.intern(CFO_TAG), pmt.from_double(0.0))
        meta = pmt.make_dict()
        for key, value in (("snr_db", round(snr_db, 2)), ("evm_db", round(-snr_db, 2)),
                           ("cfo", round(pmt.to_long(carr_offset) + pmt.to_double(fine), 4))):
            meta = pmt.dict_add(meta, pmt.intern(key), pmt.from_double(float(value)))
        number = pmt.dict_ref(tags, pmt.intern(NUM_TAG), pmt.PMT_NIL)
        if not pmt.is_null(number):
            meta = pmt.dict_add(meta, pmt.intern(NUM_TAG), number)
        self.message_port_pub(pmt.intern("out"), pmt.cons(meta, symbols))


CHAN_TAPS_TAG = "ofdm_sync_chan_taps"
CARR_OFFSET_TAG = "ofdm_sync_carr_offset"
#: the delays (samples) around a frame's channel-estimate centre its estimate is fitted on: the
#: detector's timing wanders inside the cyclic prefix (about 10 samples early at high SNR), so
#: the window follows each frame's mean delay; the paths of a channel within the prefix fit in
CHANNEL_WINDOW = range(-4, 12)


def _projection(delays) -> np.ndarray:
    """The least-squares projection of a channel estimate on the active carriers onto channels
    whose impulse response lies within `delays` (GNU Radio's ofdm_chanest_vcvc leaves this
    noise reduction, its `eq_noise_red_len`, a TODO)."""
    basis = np.exp(-2j * np.pi * np.outer(np.array(ACTIVE_INDICES) - FFT_LEN // 2, list(delays)) / FFT_LEN)
    return basis @ np.linalg.pinv(basis)


#: the projections by the frame's delay centre, 0..FFT_LEN-1 (circular)
_PROJECTIONS = [_projection([centre + d for d in CHANNEL_WINDOW]) for centre in range(FFT_LEN)]
_ADJACENT = np.flatnonzero(np.diff(ACTIVE_INDICES) == 1)  # active carriers whose next one is active


def smooth_channel(taps: np.ndarray) -> np.ndarray:
    """A channel estimate (FFT_LEN bins, DC in the middle) with its noise reduced: fitted on the
    impulse responses within CHANNEL_WINDOW of its mean delay (the phase slope across carriers)."""
    active = np.asarray(taps, dtype=np.complex64)[ACTIVE_INDICES]
    slope = np.sum(active[_ADJACENT + 1] * np.conj(active[_ADJACENT]))
    centre = int(round(-np.angle(slope) * FFT_LEN / (2 * np.pi))) % FFT_LEN
    smoothed = np.zeros(FFT_LEN, np.complex64)
    smoothed[ACTIVE_INDICES] = _PROJECTIONS[centre] @ active
    return smoothed


class _pilot_tracker(gr.sync_block):
    """FFT'd OFDM symbols (vectors of FFT_LEN, DC in the middle) -> the same symbols, each turned
    by the common phase its pilots show against the channel estimate, and the frame's channel
    estimate (the `ofdm_sync_chan_taps` tag on a frame's first symbol) smoothed over carriers,
    for GNU Radio's static equaliser (`ofdm_equalizer_static`) after it. This replaces the
    decision-directed equaliser of GNU Radio's ofdm_rx, whose wrong decisions at a coded link's
    SNR turn a carrier's estimate for the rest of the frame: here no decision feeds back, and the
    residual frequency offset the detector leaves is followed symbol by symbol from the pilots.

    `first_pilot_set`: the transmitter's pilot-symbol set of a frame's first symbol (the
    carrier allocator counts from the first symbol after the sync words)."""

    def __init__(self, first_pilot_set: int) -> None:
        gr.sync_block.__init__(self, "lamigo_ofdm_pilot_tracker", [(np.complex64, FFT_LEN)], [(np.complex64, FFT_LEN)])
        self.set_tag_propagation_policy(gr.TPP_DONT)
        self.first_pilot_set = int(first_pilot_set)
        self._taps_key, self._offset_key = pmt.intern(CHAN_TAPS_TAG), pmt.intern(CARR_OFFSET_TAG)
        self._taps = None  # the frame's smoothed channel estimate
        self._offset, self._index = 0, 0

    def _start_frame(self, taps, offset: int) -> np.ndarray | None:
        taps = np.asarray(pmt.c32vector_elements(taps), dtype=np.complex64)
        if taps.size != FFT_LEN:
            return None
        smoothed = smooth_channel(taps)
        self._taps, self._offset, self._index = smoothed, offset, 0
        return smoothed

    def work(self, input_items, output_items):
        symbols, out = input_items[0], output_items[0]
        n = len(out)
        base = self.nitems_read(0)
        starts = {}
        for tag in self.get_tags_in_window(0, 0, n):
            position = tag.offset - base
            if pmt.eq(tag.key, self._taps_key):
                starts.setdefault(position, {})["taps"] = tag.value
            elif pmt.eq(tag.key, self._offset_key):
                starts.setdefault(position, {})["offset"] = pmt.to_long(tag.value)
                self.add_item_tag(0, tag.offset, tag.key, tag.value)
            else:
                self.add_item_tag(0, tag.offset, tag.key, tag.value)
        for i in range(n):
            start = starts.get(i)
            if start is not None and "taps" in start:
                smoothed = self._start_frame(start["taps"], start.get("offset", 0))
                if smoothed is not None:
                    self.add_item_tag(0, base + i, self._taps_key, pmt.init_c32vector(FFT_LEN, smoothed.tolist()))
            symbol = symbols[i]
            if self._taps is None:
                out[i] = symbol
                continue
            pilots = PILOT_INDICES + self._offset
            pilot_set = np.array(PILOT_SYMBOLS[(self.first_pilot_set + self._index) % len(PILOT_SYMBOLS)])
            # the equaliser turns symbol i of a frame by an integer offset's cyclic-prefix phase
            turn = np.exp(-2j * np.pi * self._offset * CP_LEN / FFT_LEN * (self._index + 1))
            valid = (pilots >= 0) & (pilots < FFT_LEN)
            z = np.sum(symbol[pilots[valid]] * turn * np.conj(self._taps[PILOT_INDICES[valid]] * pilot_set[valid]))
            out[i] = symbol * (np.conj(z) / abs(z) if abs(z) > 0 else 1.0)
            self._index += 1
        return n



def _header_formatter(bits_per_payload_symbol: int, rx: bool) -> digital.packet_header_ofdm:
    if rx:
        return digital.packet_header_ofdm(OCCUPIED_CARRIERS, 1, LENGTH_TAG, FRAME_TAG, NUM_TAG, 1,
                                          bits_per_payload_symbol, scramble_header=True)
    return digital.packet_header_ofdm(OCCUPIED_CARRIERS, n_syms=1, bits_per_header_sym=1,
                                      bits_per_payload_sym=bits_per_payload_symbol, scramble_header=True)


class ofdm_pdu_tx(gr.hier_block2):
    """Link packets on message port `in` -> OFDM bursts (complex baseband, mean power
    `amplitude`**2 per sample over each burst), one burst per packet.

    Args:
        modulation: payload constellation, bpsk, qpsk or 16qam (the header is always BPSK).
        code: payload code, none or cc (K=7 rate 1/2, terminated).
        max_packet: longest link packet carried (output buffers are sized for it);
            longer ones are dropped with a warning.
        amplitude: RMS amplitude of the burst samples.
    """

    def __init__(self, modulation: str = "qpsk", code: str = "none",
                 max_packet: int = DEFAULT_MAX_PACKET, amplitude: float = 1.0) -> None:
        gr.hier_block2.__init__(self, "ofdm_pdu_tx", gr.io_signature(0, 0, 0),
                                gr.io_signature(1, 1, gr.sizeof_gr_complex))
        self.message_port_register_hier_in("in")
        max_coded = _check(modulation, code, max_packet)
        bps = MODULATIONS[modulation]
        max_symbols = frame_symbols(int(max_packet), modulation, code) - SYNC_SYMBOLS
        self.modulation, self.code = modulation, code

        self.guard = length_guard(0, max_packet + CRC_BYTES, "OFDM transmitter", flush_on_done=True)
        self.crc_append = crc_append()
        self.scramble_stream = pdu.pdu_to_tagged_stream(gr.types.byte_t, LENGTH_TAG)
        self.scrambler = digital.additive_scrambler_bb(SCRAMBLER["mask"], SCRAMBLER["seed"], SCRAMBLER["len"], 0,
                                                       8, LENGTH_TAG)
        self.scrambled = pdu.tagged_stream_to_pdu(gr.types.byte_t, LENGTH_TAG)
        self.encoder = _encoder(max_packet + CRC_BYTES) if code == "cc" else None
        self.frame_stream = pdu.pdu_to_tagged_stream(gr.types.byte_t, LENGTH_TAG)
        self.header_gen = digital.packet_headergenerator_bb(_header_formatter(bps, rx=False).base(), LENGTH_TAG)
        self.header_encoder = fec.tagged_encoder(cc_encoder(HEADER_BITS, fec.CC_TAILBITING), gr.sizeof_char,
                                                 gr.sizeof_char, LENGTH_TAG, HEADER_BITS // 8)
        self.header_mod = digital.chunks_to_symbols_bc(digital.constellation_bpsk().points())
        self.payload_unpack = blocks.repack_bits_bb(8, bps, LENGTH_TAG, False, gr.GR_MSB_FIRST)
        self.payload_mod = digital.chunks_to_symbols_bc(constellation(modulation).points())
        self.mux = blocks.tagged_stream_mux(gr.sizeof_gr_complex, LENGTH_TAG, 1)
        self.allocator = digital.ofdm_carrier_allocator_cvc(FFT_LEN, OCCUPIED_CARRIERS, PILOT_CARRIERS,
                                                            PILOT_SYMBOLS, [SYNC_WORD1, SYNC_WORD2], LENGTH_TAG, True)
        self.ifft = fft.fft_vcc(FFT_LEN, False, (), True)
        self.cyclic_prefixer = digital.ofdm_cyclic_prefixer(FFT_LEN, SYMBOL_SAMPLES, 0, LENGTH_TAG)
        # the IFFT is unnormalised: a unit-power carrier symbol on each active carrier gives
        # ACTIVE_CARRIERS of power per sample
        self.scale = blocks.multiply_const_cc(amplitude / np.sqrt(ACTIVE_CARRIERS))
        self.burst = digital.burst_shaper_cc([], BURST_PADDING, BURST_PADDING, False, LENGTH_TAG)

        # tagged-stream blocks need a whole packet in their output buffer, twice over (GNU Radio
        # fills a buffer half way before it hands it on)
        for block, items in ((self.scramble_stream, max_coded), (self.frame_stream, max_coded),
                             (self.payload_unpack, 8 * max_coded), (self.payload_mod, 8 * max_coded),
                             (self.header_encoder, HEADER_SYMBOLS * DATA_CARRIERS_PER_SYMBOL),
                             (self.header_mod, HEADER_SYMBOLS * DATA_CARRIERS_PER_SYMBOL),
                             (self.mux, max_symbols * DATA_CARRIERS_PER_SYMBOL),
                             (self.allocator, max_symbols + SYNC_SYMBOLS), (self.ifft, max_symbols + SYNC_SYMBOLS),
                             (self.cyclic_prefixer, (max_symbols + SYNC_SYMBOLS) * SYMBOL_SAMPLES),
                             (self.scale, (max_symbols + SYNC_SYMBOLS) * SYMBOL_SAMPLES),
                             (self.burst, (max_symbols + SYNC_SYMBOLS) * SYMBOL_SAMPLES + 2 * BURST_PADDING)):
            block.set_min_output_buffer(0, 2 * int(items))

        self.msg_connect(self, "in", self.crc_append, "in")
        self.msg_connect(self.crc_append, "out", self.guard, "in")
        self.msg_connect(self.guard, "out", self.scramble_stream, "pdus")
        self.connect(self.scramble_stream, self.scrambler, self.scrambled)
        if self.encoder is not None:
            self.msg_connect(self.scrambled, "pdus", self.encoder, "in")
            self.msg_connect(self.encoder, "out", self.frame_stream, "pdus")
        else:
            self.msg_connect(self.scrambled, "pdus", self.frame_stream, "pdus")
        self.connect(self.frame_stream, self.header_gen, self.header_encoder, self.header_mod, (self.mux, 0))
        self.connect(self.frame_stream, self.payload_unpack, self.payload_mod, (self.mux, 1))
        self.connect(self.mux, self.allocator, self.ifft, self.cyclic_prefixer, self.scale, self.burst, self)

    def set_amplitude(self, amplitude: float) -> None:
        self.scale.set_k(amplitude / np.sqrt(ACTIVE_CARRIERS))


class ofdm_pdu_rx(gr.hier_block2):
    """OFDM baseband (complex) -> the link packets that passed the CRC-32 on message port `out`,
    with `snr_db`, `evm_db`, `cfo` and `packet_num` in each PDU's metadata; on message port
    `soft`, every decoded frame's soft bits (PDU of f32, one per coded bit, positive for 1,
    still scrambled), before the decoder.

    With `symbols`, a complex output: the equalised payload symbols, for a constellation sink.

    Args:
        modulation, code, max_packet: as the transmitter's (both ends must agree).
        threshold: Schmidl & Cox detection threshold (GNU Radio's ofdm_rx: 0.9).
        symbols: add the equalised-symbol output.
    """

    def __init__(self, modulation: str = "qpsk", code: str = "none",
                 max_packet: int = DEFAULT_MAX_PACKET, threshold: float = DEFAULT_THRESHOLD,
                 symbols: bool = False) -> None:
        gr.hier_block2.__init__(self, "ofdm_pdu_rx", gr.io_signature(1, 1, gr.sizeof_gr_complex),
                                gr.io_signature(1, 1, gr.sizeof_gr_complex) if symbols
                                else gr.io_signature(0, 0, 0))
        self.message_port_register_hier_out("out")
        self.message_port_register_hier_out("soft")
        max_coded = _check(modulation, code, max_packet)
        bps = MODULATIONS[modulation]
        payload_constellation = constellation(modulation)
        max_payload_symbols = -(-8 * max_coded // bps)
        max_frame = frame_symbols(int(max_packet), modulation, code) - SYNC_SYMBOLS - HEADER_SYMBOLS
        self.modulation, self.code = modulation, code

        # detection and fine frequency correction
        self.sync = digital.ofdm_sync_sc_cfb(FFT_LEN, CP_LEN, False, float(threshold))
        self.delay = blocks.delay(gr.sizeof_gr_complex, SYMBOL_SAMPLES - FRAME_START_SHIFT)
        self.cfo_tagger = _cfo_tagger()
        self.trigger = blocks.copy(gr.sizeof_char)  # a buffer of ours: the sync block is a hier block
        self.demux = digital.header_payload_demux(SYNC_SYMBOLS + HEADER_SYMBOLS, FFT_LEN, CP_LEN, FRAME_TAG,
                                                  "", True)
        self.connect(self, self.sync)
        self.connect(self, self.delay, (self.cfo_tagger, 0), (self.demux, 0))
        self.connect((self.sync, 0), (self.cfo_tagger, 1))
        self.connect((self.sync, 1), self.trigger)
        self.connect(self.trigger, (self.cfo_tagger, 2))
        self.connect(self.trigger, (self.demux, 1))

        # header: one BPSK symbol after the two sync words
        bpsk = digital.constellation_bpsk()
        self.header_derotator = _frame_derotator()
        self.header_fft = fft.fft_vcc(FFT_LEN, True, (), True)
        self.chanest = digital.ofdm_chanest_vcvc(SYNC_WORD1, SYNC_WORD2, HEADER_SYMBOLS)
        self.header_tracker = _pilot_tracker(0)
        self.header_eq = digital.ofdm_frame_equalizer_vcvc(
            digital.ofdm_equalizer_static(FFT_LEN, OCCUPIED_CARRIERS, PILOT_CARRIERS, PILOT_SYMBOLS, 0).base(),
            CP_LEN, FRAME_TAG, True, HEADER_SYMBOLS)
        self.header_serializer = digital.ofdm_serializer_vcc(FFT_LEN, OCCUPIED_CARRIERS, FRAME_TAG)
        self.header_soft = digital.constellation_soft_decoder_cf(bpsk.base())
        self.header_decoder = fec.extended_decoder(decoder_obj_list=[cc_decoder(HEADER_BITS, fec.CC_TAILBITING)],
                                                   threading=None, ann=None, puncpat="11", integration_period=10000)
        self.header_parser = digital.packet_headerparser_b(_header_formatter(bps, rx=True).formatter())
        self.connect((self.demux, 0), self.header_derotator, self.header_fft, self.chanest, self.header_tracker,
                     self.header_eq, self.header_serializer,
                     self.header_soft, self.header_decoder, self.header_parser)
        self.msg_connect(self.header_parser, "header_data", self.demux, "header_data")

        # payload: equalised symbols (not the equaliser's decisions, which ofdm_rx passes on:
        # soft bits need the distances) -> per-packet quality -> soft bits -> decoder -> CRC
        self.payload_derotator = _frame_derotator(SYNC_SYMBOLS + HEADER_SYMBOLS)
        self.payload_fft = fft.fft_vcc(FFT_LEN, True, (), True)
        self.payload_tracker = _pilot_tracker(HEADER_SYMBOLS)
        self.payload_eq = digital.ofdm_frame_equalizer_vcvc(
            digital.ofdm_equalizer_static(FFT_LEN, OCCUPIED_CARRIERS, PILOT_CARRIERS, PILOT_SYMBOLS,
                                          HEADER_SYMBOLS).base(), CP_LEN, FRAME_TAG)
        self.payload_serializer = digital.ofdm_serializer_vcc(FFT_LEN, OCCUPIED_CARRIERS, FRAME_TAG, LENGTH_TAG, 1)
        self.symbols_pdu = pdu.tagged_stream_to_pdu(gr.types.complex_t, LENGTH_TAG)
        self.quality = _packet_quality(payload_constellation, max_payload_symbols)
        self.symbols_stream = pdu.pdu_to_tagged_stream(gr.types.complex_t, LENGTH_TAG)
        self.soft_decoder = digital.constellation_soft_decoder_cf(payload_constellation.base())
        self.soft_length = blocks.tagged_stream_multiply_length(gr.sizeof_float, LENGTH_TAG, bps)
        self.soft_pdu = pdu.tagged_stream_to_pdu(gr.types.float_t, LENGTH_TAG)
        self.soft_guard = length_guard(1, 8 * max_coded, "OFDM receiver")
        self.out_guard = length_guard(1, max_packet, "OFDM receiver")
        self.decoder = _decoder(code, math.ceil(max_coded * CODES[code]))
        # A terminated code's tail and padding decode to one byte more than the frame had.
        self.trim = pdu.pdu_lambda(lambda data: data[:-1], "UVEC") if code == "cc" else None
        self.descramble_stream = pdu.pdu_to_tagged_stream(gr.types.byte_t, LENGTH_TAG)
        self.descrambler = digital.additive_scrambler_bb(SCRAMBLER["mask"], SCRAMBLER["seed"], SCRAMBLER["len"],
                                                         0, 8, LENGTH_TAG)
        self.descrambled = pdu.tagged_stream_to_pdu(gr.types.byte_t, LENGTH_TAG)
        self.crc_check = crc_check()

        # The demux drops a payload above half its output buffer and asks for the payload's
        # length of space on both outputs; the tagged-stream blocks need a whole packet in
        # theirs, twice over.
        frame_samples_ = (max_frame + SYNC_SYMBOLS + HEADER_SYMBOLS) * SYMBOL_SAMPLES
        for block, port, items in ((self.cfo_tagger, 0, frame_samples_), (self.trigger, 0, frame_samples_),
                                   (self.demux, 0, max_frame + 1), (self.demux, 1, max_frame + 1),
                                   (self.payload_derotator, 0, max_frame), (self.payload_fft, 0, max_frame),
                                   (self.payload_tracker, 0, max_frame),
                                   (self.payload_eq, 0, max_frame),
                                   (self.payload_serializer, 0, max_frame * DATA_CARRIERS_PER_SYMBOL),
                                   (self.symbols_stream, 0, max_payload_symbols),
                                   (self.soft_decoder, 0, 8 * max_coded), (self.soft_length, 0, 8 * max_coded),
                                   (self.descramble_stream, 0, max_coded)):
            block.set_min_output_buffer(port, 2 * int(items))

        self.connect((self.demux, 1), self.payload_derotator, self.payload_fft, self.payload_tracker, self.payload_eq,
                     self.payload_serializer, self.symbols_pdu)
        self.msg_connect(self.symbols_pdu, "pdus", self.quality, "in")
        self.msg_connect(self.quality, "out", self.symbols_stream, "pdus")
        self.connect(self.symbols_stream, self.soft_decoder, self.soft_length, self.soft_pdu)
        self.msg_connect(self.soft_pdu, "pdus", self.soft_guard, "in")
        self.msg_connect(self.soft_guard, "out", self, "soft")
        self.msg_connect(self.soft_guard, "out", self.decoder, "in")
        if self.trim is not None:
            self.msg_connect(self.decoder, "out", self.trim, "pdu")
            self.msg_connect(self.trim, "pdu", self.descramble_stream, "pdus")
        else:
            self.msg_connect(self.decoder, "out", self.descramble_stream, "pdus")
        self.connect(self.descramble_stream, self.descrambler, self.descrambled)
        self.msg_connect(self.descrambled, "pdus", self.crc_check, "in")
        self.msg_connect(self.crc_check, "ok", self.out_guard, "in")
        self.msg_connect(self.out_guard, "out", self, "out")
        if symbols:
            self.connect(self.payload_serializer, self)


__all__ = ["CODES", "DEFAULT_THRESHOLD", "MODULATIONS", "coded_bytes", "constellation", "frame_samples",
           "frame_symbols", "ofdm_pdu_rx", "ofdm_pdu_tx", "smooth_channel"]
