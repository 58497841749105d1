# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export ANONYMIZED_TELEMETRY := False
export GRADIO_ANALYTICS_ENABLED := False
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install install-test browser index run test bench lint

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, pinned: anything unpinned pulls a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

# Headless Chromium from Debian for the browser test (a test tool's own browser download fails offline).
browser:
	@command -v chromium >/dev/null && fc-list :lang=zh | grep -q . || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-noto-cjk; }

index: install
	$(BIN)/qa index

# The shipped page's example questions, unless another data folder is served (then the page derives its own).
run: index
	QA_EXAMPLES_FILE=$${QA_EXAMPLES_FILE:-$(if $(QA_DATA_DIR),,eval/examples.txt)} $(BIN)/python app.py

test: install-test browser
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python eval/bench.py

lint: install-test
	$(BIN)/ruff check qa tests eval app.py
