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

# opencv-python-headless (older requirements) and opencv-contrib-python share the cv2/ folder:
# a venv that has the former gets both removed, then a clean install of the latter.
$(VENV)/.installed: requirements.txt requirements-seed.txt requirements-nodeps.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip show --quiet opencv-python-headless >/dev/null 2>&1 && \
		$(PY) -m pip uninstall --yes --quiet opencv-python-headless opencv-contrib-python || true
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-seed.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	touch $@

# The portrait job on the embedded defaults: the tiny random test model (no real
# portraits), sized to finish in minutes on 2 CPU cores.
# Then a 2-person template: faces 3 and 17 of bald_guys.jpg get the first job's person (its
# curated photos and face LoRA reused) and biden.jpg's (curated and trained within the job).
demo: setup
	$(PY) -m flows portrait data/samples/obama.jpg data/samples/obama2.jpg --user demo --style studio_headshot \
		--out demo-out --base-model tiny --train-steps 60 --resolution 128 --num-images 6 --keep 3 --gen-steps 12
	$(PY) -m flows portrait --template data/samples/bald_guys.jpg --person 3=demo-out/demo \
		--person 17=data/samples/biden.jpg --user demo-group --style studio_headshot --out demo-out \
		--base-model tiny --train-steps 60 --resolution 128 --num-images 4 --keep 2 --gen-steps 12

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
