"""The Radio Channel block (lamigo_gr.blocks.channels): its GRC choices are the registry's, the same
seed gives the same channel sample for sample, every channel's fading keeps the mean power (gain 1,
what gnuradio#7006's open sin/cos question leaves to check), flat Rayleigh fades as deep and as
often as Rayleigh fading does, and the noise it adds is the one the SNR definition states."""

import math

import numpy as np
import pytest
import yaml
from gnuradio import blocks, gr

from lamigo.errors import ConfigError
from lamigo_gr.apps.flowgraphs import GRC_BLOCKS_DIR
from lamigo_gr.blocks.channels import (CHANNELS, TAP_PROFILES, mean_power, noise_voltage, radio_channel, snr_db)

N = 40_000


def _run(samples, **options):
    top_block = gr.top_block()
    source, sink = blocks.vector_source_c(samples, False), blocks.vector_sink_c()
    top_block.connect(source, radio_channel(**options), sink)
    top_block.run()
    return np.array(sink.data())


def _unit_signal(n=N, seed=0):
    return np.exp(2j * np.pi * np.random.default_rng(seed).random(n)).astype(np.complex64)


def test_the_grc_block_offers_exactly_the_registered_channels_and_profiles():
    block = yaml.safe_load((GRC_BLOCKS_DIR / "lamigo_radio_channel.block.yml").read_text())
    parameters = {parameter["id"]: parameter for parameter in block["parameters"]}
    assert parameters["channel"]["options"] == list(CHANNELS)
    assert len(parameters["channel"]["option_labels"]) == len(CHANNELS)
    assert parameters["profile"]["options"] == list(TAP_PROFILES)


def test_snr_and_noise_voltage_are_one_definition():
    assert noise_voltage(20.0) == pytest.approx(0.1)
    assert noise_voltage(10.0, signal_power=4.0) == pytest.approx(math.sqrt(0.4))
    assert snr_db(noise_voltage(7.5, 2.0), 2.0) == pytest.approx(7.5)
    assert noise_voltage(math.inf) == 0 and snr_db(0.0) == math.inf


@pytest.mark.parametrize("name", list(CHANNELS))
def test_a_seed_reproduces_its_channel_and_another_seed_does_not(name):
    signal = _unit_signal(8000)
    first = _run(signal, channel=name, snr_db=15.0, seed=5, doppler=0.01)
    assert np.array_equal(first, _run(signal, channel=name, snr_db=15.0, seed=5, doppler=0.01))
    assert not np.allclose(first, _run(signal, channel=name, snr_db=15.0, seed=6, doppler=0.01))


@pytest.mark.parametrize("name", list(CHANNELS))
def test_the_noise_added_is_the_stated_snr(name):
    # no signal: what comes out is the channel's noise alone; its power is P / SNR for P = 1
    noise = _run(np.zeros(N, np.complex64), channel=name, snr_db=10.0, seed=2, doppler=0.01)
    assert mean_power(noise) == pytest.approx(0.1, rel=0.03)
    # and it scales with the stated signal power
    noise = _run(np.zeros(N, np.complex64), channel=name, snr_db=10.0, seed=2, signal_power=4.0)
    assert mean_power(noise) == pytest.approx(0.4, rel=0.03)


@pytest.mark.parametrize("name, options", [
    ("awgn", {}), ("rayleigh", {}), ("rician", {"k_factor": 2.0}), ("multipath", {}),
    ("multipath", {"los": True, "profile": "exponential"}), ("dynamic", {"profile": "two-ray"}),
])
def test_fading_keeps_the_mean_power(name, options):
    # fast fading (fD*Ts 0.02), averaged over realisations: mean power gain 1
    gains = [mean_power(_run(_unit_signal(10_000, seed), channel=name, snr_db=math.inf, seed=seed,
                             doppler=0.02, **options)) for seed in range(6)]
    assert np.mean(gains) == pytest.approx(1.0, abs=0.1)


def test_flat_rayleigh_fades_as_rayleigh_fading_does():
    # |h|^2 of Rayleigh fading is exponential with mean 1: below 0.1 (a 10 dB fade) 9.5 % of the time
    powers = np.concatenate([np.abs(_run(np.ones(10_000, np.complex64), channel="rayleigh", snr_db=math.inf,
                                         seed=seed, doppler=0.02)) ** 2 for seed in range(8)])
    assert np.mean(powers) == pytest.approx(1.0, abs=0.1)
    assert np.mean(powers < 0.1) == pytest.approx(1 - math.exp(-0.1), abs=0.03)
    assert np.mean(powers > 2.0) == pytest.approx(math.exp(-2.0), abs=0.04)


def test_the_frequency_offset_turns_the_signal():
    out = _run(np.ones(2000, np.complex64), channel="awgn", snr_db=math.inf, frequency_offset=0.01)
    steps = np.angle(out[1:] * np.conj(out[:-1]))
    assert np.allclose(steps, 2 * np.pi * 0.01, atol=1e-3)


def test_the_snr_can_be_changed_while_running():
    channel = radio_channel(channel="dynamic", snr_db=30.0)
    channel.set_snr_db(0.0)
    assert channel.noise_voltage == pytest.approx(1.0)


@pytest.mark.parametrize("options, message", [
    ({"channel": "nakagami"}, "unknown channel 'nakagami'; choose one of awgn"),
    ({"profile": "hilly"}, "unknown tap profile 'hilly'"),
    ({"seed": -1}, "seed must be >= 0"),
    ({"channel": "multipath", "ntaps": 2}, "must exceed"),
    ({"doppler": 0.7}, "doppler"),
    ({"signal_power": 0.0}, "signal power must be > 0"),
])
def test_bad_options_are_refused_with_one_clear_error(options, message):
    with pytest.raises(ConfigError, match=message):
        radio_channel(**options)
