"""lamigo.threads: one --threads option and the rule of `auto` (idle cores, OMP_NUM_THREADS first)."""

import argparse

import pytest

import lamigo.threads as threads
from lamigo.errors import ConfigError


@pytest.fixture
def machine(monkeypatch):
    """Pretend to be a machine with `cores` usable cores and a 1-minute load of `load`."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)

    def set_machine(cores: int, load: float) -> None:
        monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: set(range(cores)))
        monkeypatch.setattr(threads.os, "getloadavg", lambda: (load, load, load))

    return set_machine


@pytest.mark.parametrize("cores, load, expected", [
    (2, 0.05, 2),   # idle 2-core machine: both cores
    (2, 1.2, 1),    # one core busy: one thread
    (2, 3.5, 1),    # overloaded: still one
    (16, 2.0, 8),   # capped
    (4, 0.9, 3),
])
def test_auto_takes_the_idle_cores(machine, cores, load, expected):
    machine(cores, load)
    assert threads.choose_threads(None) == expected


def test_a_count_and_omp_num_threads_win_over_auto(machine, monkeypatch):
    machine(2, 0.0)
    assert threads.choose_threads(5) == 5
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads.choose_threads(None) == 1
    with pytest.raises(ConfigError):
        threads.choose_threads(0)


def test_the_option_parses_counts_and_auto_and_refuses_the_rest():
    parser = argparse.ArgumentParser()
    threads.add_threads_option(parser)
    assert parser.parse_args([]).threads is None
    assert parser.parse_args(["--threads", "auto"]).threads is None
    assert parser.parse_args(["--threads", "3"]).threads == 3
    for bad in ("0", "-1", "two"):
        with pytest.raises(SystemExit):
            parser.parse_args(["--threads", bad])


def test_apply_sets_torchs_thread_count(machine):
    import torch

    before = torch.get_num_threads()
    machine(2, 1.5)
    try:
        assert threads.apply_threads(None) == 1 and torch.get_num_threads() == 1
        assert threads.apply_threads(2) == 2 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
