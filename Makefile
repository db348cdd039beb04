# Every target that runs Python depends on .venv, so `make demo` / `make test`
# are the only commands a newcomer needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export HF_HUB_OFFLINE := 1

.PHONY: setup demo test bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

demo: setup
	$(PY) -m flows curate data/samples --out demo-out/curation

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) bench/curate.py

clean:
	rm -rf demo-out .pytest_cache
