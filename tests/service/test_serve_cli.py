"""`lamigo serve` as a user runs it: a subprocess on ipc addresses, stopped by SIGTERM or SIGINT."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import numpy as np
import pytest

from lamigo.cli.main import main
from lamigo.errors import ConfigError
from lamigo.masking import make_policy
from lamigo.service import connect_sender, receive_result, send_message
from lamigo.message import Geometry, GOMessage, ReceivedMessage
from lamigo.service.wire import message_frames

from .conftest import subscribe_results


@contextlib.contextmanager
def serving(addresses: tuple[str, str], *options: str) -> Iterator[subprocess.Popen]:
    """`lamigo serve` (tiny, CPU) in a subprocess on `addresses`, up once it printed its address
    line; killed on the way out if a test left it running."""
    messages_address, results_address = addresses
    process = subprocess.Popen(
        [sys.executable, "-m", "lamigo.cli.main", "serve", "--listen", messages_address, "--publish",
         results_address, "--model-set", "tiny", "--device", "cpu", "--json", *options],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        ready = process.stdout.readline()
        assert ready.startswith("lamigo serve: messages on ipc://"), process.stderr.read()
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_service_cleanly(signum, make_message, context, addresses, tmp_path):
    messages_address, results_address = addresses
    with serving(addresses, "--steps", "2", "--renoise", "1", "--out", str(tmp_path / "out")) as process:
        results = subscribe_results(context, results_address)
        sender = connect_sender(context, messages_address)
        send_message(sender, [b"garbage"], timeout=5)
        send_message(sender, message_frames(ReceivedMessage.whole(make_message(), 3)), timeout=5)
        record, _ = receive_result(results, timeout=60)
        assert record["message_id"] == 3
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    stats = json.loads(stdout)
    assert (stats["received"], stats["malformed"], stats["decoded"]) == (2, 1, 1)
    assert (tmp_path / "out" / "3.png").is_file() and (tmp_path / "out" / "3.json").is_file()


def test_the_service_loads_no_captioner(monkeypatch, capsys):
    """A receiver never captions: a model set's captioner (BLIP, gigabytes) must stay on disk."""
    asked = []

    def load_models(args, captioner=True):
        asked.append(captioner)
        raise ConfigError("models not loaded in this test")

    monkeypatch.setattr("lamigo.cli.serve.load_models", load_models)
    assert main(["serve", "--model-set", "tiny", "--device", "cpu"]) == 2
    assert asked == [False]
    assert "models not loaded in this test" in capsys.readouterr().err


def test_make_curve_keys_refuses_to_overwrite(tmp_path, capsys):
    assert main(["serve", "--make-curve-keys", str(tmp_path)]) == 0
    assert (tmp_path / "server.key_secret").is_file() and (tmp_path / "client.key").is_file()
    assert "--curve-secret-key" in capsys.readouterr().out
    assert main(["serve", "--make-curve-keys", str(tmp_path)]) == 2
    assert "not overwriting" in capsys.readouterr().err
    # Regression: secret keys were written 0644.
    assert {path.name: path.stat().st_mode & 0o777 for path in tmp_path.iterdir()} == {
        "server.key": 0o644, "client.key": 0o644, "server.key_secret": 0o600, "client.key_secret": 0o600}


def test_make_curve_keys_writes_no_key_through_a_planted_link(tmp_path, capsys):
    """Regression: a dangling symlink planted as DIR/server.key_secret passed the check for
    existing keys, and the secret key was written where it pointed, outside DIR."""
    keys, outside = tmp_path / "keys", tmp_path / "outside"
    keys.mkdir()
    outside.mkdir()
    (keys / "server.key_secret").symlink_to(outside / "stolen")
    assert main(["serve", "--make-curve-keys", str(keys)]) == 2
    assert "not overwriting" in capsys.readouterr().err
    assert os.listdir(outside) == [] and sorted(os.listdir(keys)) == ["server.key_secret"]
    (keys / "server.key_secret").unlink()
    (keys / "client.key").symlink_to(outside / "stolen")
    assert main(["serve", "--make-curve-keys", str(keys)]) == 2
    assert os.listdir(outside) == [] and sorted(os.listdir(keys)) == ["client.key"]


def test_make_link_key_writes_an_owner_only_key(tmp_path, capsys):
    from lamigo.link import LinkKey

    path = tmp_path / "link.key"
    assert main(["serve", "--make-link-key", str(path)]) == 0
    assert path.stat().st_mode & 0o777 == 0o600
    assert repr(LinkKey.load(path)) == "LinkKey(<secret>)"
    assert main(["serve", "--make-link-key", str(path)]) == 2  # never overwritten
    assert "cannot create link key" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("options", "error"),
    [
        (["--batch-size", "0"], "batch size and queue size must be at least 1"),
        (["--curve-clients", "somewhere"], "need --curve-secret-key"),
        (["--curve-secret-key", "missing.key_secret", "--listen", "tcp://127.0.0.1:*", "--publish",
          "tcp://127.0.0.1:*"], "CURVE key file not found: missing.key_secret"),
        (["--listen", "bogus://here"], "cannot use address bogus://here"),
    ],
)
def test_bad_options_are_one_line_errors(options, error, capsys):
    assert main(["serve", "--model-set", "tiny", "--device", "cpu", *options]) == 2
    assert error in capsys.readouterr().err


def largest_message_frames(message_id: int) -> list[bytes]:
    """31 bytes the service accepts that claim its largest image, 1024x1024, every token masked:
    one forward pass of the decoder over it takes seconds on a CPU."""
    geometry = Geometry(1024, 1024, 256, 256, 512)
    policy = make_policy("prm", ratio=1.0, seed=0)
    message = GOMessage(geometry, policy, policy.select(geometry.latent_shape),
                        np.zeros(geometry.latent_shape, np.int64), "", index_coder="fixed")
    frames = message_frames(ReceivedMessage.whole(message, message_id))
    assert len(frames[1]) == 31
    return frames


def test_sigterm_stops_a_service_decoding_the_largest_messages(context, addresses):
    """Regression: SIGTERM waited for the batch being decoded, more than 90 s for these messages
    on a CPU; the decode is now abandoned within one layer (the figure: bench/bench_attacks.py)."""
    with serving(addresses) as process:
        sender = connect_sender(context, addresses[0])
        for n in range(8):
            send_message(sender, largest_message_frames(n), timeout=5)
        time.sleep(2)  # the first of them is being decoded
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    stats = json.loads(stdout)
    assert stats["received"] >= 1 and stats["decoded"] == stats["failed"] == 0
    assert stats["abandoned"] == stats["received"]  # each accepted message accounted for
    assert "stopped while decoding a batch of 1 message(s), abandoned" in stderr
