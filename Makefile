# The README's two commands: `make demo` (main job) and `make test` (all tests).
# Both set the machine up first; setup re-runs only when the dependency files change.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.lamigo-installed

.PHONY: setup demo grc test bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt scripts/setup.sh
	bash scripts/setup.sh
	@touch $@

demo: setup
	$(PY) -m lamigo_gr.apps.demo

# GNU Radio Companion under the project's interpreter with our blocks: Run works (FLOWGRAPH=name)
grc: setup
	$(PY) -m lamigo_gr.apps.grc $(FLOWGRAPH)

test: setup
	$(PY) -m pytest

# Benchmarks print tables; each compares with a peer measured in the same run.
bench: setup
	$(PY) bench/bench_coding.py
	$(PY) bench/bench_link.py
	$(PY) bench/gr_packet_rate.py
	$(PY) bench/bench_service.py --quick
	$(PY) bench/bench_attacks.py
	$(PY) bench/showtime.py --quick
	$(PY) bench/bench_classical.py
	$(PY) bench/bench_threads.py

clean:
	rm -rf $(VENV) out .pytest_cache .benchmarks
