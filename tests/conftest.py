"""Fixtures shared across the test packages."""

from __future__ import annotations

import pytest

from lamigo.masking import POLICIES


@pytest.fixture
def masks_read(monkeypatch) -> list[str]:
    """The names of the masking policies whose `read` built a mask during the test (each call
    still goes through): a receiver that refuses a header before its mask leaves this empty."""
    calls: list[str] = []
    for name in POLICIES:
        cls = POLICIES.lookup(name)
        original = cls.read.__func__

        def read(cls_, inp, shape, _original=original, _name=name):
            calls.append(_name)
            return _original(cls_, inp, shape)

        monkeypatch.setattr(cls, "read", classmethod(read))
    return calls
