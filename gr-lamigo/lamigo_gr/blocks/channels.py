"""The simulated radio channel: one registry of channels by name (`CHANNELS`, `get_channel`) and
one hierarchical block, `radio_channel`, built from GNU Radio's own channel models.

`radio_channel`: complex baseband in -> complex baseband out, with the fading, offsets and
noise of the channel named by `channel`:

- `awgn`: `channels.channel_model` (white Gaussian noise, frequency and timing offset);
- `rayleigh`: flat fading without line of sight (`channels.fading_model`, LOS off), then the
  AWGN stage;
- `rician`: flat fading with a line-of-sight path of Rician factor `k_factor`
  (`channels.fading_model`, LOS on), then the AWGN stage;
- `multipath`: frequency-selective fading over a named tap profile (`TAP_PROFILES`,
  `channels.selective_fading_model`; the first tap Rician when `los`), then the AWGN stage;
- `dynamic`: `channels.dynamic_channel_model`: sample-rate offset and carrier-frequency offset
  random walks, selective fading over the tap profile, and its own noise source.

**SNR.** One definition, as gr-ieee802-11's simulations use it: the mean transmitted power per
sample over the complex noise variance in the sample band, SNR = P / sigma^2, where sigma is the
noise voltage of GNU Radio's noise source (complex Gaussian, E|n|^2 = sigma^2). `snr_db` is that
ratio in dB and `signal_power` is P. Every modem of `lamigo_gr.blocks.modems` emits bursts of
mean power 1 per sample (tested per modem, measured over its bursts), so `signal_power` stays 1
for them; a signal of another power states it there, or measures it with `mean_power`. The fading
stages have a mean power gain of 1 (tap profiles are normalised to unit energy), so the SNR at
the receiver is the stated one on average over fading realisations.

**Seeds.** `seed` (>= 0) seeds the fader(s) and the noise: the same seed gives the same channel
realisation and noise, sample for sample. Fading rates are normalised: `doppler` is the maximum
Doppler frequency times the sample period (fD*Ts); the dynamic channel's offsets are normalised
to the sample rate as well (cycles per sample).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from gnuradio import channels, gr

from lamigo.errors import ConfigError
from lamigo.link.channel import noise_voltage, snr_db
from lamigo.registry import Registry


def mean_power(samples: np.ndarray) -> float:
    """Mean power per sample, E|x|^2, of complex samples: the P of the SNR definition."""
    samples = np.asarray(samples)
    return float(np.mean(np.abs(samples) ** 2)) if samples.size else 0.0


@dataclass(frozen=True)
class TapProfile:
    """A power-delay profile for the selective faders: path delays in samples (fractional delays
    are sinc-interpolated by GNU Radio) and relative amplitudes, normalised to unit energy."""

    name: str
    delays: tuple[float, ...]
    magnitudes: tuple[float, ...]
    description: str

    def normalised_magnitudes(self) -> list[float]:
        """The amplitudes scaled so that the sum of their squares is 1 (mean power gain 1)."""
        energy = math.sqrt(sum(m * m for m in self.magnitudes))
        return [m / energy for m in self.magnitudes]

    @property
    def span(self) -> int:
        """Samples from the first path to the last, rounded up."""
        return int(math.ceil(max(self.delays)))


TAP_PROFILES: dict[str, TapProfile] = {profile.name: profile for profile in (
    TapProfile("three-tap", (0.0, 1.0, 2.0), (1.0, 0.5, 0.25),
               "three paths one sample apart, amplitudes 1, 1/2, 1/4 (the profile of the stock OFDM figures)"),
    TapProfile("two-ray", (0.0, 3.0), (1.0, 0.7),
               "a direct path and one echo 3 samples later, 3 dB weaker"),
    TapProfile("exponential", (0.0, 1.0, 2.0, 3.0, 4.0, 5.0),
               tuple(math.exp(-k / 2) for k in range(6)),
               "six paths one sample apart, power falling 1/e per sample (rms delay spread about 1 sample)"),
)}


@dataclass(frozen=True)
class ChannelSettings:
    """What a channel is built from; see `radio_channel` for each option."""

    noise_voltage: float
    seed: int
    frequency_offset: float = 0.0
    timing_offset: float = 1.0
    doppler: float = 1e-4
    los: bool = False
    k_factor: float = 4.0
    profile: str = "three-tap"
    sinusoids: int = 8
    ntaps: int = 8
    sro_stdev: float = 0.0
    sro_maxdev: float = 0.0
    cfo_stdev: float = 0.0
    cfo_maxdev: float = 0.0


@dataclass(frozen=True)
class Channel:
    """A channel by name: `build(settings)` gives the GNU Radio blocks it chains, input to
    output; the last one adds the noise (a channel_model or the dynamic_channel_model)."""

    name: str
    build: Callable[[ChannelSettings], Sequence[gr.basic_block]]
    description: str


CHANNELS: Registry[Channel] = Registry("channel")  #: the channels by name, in registration order


def register_channel(channel: Channel) -> Channel:
    """Add a channel under its name; a name already taken is refused."""
    return CHANNELS.register(channel)


def get_channel(name: str) -> Channel:
    """The channel named `name`; ConfigError naming the choices when there is none."""
    return CHANNELS.lookup(name)


def get_tap_profile(name: str) -> TapProfile:
    """The tap profile named `name`; ConfigError naming the choices when there is none."""
    if name not in TAP_PROFILES:
        raise ConfigError(f"unknown tap profile {name!r}; choose one of {', '.join(TAP_PROFILES)}")
    return TAP_PROFILES[name]


def _awgn(s: ChannelSettings) -> gr.hier_block2:
    """GNU Radio's channel_model: timing offset, frequency offset (cycles per sample), noise."""
    return channels.channel_model(s.noise_voltage, s.frequency_offset, s.timing_offset, [1.0], s.seed, True)


