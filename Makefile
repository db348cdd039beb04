# Every target that runs Python depends on .venv, so `make demo` / `make test`
# are the only commands a newcomer needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export HF_HUB_OFFLINE := 1
# torch's OpenMP threads busy-wait: many times slower when the 2 cores are shared
export OMP_WAIT_POLICY := PASSIVE

.PHONY: setup demo test bench serve clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-seed.txt requirements-nodeps.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-seed.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	touch $@

# The portrait job on the embedded defaults: the tiny random test model (no real
# portraits), sized to finish in minutes on 2 CPU cores.
demo: setup
	$(PY) -m flows portrait data/samples/obama.jpg data/samples/obama2.jpg --user demo --style studio_headshot \
		--out demo-out --base-model tiny --train-steps 60 --resolution 128 --num-images 6 --keep 3 --gen-steps 12

# The web app + API on a local Prefect server and worker; Ctrl-C stops it all. Add a user first:
#   .venv/bin/python -m flows users add NAME --users serve-data/users.json
serve: setup
	$(PY) -m flows serve $(SERVE_ARGS)

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) bench/run_all.py

clean:
	rm -rf demo-out .pytest_cache
