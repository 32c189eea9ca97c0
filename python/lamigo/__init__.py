"""LaMI-GO: goal-oriented image communication with latent mixture integration."""

__version__ = "0.1.0"
