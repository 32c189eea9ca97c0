"""gr-lamigo: GNU Radio blocks that carry LaMI-GO messages (wrappers around the `lamigo` library)."""
