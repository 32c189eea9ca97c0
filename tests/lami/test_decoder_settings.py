"""The decoder's settings: validated in one place, one set of options for every command."""

from __future__ import annotations

import argparse

import pytest

from lamigo.cli.main import build_parser
from lamigo.errors import ConfigError
from lamigo.lami import DecoderSettings, add_decoder_options, decoder_arguments, decoder_settings


def parse(*argv: str, **options: bool) -> DecoderSettings:
    parser = argparse.ArgumentParser()
    add_decoder_options(parser, **options)
    return decoder_settings(parser.parse_args(list(argv)))


def test_defaults_and_options() -> None:
    assert parse() == DecoderSettings()
    settings = parse("--steps", "32", "--renoise", "28", "--renoise-scope", "all", "--cfg", "4",
                     "--cfg-steps", "20", "--temperature", "1.2", "0.3", "--seed", "7")
    assert settings == DecoderSettings(steps=32, renoise=28, cfg=4.0, cfg_steps=20, temperature=(1.2, 0.3),
                                       renoise_scope="all", seed=7)
    assert settings.guided_steps == 20
    assert DecoderSettings(cfg=1.0).guided_steps == 0 and DecoderSettings().guided_steps == 8


def test_a_base_gives_the_defaults_the_options_leave() -> None:
    parser = argparse.ArgumentParser()
    add_decoder_options(parser)
    base = DecoderSettings(steps=2, renoise=1)
    assert decoder_settings(parser.parse_args([]), base) == base
    assert decoder_settings(parser.parse_args(["--renoise", "0"]), base) == base.replace(renoise=0)


def test_the_options_given_to_another_command_give_the_same_settings() -> None:
    for settings in (DecoderSettings(), DecoderSettings(steps=32, renoise=28, cfg=3.5, cfg_steps=20,
                                                        temperature=(0.7, 0.1), renoise_scope="all", seed=4)):
        assert parse(*decoder_arguments(settings)) == settings


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"steps": 0}, "T must be at least 1"),
        ({"renoise": 9}, r"tau must lie in \[0, T=8\]"),
        ({"renoise": -1}, r"tau must lie in \[0, T=8\]"),
        ({"cfg_steps": 9}, r"guided steps must lie in \[0, T=8\]"),
        ({"temperature": (1.0, 0.0)}, "temperatures must be positive"),
        ({"cfg": float("nan")}, "finite"),
        ({"renoise_scope": "some"}, "all, masked"),
    ],
)
def test_bad_settings_are_config_errors(changes: dict, error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        DecoderSettings(**changes)


@pytest.mark.parametrize("command", ["decode", "simulate", "serve", "eval"])
def test_every_decoding_command_has_the_options(command: str) -> None:
    subparsers = next(action for action in build_parser()._actions
                      if isinstance(action, argparse._SubParsersAction))
    text = subparsers.choices[command].format_help()
    for option in ("--renoise-scope", "--cfg-steps", "--cfg", "--temperature"):
        assert option in text, (command, option)
    if command == "eval":  # eval's sweeps set tau/T; its --steps only picks among their settings
        assert "--steps TAU/T" in text and "--renoise TAU" not in text
    else:
        assert "--steps T " in text and "--renoise TAU" in text
