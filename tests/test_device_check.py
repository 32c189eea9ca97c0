"""bench/device_check.py's dry run (the tiny set on the CPU) works and writes every table, so
the script is known to run before any GPU time is spent on it (issue 28)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
import device_check  # noqa: E402

TABLES = ("environment", "ceilings", "parity", "tokens", "batch against alone",
          "service batch against direct batch", "service", "VQGAN", "showtime", "best batch")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_dry_run_writes_complete_tables_and_log(tmp_path: Path) -> None:
    # The core library alone, as on the device machine: no GNU Radio blocks on the path.
    env = dict(os.environ, PYTHONPATH=str(REPO / "python"))
    done = subprocess.run([sys.executable, str(REPO / "bench" / "device_check.py"), "--dry-run", "--out",
                           str(tmp_path)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=850)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["device_check.log", "results.json", "tables.md"]

    results = json.loads((tmp_path / "results.json").read_text())
    sections = {section["name"]: section for section in results["sections"]}
    assert list(sections) == list(device_check.SECTIONS)
    for name in ("environment", "tokens", "batching", "service", "speed-eager"):
        assert sections[name]["status"] == "passed", name
    assert sections["parity"]["status"] in ("passed", "skipped")  # skipped without the fixtures
    assert sections["speed-compiled"]["status"] == sections["speed-graphs"]["status"] == "skipped"
    rows = [item for section in sections.values() for item in section["rows"]]
    assert {item["table"] for item in rows} == set(TABLES)
    assert not [item for item in rows if str(item["row"].get("status", "")).startswith("FAIL")]

    environment = {item["row"]["item"]: item["row"]["value"] for item in rows if item["table"] == "environment"}
    assert environment["GNU Radio imported"] == "no" and environment["device"].endswith("threads")
    tokens = [item["row"] for item in rows if item["table"] == "tokens"]
    assert [row["variant"] for row in tokens] == [name for name, _, _ in device_check.TOKEN_VARIANTS]
    assert tokens[0]["identical"] == "yes" and tokens[0]["status"] == "pass"
    assert all(row["status"] == "skipped: CUDA only" for row in tokens[1:])
    showtime = [item["row"] for item in rows if item["table"] == "showtime"]
    assert len(showtime) == len(device_check.speed_rows(None, [2]))
    target = showtime[0]
    assert (target["steps"], target["guidance"], target["batch"], target["target"]) == ("4/8", "cfg 8", 1,
                                                                                       "<= 100 ms/img")
    assert float(target["total_ms_per_img"]) > 0

    tables = (tmp_path / "tables.md").read_text()
    for title in TABLES:
        assert f"\n{title}:\n" in tables, title
    assert "## summary" in tables and "Targets:" in tables
    assert tables in done.stdout  # the reply of a device call ends with the tables
    log = (tmp_path / "device_check.log").read_text()
    assert "device check finished" in log
    for name in device_check.SECTIONS:
        if not device_check.SECTIONS[name].cuda_only:
            assert f"===== {name}: {sections[name]['status']} in" in log, name
