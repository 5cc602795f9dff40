# The two commands: `make run` (everything, until Ctrl-C) and `make test` (unit, integration, e2e).
# Both install what is missing on a fresh machine: uv and the Python packages (locked in uv.lock),
# PostgreSQL (Debian package) and Apache Kafka (jars from Maven Central, cached in ~/.cache/oms).
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON ?= python3
# trust the system certificate store (package registries may sit behind a TLS-inspecting proxy)
export UV_NATIVE_TLS ?= 1
export UV_SYSTEM_CERTS ?= 1
TOOLS := .tools
UV := $(shell command -v uv 2>/dev/null || echo $(TOOLS)/bin/uv)

.PHONY: run test demo bench chaos bootstrap unit integration e2e lint clean-run

$(TOOLS)/bin/uv:
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check "uv==0.13.9"

bootstrap: $(if $(shell command -v uv 2>/dev/null),,$(TOOLS)/bin/uv)
	$(UV) sync --all-packages --frozen --quiet

# the demo's simulated couriers and Amazon's logistics move booked parcels along on their own (pick-up, transit,
# delivery or RTO)
run: bootstrap
	OMS_CARRIER_SIMULATOR_AUTOPLAY=$${OMS_CARRIER_SIMULATOR_AUTOPLAY:-1} \
	OMS_AMAZON_SIMULATOR_AUTOPLAY=$${OMS_AMAZON_SIMULATOR_AUTOPLAY:-1} $(UV) run --frozen oms up

demo: bootstrap
	$(UV) run --frozen oms demo

bench: bootstrap
	$(UV) run --frozen oms bench

chaos: bootstrap
	$(UV) run --frozen oms chaos

test: bootstrap
	$(UV) run --frozen pytest -p no:cacheprovider

unit: bootstrap
	$(UV) run --frozen pytest -m unit

integration: bootstrap
	$(UV) run --frozen pytest -m integration

e2e: bootstrap
	$(UV) run --frozen pytest -m e2e

lint: bootstrap
	$(UV) run --frozen ruff check .

clean-run:
	rm -rf .run
