# The README's two commands: `make demo` (main job) and `make test` (all tests).
# Both set the machine up first; setup re-runs only when the dependency files change.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.lamigo-installed

.PHONY: setup demo test bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt scripts/setup.sh
	bash scripts/setup.sh
	@touch $@

demo: setup
	$(PY) -m lamigo_gr.demo

test: setup
	$(PY) -m pytest

bench: setup
	$(PY) -m pytest bench --benchmark-only --benchmark-columns=min,mean,ops

clean:
	rm -rf $(VENV) out .pytest_cache .benchmarks
