"""Channel simulation for the paper's noise setups (section III-C).

| setup | interleaving | index coder | channel |
|-------|--------------|-------------|---------|
| 1     | yes          | huffman     | packet erasures at a PER, damaged packets dropped by CRC |
| 2     | yes          | fixed       | bit flips at a BER, passed through (no payload CRC) |
| 3     | no           | huffman     | packet erasures at a PER |
| 4     | no           | fixed       | bit flips at a BER |

No error correction protects the tokens and the caption, as in the paper; the control block is
always protected (see `lamigo.link.fec`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from lamigo.coding import DEFAULT_INDEX_CODER
from lamigo.errors import ConfigError
from lamigo.link.packet import HEADER_SIZE
from lamigo.link.packetizer import LinkConfig


def snr_db(noise_voltage: float, signal_power: float = 1.0) -> float:
    """SNR per sample in dB: the mean power per sample `signal_power` of a signal (1: amplitude
    1, as every modem of gr-lamigo emits over its bursts) over the complex noise variance in the
    sample band, `noise_voltage` squared (GNU Radio's noise sources and channel models), as
    gr-ieee802-11's simulations define it; inf without noise. Es/N0 and Eb/N0 follow from a
    modem's samples per symbol and bits per symbol (lamigo_gr.blocks.modems.Modem)."""
    return math.inf if noise_voltage == 0 else 10 * math.log10(signal_power / noise_voltage ** 2)


def noise_voltage(snr_db: float, signal_power: float = 1.0) -> float:
    """The noise voltage (standard deviation of a complex noise source) that gives a per-sample
    SNR of `snr_db` for a signal of mean power `signal_power` (the inverse of `snr_db`); 0 for an
    infinite SNR."""
    if not signal_power > 0 or math.isnan(snr_db):
        raise ConfigError(f"signal power must be > 0 and SNR a number, got {signal_power}, {snr_db}")
    return 0.0 if snr_db == math.inf else math.sqrt(signal_power / 10 ** (snr_db / 10))


@dataclass
class ChannelStats:
    """What a channel did to the packets passed through it so far."""

    packets_in: int = 0
    packets_dropped: int = 0
    bits_flipped: int = 0
    packets_flipped: int = 0


def _check_rate(name: str, rate: float) -> float:
    if not 0.0 <= rate <= 1.0:
        raise ConfigError(f"{name} must lie in [0, 1], got {rate}")
    return float(rate)


@dataclass
class PacketErasureChannel:
    """Drops each packet independently with probability `per` (packet error rate)."""

    per: float
    seed: int | None = None
    stats: ChannelStats = field(default_factory=ChannelStats, init=False)

    def __post_init__(self) -> None:
        self.per = _check_rate("PER", self.per)
        self._rng = np.random.default_rng(self.seed)

    def __call__(self, packets: Iterable[bytes]) -> list[bytes]:
        packets = list(packets)
        kept = self._rng.random(len(packets)) >= self.per
        self.stats.packets_in += len(packets)
        self.stats.packets_dropped += int((~kept).sum())
        return [packet for packet, keep in zip(packets, kept) if keep]


@dataclass
class BitFlipChannel:
    """Flips each bit independently with probability `ber` (bit error rate).

    The first `protected_bytes` of each packet (by default the link header) are left intact:
    they model the PHY/MAC header that radios send at their most robust rate, and match the
    paper's assumption that bit noise hits the GO message. With `protected_bytes=0` headers are
    hit too; the header CRC then turns a damaged header into a dropped packet.

    The flips of the n-th packet depend only on the seed and n, not on the lengths of the packets
    before it: two streams sent through channels of the same seed (a GO message and the classical
    file it is compared with) see the same bit positions flipped in each packet slot."""

    ber: float
    seed: int | None = None
    protected_bytes: int = HEADER_SIZE
    stats: ChannelStats = field(default_factory=ChannelStats, init=False)

    def __post_init__(self) -> None:
        self.ber = _check_rate("BER", self.ber)
        if self.protected_bytes < 0:
            raise ConfigError(f"protected_bytes must be >= 0, got {self.protected_bytes}")
        self._entropy = np.random.SeedSequence(self.seed).entropy

    def __call__(self, packets: Iterable[bytes]) -> list[bytes]:
        received = []
        for packet in packets:
            slot_rng = np.random.default_rng([self._entropy, self.stats.packets_in])
            self.stats.packets_in += 1
            exposed = np.frombuffer(packet[self.protected_bytes :], dtype=np.uint8)
            flips = slot_rng.random(exposed.size * 8) < self.ber
            n_flips = int(flips.sum())
            if n_flips:
                self.stats.bits_flipped += n_flips
                self.stats.packets_flipped += 1
                exposed = exposed ^ np.packbits(flips)
            received.append(packet[: self.protected_bytes] + exposed.tobytes())
        return received


@dataclass
class SlotErasureChannel:
    """Drops the packets in `lost_slots` (positions in the stream, counted across calls): replays
    on another stream the losses a real link inflicted on one, e.g. a GNU Radio loopback's on a
    GO message, for the classical file it is compared with."""

    lost_slots: frozenset[int]
    stats: ChannelStats = field(default_factory=ChannelStats, init=False)

    def __call__(self, packets: Iterable[bytes]) -> list[bytes]:
        packets = list(packets)
        start = self.stats.packets_in
        kept = [packet for slot, packet in enumerate(packets, start) if slot not in self.lost_slots]
        self.stats.packets_in += len(packets)
        self.stats.packets_dropped += len(packets) - len(kept)
        return kept


Channel = PacketErasureChannel | BitFlipChannel | SlotErasureChannel


@dataclass(frozen=True)
class NoiseSetup:
    """One of the paper's four noise setups."""

    number: int
    interleaver: str
    index_coder: str
    text_coder: str
    erasures: bool  #: True: packet erasures at a PER; False: bit flips at a BER

    @property
    def description(self) -> str:
        interleaving = "interleaving" if self.interleaver != "none" else "no interleaving"
        noise = "packet drops (PER)" if self.erasures else "bit flips (BER)"
        return f"setup {self.number}: {interleaving}, {self.index_coder} coding, {noise}"

    def link_config(self, **overrides) -> LinkConfig:
        """The packetizer settings of this setup; `overrides` set other LinkConfig fields."""
        return LinkConfig(interleaver=self.interleaver, payload_crc=self.erasures, **overrides)

    def channel(self, rate: float, seed: int | None = None) -> Channel:
        """The channel of this setup at the given PER (erasure setups) or BER (bit-flip setups)."""
        if self.erasures:
            return PacketErasureChannel(rate, seed)
        return BitFlipChannel(rate, seed)


# The bit-flip setups code indices and caption with fixed-length codes, so a flipped bit changes
# one token or character and cannot derail the rest of its packet; the erasure setups use the
# default (variable-length) coders.
NOISE_SETUPS = {
    1: NoiseSetup(1, interleaver="block", index_coder=DEFAULT_INDEX_CODER, text_coder="huffman", erasures=True),
    2: NoiseSetup(2, interleaver="block", index_coder="fixed", text_coder="utf8", erasures=False),
    3: NoiseSetup(3, interleaver="none", index_coder=DEFAULT_INDEX_CODER, text_coder="huffman", erasures=True),
    4: NoiseSetup(4, interleaver="none", index_coder="fixed", text_coder="utf8", erasures=False),
}


def noise_setup(number: int) -> NoiseSetup:
    """The paper's noise setup `number` (1 to 4)."""
    if number not in NOISE_SETUPS:
        raise ConfigError(f"unknown noise setup {number}; choose one of {sorted(NOISE_SETUPS)}")
    return NOISE_SETUPS[number]
