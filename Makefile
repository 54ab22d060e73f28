# PoseTalk for Blender — the two commands: `make demo` and `make test`.
# Each does the whole set-up on a fresh machine (the Debian packages of scripts/debian-packages.txt, .venv
# with the locked stack of requirements.txt) and is fast when nothing changed; both are checked package by
# package on every run.

PYTHON_SYS ?= python3.11
VENV       := .venv
PY         := $(VENV)/bin/python
VENV45     := .venv-bpy45
PY45       := $(VENV45)/bin/python
VENV42     := .venv-bpy42
PY42       := $(VENV42)/bin/python
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

DEMO_PROMPT ?= nods while talking, then looks to the left

.PHONY: debs venv lock setup setup-bpy45 setup-bpy42 demo test test-engine test-blender test-blender45 test-blender42 lint format extension bench weights weights-pose weights-phones clean

setup: debs venv

# every Debian package in scripts/debian-packages.txt, checked one by one with dpkg on each run
# (no stamp: a package removed later is noticed), the missing ones installed with apt-get
DEBS_LIST := scripts/debian-packages.txt
debs:
	@missing=$$(for p in $$(sed -e 's/#.*//' $(DEBS_LIST)); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:" $$missing; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
		for p in $$missing; do dpkg -s $$p >/dev/null 2>&1 || { echo "error: Debian package $$p did not install"; exit 2; }; done; \
	fi

# a venv per lock file: installed when the lock changes, and on every run checked package by package against it
$(VENV)/.stamp: requirements.txt
	@command -v $(PYTHON_SYS) >/dev/null || { echo "error: $(PYTHON_SYS) is needed (Python 3.11)"; exit 2; }
	@test -x $(PY) || $(PYTHON_SYS) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	@touch $@

$(VENV45)/.stamp: requirements-bpy45.txt
	@test -x $(PY45) || $(PYTHON_SYS) -m venv $(VENV45)
	$(PY45) -m pip install -q --upgrade pip
	$(PY45) -m pip install -q -r requirements-bpy45.txt
	@touch $@

$(VENV42)/.stamp: requirements-bpy42.txt
	@test -x $(PY42) || $(PYTHON_SYS) -m venv $(VENV42)
	$(PY42) -m pip install -q --upgrade pip
	$(PY42) -m pip install -q -r requirements-bpy42.txt
	@touch $@

venv: $(VENV)/.stamp
	@$(PY) scripts/check_lock.py requirements.txt

# the locks: every package at an exact version, made by pip-compile from the short lists of direct needs
# (*.in); `make lock` keeps the current pins where they still fit, `make lock UPGRADE=1` takes the newest
PIP_COMPILE := $(VENV)/bin/pip-compile --quiet --strip-extras --no-emit-find-links --no-emit-index-url \
	--no-emit-trusted-host $(if $(UPGRADE),--upgrade)
lock: $(VENV)/.stamp
	$(PIP_COMPILE) --output-file requirements.txt requirements.in
	$(PIP_COMPILE) --output-file requirements-bpy45.txt requirements-bpy45.in
	$(PIP_COMPILE) --output-file requirements-bpy42.txt requirements-bpy42.in

setup-bpy45: setup $(VENV45)/.stamp
	@$(PY45) $(abspath scripts/check_lock.py) requirements-bpy45.txt

setup-bpy42: setup $(VENV42)/.stamp
	@$(PY42) $(abspath scripts/check_lock.py) requirements-bpy42.txt

# the main job on the bundled example: pose.json, lips.json and the talking-head MP4
demo: setup
	@mkdir -p out
	$(PY) -m engine pose --audio examples/speech.wav --prompt "$(DEMO_PROMPT)" --out out/demo_pose.json
	$(PY) -m engine lips --audio examples/speech.wav --out out/demo_lips.json
	$(PY) -m engine render --image examples/portrait.png --audio examples/speech.wav --pose out/demo_pose.json \
		--lips out/demo_lips.json --out out/demo_frames --video out/demo.mp4
	@echo "demo: wrote out/demo_pose.json, out/demo_lips.json, out/demo_frames/ and out/demo.mp4"

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test-engine: setup
	$(PY) -m pytest -q tests

# the add-on inside Blender 5.0 (bpy 5.0.1 in .venv) and Blender 4.5 LTS (.venv-bpy45);
# the engine worker always runs from .venv
test-blender: setup
	$(PY) -m pytest -q blender_tests

test-blender45: setup-bpy45
	POSETALK_ENGINE_PYTHON=$(abspath $(PY)) $(PY45) -m pytest -q -p no:cacheprovider blender_tests

# Blender 4.2 LTS: its bpy wheels have no Audaspace, so only the tests without a sound strip run there
test-blender42: setup-bpy42
	POSETALK_ENGINE_PYTHON=$(abspath $(PY)) $(PY42) -m pytest -q -p no:cacheprovider blender_tests

test: lint test-engine test-blender test-blender45 test-blender42

extension: setup
	$(PY) scripts/build_extension.py

bench: setup
	$(PY) scripts/bench.py

# rebuild the motion corpus and retrain the pose model from scratch (seed 0): the shipped weights' recipe
# (about 90 minutes on 2 CPU cores; DEVICE=cuda trains the pose model on an NVIDIA GPU, with weights of its own for a
# seed); then `scripts/eval_pose.py --backend pld` measures it; and the transcript aligner's phone classifier (about
# 6 minutes; `scripts/eval_lips.py` measures it)
SEED ?= 0
DEVICE ?= cpu
weights: weights-pose weights-phones

weights-pose: setup
	rm -f data/train_seed$(SEED).log
	$(PY) scripts/build_corpus.py --seed $(SEED) --out data/corpus.npz
	$(PY) scripts/train_pose.py --seed $(SEED) --corpus data/corpus.npz --out engine/weights/pld.safetensors \
		--log data/train_seed$(SEED).log --device $(DEVICE)

weights-phones: setup
	$(PY) scripts/train_phone_classes.py --seed $(SEED) --out engine/weights/phone_classes.safetensors

clean:
	rm -rf out dist .pytest_cache .ruff_cache
