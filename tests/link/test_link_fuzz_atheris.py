"""A short coverage-guided run of the packet fuzzer (fuzz_packet.py) on every test run; longer
runs by hand as its docstring says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris")

FUZZER = Path(__file__).with_name("fuzz_packet.py")
RUNS = 5_000


def test_packet_fuzzer_finds_nothing(tmp_path):
    done = subprocess.run(
        [sys.executable, str(FUZZER), f"-atheris_runs={RUNS}", "-seed=1", f"-artifact_prefix={tmp_path}/"],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert f"Done {RUNS} " in done.stderr
    assert not list(tmp_path.iterdir()), "the fuzzer wrote a crash input"
