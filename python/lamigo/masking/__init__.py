"""Masking policies: which latent tokens the transmitter drops (section IV-D)."""

from lamigo.masking.policies import (
    DEFAULT_ORDER,
    DEFAULT_PATTERN,
    DEFAULT_POLICY,
    DEFAULT_RATIO,
    EBM_ORDERS,
    PDM_PATTERNS,
    POLICIES,
    EntropyBasedMasking,
    MaskingPolicy,
    NoMasking,
    PredeterminedMasking,
    PseudoRandomMasking,
    make_policy,
    policy_from_options,
)

__all__ = [
    "DEFAULT_ORDER",
    "DEFAULT_PATTERN",
    "DEFAULT_POLICY",
    "DEFAULT_RATIO",
    "EBM_ORDERS",
    "PDM_PATTERNS",
    "POLICIES",
    "EntropyBasedMasking",
    "MaskingPolicy",
    "NoMasking",
    "PredeterminedMasking",
    "PseudoRandomMasking",
    "make_policy",
    "policy_from_options",
]