def _selective(s: ChannelSettings) -> gr.basic_block:
    profile = get_tap_profile(s.profile)
    return channels.selective_fading_model(s.sinusoids, s.doppler, s.los, s.k_factor, s.seed,
                                           list(profile.delays), profile.normalised_magnitudes(), s.ntaps)


def _dynamic(s: ChannelSettings) -> list[gr.basic_block]:
    profile = get_tap_profile(s.profile)
    # sample rate 1: SRO, CFO and Doppler in cycles per sample, as everywhere in this module
    dynamic = channels.dynamic_channel_model(1.0, s.sro_stdev, s.sro_maxdev, s.cfo_stdev, s.cfo_maxdev,
                                             s.sinusoids, s.doppler, s.los, s.k_factor, list(profile.delays),
                                             profile.normalised_magnitudes(), s.ntaps, s.noise_voltage, s.seed)
    if s.frequency_offset == 0.0 and s.timing_offset == 1.0:
        return [dynamic]
    return [channels.channel_model(0.0, s.frequency_offset, s.timing_offset, [1.0], s.seed, True), dynamic]


register_channel(Channel("awgn", lambda s: [_awgn(s)],
                         "white Gaussian noise with frequency and timing offset (channels.channel_model)"))
register_channel(Channel("rayleigh", lambda s: [channels.fading_model(s.sinusoids, s.doppler, False, s.k_factor,
                                                                      s.seed), _awgn(s)],
                         "flat Rayleigh fading (channels.fading_model, no line of sight), then AWGN"))
register_channel(Channel("rician", lambda s: [channels.fading_model(s.sinusoids, s.doppler, True, s.k_factor,
                                                                    s.seed), _awgn(s)],
                         "flat Rician fading of factor K (channels.fading_model, line of sight), then AWGN"))
register_channel(Channel("multipath", lambda s: [_selective(s), _awgn(s)],
                         "frequency-selective fading over a tap profile (channels.selective_fading_model), "
                         "then AWGN"))
register_channel(Channel("dynamic", _dynamic,
                         "sample-rate and carrier offset random walks, selective fading and noise "
                         "(channels.dynamic_channel_model)"))


