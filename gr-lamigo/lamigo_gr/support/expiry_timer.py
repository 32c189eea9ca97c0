"""The timer thread of a block that completes what stops arriving (messages, classical files)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from lamigo.logs import RateLimitedLog


class ExpiryTimer:
    """Calls `tick` every `period` seconds from the block's start() to its stop(); a tick that
    raises is logged and the next one runs (the timer must outlive any one input)."""

    def __init__(self, name: str, period: float, tick: Callable[[], None], log: RateLimitedLog) -> None:
        self.name = name
        self.period = period
        self.tick = tick
        self.log = log
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stopped.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stopped.wait(self.period):
            try:
                self.tick()
            except Exception:  # noqa: BLE001 (logged; the next tick still runs)
                self.log.exception("%s: expiring failed", self.name)
