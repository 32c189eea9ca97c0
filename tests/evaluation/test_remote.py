"""`lamigo eval --decoders`: two real decoder services on 127.0.0.1 give the rows an in-process
run gives; a service that does not answer ends the run with a clear error, its rows kept."""

from __future__ import annotations

import csv
import threading

import pytest
import zmq

from lamigo.cli.main import main
from lamigo.errors import ConfigError, RunError
from lamigo.evaluation.experiments import select_experiments
from lamigo.evaluation.harness import EvalConfig, run_evaluation
from lamigo.evaluation.remote import DecoderAddress, parse_decoders
from lamigo.lami import LaMIDecoder
from lamigo.service import DecoderService, ServiceConfig
from lamigo.zoo.index_prior import model_set_index_prior
from lamigo.zoo.sets import load_model_set

SIZE = (64, 64)
# LaMI-GO at several decoder settings (plain sampling, both re-noising scopes, guidance for 5/8
# of the steps) and over a lossy link (lost tokens on the wire), beside the baselines.
EXPERIMENTS = "renoising,per"
TIMINGS = {"text_s", "denoise_s", "vqgan_s", "decode_s"}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def models():
    return load_model_set("tiny", captioner=False)


def _config(out, **changes) -> EvalConfig:
    return EvalConfig(data="photos:", out=out, experiments=select_experiments(EXPERIMENTS), quick=True,
                      max_images=1, size=SIZE, metrics=("psnr", "ssim"), **changes)


def _rows(path) -> list[dict]:
    """A CSV's rows, timing columns left out, in a fixed order (a remote run writes each row as
    its result comes)."""
    with path.open(newline="") as file:
        rows = [{key: value for key, value in row.items() if key not in TIMINGS} for row in csv.DictReader(file)]
    return sorted(rows, key=lambda row: list(row.values()))


class Services:
    """Decoder services of the tiny set in threads, bound to free ports on 127.0.0.1; the
    settings they decode with unless a message asks otherwise differ from eval's, so equal rows
    show the per-message request was obeyed."""

    def __init__(self, models, count: int, **config) -> None:
        decoder = LaMIDecoder(models)  # the model set is read-only in decoding: shared by both
        config = {"batch_size": 4, "batch_wait": 0.01, "seed": 99, **config}
        self.services = [
            DecoderService(decoder, ServiceConfig(listen="tcp://127.0.0.1:*", publish="tcp://127.0.0.1:*", **config),
                           model_set="tiny")
            for _ in range(count)]
        for service in self.services:
            service.bind()
        self.threads = [threading.Thread(target=service.run, daemon=True) for service in self.services]
        for thread in self.threads:
            thread.start()

    @property
    def addresses(self) -> list[DecoderAddress]:
        return [DecoderAddress(service.messages_endpoint, service.results_endpoint) for service in self.services]

    def close(self) -> None:
        for service in self.services:
            service.stop()
        for thread in self.threads:
            thread.join(20)


def test_two_services_give_the_rows_of_an_in_process_run(models, tmp_path):
    prior = model_set_index_prior("tiny")
    local = run_evaluation(_config(tmp_path / "local"), models, prior)
    services = Services(models, 2)
    try:
        remote = run_evaluation(_config(tmp_path / "remote", decoders=services.addresses, decoder_timeout=30),
                                models, prior)
    finally:
        services.close()
    assert remote.rows == local.rows
    for name in EXPERIMENTS.split(","):
        here, there = _rows(tmp_path / "local" / f"{name}.csv"), _rows(tmp_path / "remote" / f"{name}.csv")
        assert there == here
        assert any(row["codec"] == "lami-go" and row["received"] == "1" for row in there)
    per = _rows(tmp_path / "remote" / "per.csv")
    assert any(row["codec"] == "lami-go" and row["tokens_lost"] not in ("", "0") for row in per)
    decoded = [service.stats.decoded for service in services.services]
    assert all(count > 0 for count in decoded), decoded  # ZMQ spread the messages over both
    assert sum(decoded) == sum(1 for row in per if row["codec"] == "lami-go" and row["received"] == "1") \
        + len(select_experiments("renoising")[0].conditions(True))


def test_a_service_that_stops_answering_is_a_clear_error_and_the_run_resumes(models, tmp_path, capsys):
    """A service that decodes one message and stops: the run waits its timeout, says so, exits
    2 and keeps the row it finished; run again (here in-process), it runs only the others."""
    services = Services(models, 1, max_messages=1)
    (address,) = services.addresses
    out = tmp_path / "stops"
    options = ["eval", "photos:", "--out", str(out), "--quick", "--model-set", "tiny", "--size", "64x64",
               "--metrics", "psnr", "--device", "cpu", "--experiments", "ratio"]
    try:
        code = main([*options, "--decoders", f"{address.messages}={address.results}", "--decoder-timeout", "2"])
    finally:
        services.close()
    assert code == 2
    error = capsys.readouterr().err
    assert "no decoder service answered within 2 s" in error and "rows finished so far are kept" in error
    assert len(_rows(out / "ratio.csv")) == 1
    assert main(options) == 0
    assert "ratio: 3 rows run, 1 already done" in capsys.readouterr().out


def test_no_service_at_an_address_fails_at_once(models, tmp_path):
    context = zmq.Context()
    socket = context.socket(zmq.PULL)
    port = socket.bind_to_random_port("tcp://127.0.0.1")
    socket.close(0)  # a free port nobody listens on
    context.term()
    with pytest.raises(RunError, match=f"no decoder service answered at tcp://127.0.0.1:{port}"):
        run_evaluation(_config(tmp_path / "none", decoders=parse_decoders(f"127.0.0.1:{port}"),
                               decoder_timeout=0.5), models, None)
    assert not (tmp_path / "none").exists()


def test_a_service_of_other_models_is_refused(models, tmp_path):
    services = Services(models, 1)
    services.services[0].model_set = "default"
    try:
        with pytest.raises(RunError, match="model_set 'default' \\(asked 'tiny'\\)"):
            run_evaluation(_config(tmp_path / "other", decoders=services.addresses, decoder_timeout=30),
                           models, model_set_index_prior("tiny"))
    finally:
        services.close()


@pytest.mark.parametrize("text, decoders", [
    ("tcp://a:5557", [("tcp://a:5557", "tcp://a:5558")]),
    ("b:6000, tcp://c:7000=tcp://d:7001", [("tcp://b:6000", "tcp://b:6001"), ("tcp://c:7000", "tcp://d:7001")]),
    ("ipc:///run/m=ipc:///run/r", [("ipc:///run/m", "ipc:///run/r")]),
])
def test_decoder_addresses(text, decoders):
    assert [(item.messages, item.results) for item in parse_decoders(text)] == decoders


@pytest.mark.parametrize("text", ["", "ipc:///run/m", "tcp://a:http", "a:1,a:1", "a:65535"])
def test_bad_decoder_addresses(text):
    with pytest.raises(ConfigError, match="--decoders"):
        parse_decoders(text)
