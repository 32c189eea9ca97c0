"""How many CPU threads torch may use: one option (`--threads N|auto`) for every command that runs
a model, and one rule for `auto`.

Measured on a 2-core machine (bench/bench_threads.py prints it): decoding a 256x256 message with
the default set is about 10 % faster on 2 threads than on 1 when the machine is idle, and several
times slower on 2 threads when other work (GNU Radio's own threads, a second decode) holds the
cores, because torch's intra-op threads then wait for each other. So `auto` takes the cores that
are idle now: the usable cores (the process's CPU affinity) less the 1-minute load average,
rounded to the nearest, at least 1 and at most `AUTO_MAX_THREADS` (small models gain nothing beyond that).
An `OMP_NUM_THREADS` in the environment is the user's choice and `auto` leaves it alone."""

from __future__ import annotations

import argparse
import logging
import os

from lamigo.errors import ConfigError

logger = logging.getLogger(__name__)

AUTO = "auto"
AUTO_MAX_THREADS = 8


def usable_cpus() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def idle_cpus() -> int:
    """Usable cores less the 1-minute load average, rounded to the nearest; at least 1."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        load = 0.0
    return max(1, round(usable_cpus() - load))


def parse_threads(text: str) -> int | None:
    """`auto` -> None; a count >= 1 -> the count; anything else -> argparse's error."""
    if text == AUTO:
        return None
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a thread count or {AUTO}, got {text!r}") from None
    if count < 1:
        raise argparse.ArgumentTypeError(f"at least 1 thread, got {count}")
    return count


def add_threads_option(parser) -> None:
    """Add `--threads N|auto` to a parser or argument group."""
    parser.add_argument(
        "--threads", type=parse_threads, default=None, metavar="N|auto",
        help="CPU threads for torch: a count, or auto = the cores idle now (usable cores less the "
        f"1-minute load average, 1 to {AUTO_MAX_THREADS}); OMP_NUM_THREADS, when set, replaces auto. "
        "On a busy machine one thread can be several times faster than two (default: auto)")


def choose_threads(requested: int | None) -> int:
    """The thread count for `requested` (None = auto)."""
    if requested is not None:
        if requested < 1:
            raise ConfigError(f"--threads must be at least 1, got {requested}")
        return requested
    from_environment = os.environ.get("OMP_NUM_THREADS", "").strip()
    if from_environment.isdigit() and int(from_environment) >= 1:
        return int(from_environment)
    return min(AUTO_MAX_THREADS, idle_cpus())


def apply_threads(requested: int | None) -> int:
    """Set torch's intra-op thread count for `requested` (None = auto); the count set."""
    import torch

    count = choose_threads(requested)
    torch.set_num_threads(count)
    logger.info("torch uses %d CPU thread%s (%s; %d usable cores)", count, "" if count == 1 else "s",
                "as asked" if requested is not None else "auto", usable_cpus())
    return count
