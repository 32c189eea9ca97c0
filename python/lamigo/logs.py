"""The log of bad input a receiver meets: anyone can transmit or connect, so a flood of garbage
must not flood the log. The first `LOGGED_IN_FULL` problems of a kind are logged at WARNING,
after that every `LOGGED_EVERY`th (the others at DEBUG), each with its count so far."""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["LOGGED_EVERY", "LOGGED_IN_FULL", "RateLimitedLog", "counted_level"]

LOGGED_IN_FULL = 10  # problems logged one by one; after that every LOGGED_EVERY-th
LOGGED_EVERY = 100


def counted_level(count: int) -> int:
    """The level of the `count`-th problem of a kind (from 1): WARNING for the first
    LOGGED_IN_FULL and every LOGGED_EVERY-th, else DEBUG."""
    return logging.WARNING if count <= LOGGED_IN_FULL or count % LOGGED_EVERY == 0 else logging.DEBUG


class RateLimitedLog:
    """A log of one kind of bad input that counts it: `warning` and `exception` log the line with
    "(N so far)" appended, at `counted_level` (`exception` with the traceback when at WARNING)."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self.count = 0

    def _level(self) -> int:
        self.count += 1
        return counted_level(self.count)

    def warning(self, text: str, *args: Any) -> None:
        self.logger.log(self._level(), text + " (%d so far)", *args, self.count)

    def exception(self, text: str, *args: Any) -> None:
        level = self._level()
        self.logger.log(level, text + " (%d so far)", *args, self.count, exc_info=level == logging.WARNING)
