# make demo | make full-demo | make test | make test-slow | make quality | make bench
.PHONY: setup demo full-demo test test-slow quality bench

VENV := .venv/bin
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM := false

setup:
	bash scripts/setup.sh

demo: setup
	$(VENV)/trimformer run demo --overwrite

full-demo: setup
	PYTHON=$(VENV)/python bash scripts/fetch_mpnet.sh
	$(VENV)/trimformer run full-demo --overwrite

test: setup
	$(VENV)/python -m pytest tests

test-slow: setup
	$(VENV)/python -m pytest tests -m slow

quality: setup
	$(VENV)/ruff check trimformer tests bench
	$(VENV)/ruff format --check trimformer tests bench

bench: setup
	$(VENV)/python bench/bench_distill.py
