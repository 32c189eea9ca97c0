"""The LaMI decoder's settings: one validated object, and the command-line options that make it.

Every command that decodes (`decode`, `simulate`, `serve`, `eval`, the demo, `bench/showtime.py`)
adds the options with `add_decoder_options` and reads them back with `decoder_settings`; the
defaults live in `DecoderSettings` alone.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from dataclasses import dataclass

from lamigo.errors import ConfigError

__all__ = ["RENOISE_SCOPES", "DecoderSettings", "add_decoder_options", "decoder_arguments", "decoder_settings"]

# Where Paella's re-noising Gamma acts; see `DecoderSettings.renoise_scope`.
RENOISE_SCOPES = ("all", "masked")


@dataclass(frozen=True)
class DecoderSettings:
    """How the LaMI sampler (Algorithm 2, eq. 12-13 of the paper) regenerates the missing tokens.

    Attributes:
        steps: T, denoising steps; step i (from 0) tells the denoiser the noise level
            t_i = 1 - i/T.
        renoise: tau in [0, T]; after each of the first tau steps Paella's Gamma sends a fraction
            t_{i+1} of the tokens back to the initial noise (the paper's tau/T settings: 4/8,
            28/32, 50/62, 94/100, 194/200).
        cfg: classifier-free guidance scale, logits = cfg * cond + (1 - cfg) * uncond; 1 turns
            guidance off.
        cfg_steps: guide only the first N steps and sample the conditional logits alone after
            them (Paella's own demos guide 20 of 32 steps); None guides every step.
        temperature: sampling temperature at the first and the last step, linear in between.
        renoise_scope: which tokens Gamma may send back to noise.
            "all" reads eq. 13 and Algorithm 2 literally: Gamma acts on the whole map
            I_{i-1}, received tokens included, so the denoiser sees a fraction t_i of noise
            everywhere, as in Paella's training; eq. 12 then writes the received tokens back
            into I_i, so they never change in the result.
            "masked" re-noises only the tokens being regenerated: the received ones stay in the
            denoiser's input at every step, which then holds less noise than the level t_i it
            is told. The default, because it measured better (ST-LPIPS, then PSNR) with the
            default model set at tau/T 28/32 and as well at 4/8 (README, `lamigo eval
            --experiments renoising`).
        seed: seeds one generator per message, so a message draws the same random numbers
            alone or inside any batch.
    """

    steps: int = 8
    renoise: int = 4
    cfg: float = 8.0
    cfg_steps: int | None = None
    temperature: tuple[float, float] = (1.0, 0.2)
    renoise_scope: str = "masked"
    seed: int = 0

    def __post_init__(self) -> None:
        # Each error names the command-line option that sets the field.
        object.__setattr__(self, "temperature", tuple(float(t) for t in self.temperature))
        if self.steps < 1:
            raise ConfigError(f"--steps: denoising steps T must be at least 1, got {self.steps}")
        if not 0 <= self.renoise <= self.steps:
            raise ConfigError(f"--renoise: re-noising steps tau must lie in [0, T={self.steps}], got {self.renoise}")
        if not math.isfinite(self.cfg):
            raise ConfigError(f"--cfg: the guidance scale must be a finite number, got {self.cfg}")
        if self.cfg_steps is not None and not 0 <= self.cfg_steps <= self.steps:
            raise ConfigError(f"--cfg-steps: guided steps must lie in [0, T={self.steps}], got {self.cfg_steps}")
        if len(self.temperature) != 2 or not all(t > 0 and math.isfinite(t) for t in self.temperature):
            raise ConfigError(f"--temperature: sampling temperatures must be positive (first, last), got "
                              f"{self.temperature}")
        if self.renoise_scope not in RENOISE_SCOPES:
            raise ConfigError(f"--renoise-scope: re-noising scope must be one of {', '.join(RENOISE_SCOPES)}, got "
                              f"{self.renoise_scope!r}")

    @property
    def guided_steps(self) -> int:
        """How many of the first steps run classifier-free guidance (0 when cfg is 1)."""
        if self.cfg == 1.0:
            return 0
        return self.steps if self.cfg_steps is None else self.cfg_steps

    def replace(self, **changes: object) -> DecoderSettings:
        """A copy with `changes`, validated again."""
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, object]:
        """The settings for a JSON report."""
        return {**dataclasses.asdict(self), "temperature": list(self.temperature)}


def add_decoder_options(parser: argparse.ArgumentParser, *, steps: bool = True, seed: bool = True) -> None:
    """Add the decoder's options to `parser`; `decoder_settings` reads them back.

    `steps=False` leaves out --steps/--renoise (for a command whose sweeps set tau/T) and
    `seed=False` leaves out --seed (for a command whose own --seed also seeds the sampler).
    """
    default = DecoderSettings()
    group = parser.add_argument_group("LaMI decoder")
    if steps:
        group.add_argument("--steps", type=int, default=None, metavar="T",
                           help=f"denoising steps T; the paper pairs tau/T as 4/8, 28/32, 50/62, 94/100, "
                           f"194/200 (default: {default.steps})")
        group.add_argument("--renoise", type=int, default=None, metavar="TAU",
                           help="re-noising steps tau, 0 to T: after each of the first tau steps part of "
                           f"the tokens goes back to the initial noise (default: {default.renoise})")
    group.add_argument("--renoise-scope", choices=RENOISE_SCOPES, default=None,
                       help="tokens the re-noising may touch: all (eq. 13 and Algorithm 2 as written: "
                       "the whole map, received tokens included, which eq. 12 then restores) or masked "
                       f"(only the regenerated tokens) (default: {default.renoise_scope})")
    group.add_argument("--cfg", type=float, default=None, metavar="S",
                       help=f"classifier-free guidance scale; 1 turns it off (default: {default.cfg:g})")
    group.add_argument("--cfg-steps", type=int, default=None, metavar="N",
                       help="guide only the first N steps, as Paella's demos guide 20 of 32 "
                       "(default: every step)")
    group.add_argument("--temperature", type=float, nargs=2, default=None, metavar=("FIRST", "LAST"),
                       help="sampling temperature at the first and last step, linear in between "
                       f"(default: {default.temperature[0]:g} {default.temperature[1]:g})")
    if seed:
        group.add_argument("--seed", type=int, default=None,
                           help=f"sampling seed (default: {default.seed})")


def decoder_settings(args: argparse.Namespace, base: DecoderSettings | None = None) -> DecoderSettings:
    """The settings `add_decoder_options` selected: `base` (else the defaults) with every option
    given on the command line; ConfigError when they do not fit together."""
    base = base or DecoderSettings()
    names = ("steps", "renoise", "renoise_scope", "cfg", "cfg_steps", "temperature", "seed")
    given = {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}
    if "temperature" in given:
        given["temperature"] = tuple(given["temperature"])
    return base.replace(**given)


def decoder_arguments(settings: DecoderSettings) -> list[str]:
    """The command-line options that give `settings` to another lamigo command (the demo starts
    `lamigo serve` with them)."""
    arguments = ["--steps", str(settings.steps), "--renoise", str(settings.renoise),
                 "--renoise-scope", settings.renoise_scope, "--cfg", repr(settings.cfg),
                 "--temperature", *map(repr, settings.temperature), "--seed", str(settings.seed)]
    if settings.cfg_steps is not None:
        arguments += ["--cfg-steps", str(settings.cfg_steps)]
    return arguments