class radio_channel(gr.hier_block2):
    """Complex baseband in -> the channel named `channel` -> complex baseband out.

    Args:
        channel: a name in `CHANNELS` (awgn, rayleigh, rician, multipath, dynamic).
        snr_db: SNR per sample in dB: mean signal power `signal_power` over the complex noise
            variance (see the module docstring); `math.inf` adds no noise.
        seed: seeds the faders and the noise (>= 0); the same seed, the same channel.
        signal_power: mean power per sample of the signal coming in (1 for our modems).
        frequency_offset: carrier offset in cycles per sample.
        timing_offset: sample clock ratio (1: none), as channel_model's epsilon.
        doppler: maximum Doppler frequency times the sample period (fD*Ts) of the faders.
        los: a line-of-sight first path for `multipath` and `dynamic` (Rician, `k_factor`).
        k_factor: Rician factor K (LOS power over scattered power) where there is a LOS path.
        profile: a tap profile name in `TAP_PROFILES`, for `multipath` and `dynamic`.
        sinusoids: sinusoids per fader (the sum-of-sinusoids model's N).
        ntaps: length of the selective fader's filter (at least the profile's span + 1).
        sro_stdev, sro_maxdev: `dynamic`: sample-rate offset random walk step and bound, in
            cycles per sample.
        cfo_stdev, cfo_maxdev: `dynamic`: carrier-offset random walk step and bound, in cycles
            per sample.
    """

    def __init__(self, channel: str = "awgn", snr_db: float = 30.0, seed: int = 0, signal_power: float = 1.0,
                 frequency_offset: float = 0.0, timing_offset: float = 1.0, doppler: float = 1e-4,
                 los: bool = False, k_factor: float = 4.0, profile: str = "three-tap", sinusoids: int = 8,
                 ntaps: int = 8, sro_stdev: float = 0.0, sro_maxdev: float = 0.0, cfo_stdev: float = 0.0,
                 cfo_maxdev: float = 0.0) -> None:
        gr.hier_block2.__init__(self, "radio_channel", gr.io_signature(1, 1, gr.sizeof_gr_complex),
                                gr.io_signature(1, 1, gr.sizeof_gr_complex))
        self.channel = get_channel(channel)
        seed, sinusoids, ntaps = int(seed), int(sinusoids), int(ntaps)
        if seed < 0:
            raise ConfigError(f"channel seed must be >= 0, got {seed}")
        if not 0 <= doppler < 0.5 or k_factor < 0 or sinusoids < 1 or not timing_offset > 0:
            raise ConfigError("channel: need 0 <= doppler < 0.5, k_factor >= 0, sinusoids >= 1, timing_offset > 0; "
                              f"got {doppler}, {k_factor}, {sinusoids}, {timing_offset}")
        if ntaps <= get_tap_profile(profile).span:
            raise ConfigError(f"channel: ntaps {ntaps} must exceed the {profile!r} profile's span "
                              f"{get_tap_profile(profile).span}")
        self.signal_power = float(signal_power)
        self.settings = ChannelSettings(
            noise_voltage(snr_db, self.signal_power), seed, float(frequency_offset), float(timing_offset),
            float(doppler), bool(los), float(k_factor), profile, sinusoids, ntaps, float(sro_stdev),
            float(sro_maxdev), float(cfo_stdev), float(cfo_maxdev))
        self.stages = list(self.channel.build(self.settings))
        self.connect(self, *self.stages, self)

    @property
    def noise_voltage(self) -> float:
        return self.settings.noise_voltage

    def set_snr_db(self, snr_db: float) -> None:
        """Change the noise to give `snr_db` (the noise stage is the last block)."""
        voltage = noise_voltage(snr_db, self.signal_power)
        last = self.stages[-1]
        if hasattr(last, "set_noise_voltage"):
            last.set_noise_voltage(voltage)
        else:  # dynamic_channel_model
            last.set_noise_amp(voltage)
        self.settings = ChannelSettings(**{**self.settings.__dict__, "noise_voltage": voltage})

    def set_frequency_offset(self, frequency_offset: float) -> None:
        """Change the static carrier offset (cycles per sample); the dynamic channel has one only
        when it was built with a nonzero frequency or timing offset."""
        for stage in self.stages:
            if hasattr(stage, "set_frequency_offset"):
                stage.set_frequency_offset(frequency_offset)
                break


__all__ = ["CHANNELS", "TAP_PROFILES", "Channel", "ChannelSettings", "TapProfile", "get_channel", "get_tap_profile",
           "mean_power", "noise_voltage", "radio_channel", "register_channel", "snr_db"]
