"""Masking policies: which latent tokens the transmitter drops (section IV-D)."""

from lamigo.masking.policies import (
    PDM_PATTERNS,
    POLICIES,
    EntropyBasedMasking,
    MaskingPolicy,
    NoMasking,
    PredeterminedMasking,
    PseudoRandomMasking,
    make_policy,
)

__all__ = [
    "PDM_PATTERNS",
    "POLICIES",
    "EntropyBasedMasking",
    "MaskingPolicy",
    "NoMasking",
    "PredeterminedMasking",
    "PseudoRandomMasking",
    "make_policy",
]
