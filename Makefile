# fl_lightning — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
FLL := $(VENV)/bin/fl-lightning
# Pinned for this environment: pip takes both from local disk (see README).
TORCH_PINS := torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.installed
FMNIST_DEB_DIR := /usr/share/datasets/fashion-mnist
DEMO_DIR ?= runs/demo

.PHONY: help install data test test-all lint format pretrain compare demo bench mutation clean

help: ## Show this help (target names in colour only on a terminal)
	@if [ -t 1 ]; then on='\033[36m'; off='\033[0m'; else on=; off=; fi; \
	grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
	awk -v on="$$on" -v off="$$off" 'BEGIN {FS = ":.*?## "}; {printf "  %s%-10s%s %s\n", on, $$1, off, $$2}'

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(TORCH_PINS)
	$(PIP) install -q -e '.[dev]' $(TORCH_PINS)
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install the package with dev extras (cheap when done)

data: ## Install Fashion-MNIST (Debian package dataset-fashion-mnist) where apt is available
	@if [ -f $(FMNIST_DEB_DIR)/train-images-idx3-ubyte.gz ]; then \
		echo "Fashion-MNIST present in $(FMNIST_DEB_DIR)"; \
	elif command -v apt-get >/dev/null; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq dataset-fashion-mnist; \
	else \
		echo "No apt-get: pass --data.root DIR holding the Fashion-MNIST IDX files"; \
	fi

test: install data ## Run the fast test suite (skips @slow)
	$(VENV)/bin/pytest -q -n 2

test-all: install data ## Run every test, the slow ones included
	$(VENV)/bin/pytest -q -n 2 -m "slow or not slow"

# app/ is typed strictly; compare's modules join when they hold typed configs (issue 26)
STRICT_APP = fl_lightning/app

lint: install ## ruff (lint + format check) and mypy
	$(VENV)/bin/ruff check fl_lightning tests benchmarks examples
	$(VENV)/bin/ruff format --check fl_lightning tests benchmarks examples
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy --strict $(STRICT_APP)

format: install ## Apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix fl_lightning tests benchmarks examples
	$(VENV)/bin/ruff format fl_lightning tests benchmarks examples

pretrain: install data ## DAE pre-training on Fashion-MNIST (configs/pretrain/fashion_mnist.yaml)
	$(FLL) pretrain --config configs/pretrain/fashion_mnist.yaml

compare: install data ## Reduced comparison of the methods on Fashion-MNIST (< 30 min on 2 CPU cores)
	$(FLL) compare --config configs/compare/reduced.yaml

demo: install data ## The whole pipeline on a reduced config, on real Fashion-MNIST
	$(PY) examples/demo.py --output $(DEMO_DIR)

bench: install data ## Benchmarks (speed, memory, traffic): ratios measured side by side
	@for b in $(filter-out benchmarks/mutation.py,$(wildcard benchmarks/*.py)); do \
		echo "== $$b"; $(PY) $$b || exit 1; done

mutation: install ## Mutation scores of the maths modules (CPU-heavy: tens of minutes)
	@for t in mask magnitude aggregate accounting validation to_target codec codec_header \
		codec_values codec_positions; do \
		nice $(PY) benchmarks/mutation.py $$t | tail -n 1 || exit 1; done

clean: ## Remove run outputs and caches (keeps .venv)
	rm -rf runs wandb .pytest_cache .mypy_cache .ruff_cache
