# Two commands do everything on a fresh Debian machine with Python 3.11:
#   make run      set up, then serve the API on http://127.0.0.1:8080 (docs at /docs)
#   make test     set up, then run the whole test suite
#   make example  set up, then run the example workflow over the example documents (no server)
# Re-running is quick: the environment is rebuilt only when a pyproject.toml changes.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SYSTEM_STAMP := $(VENV)/.system
PLUGIN_DIRS := $(patsubst %/pyproject.toml,%,$(wildcard plugins/*/pyproject.toml))
# Debian packages the plugins need (fonts for PDF export, tesseract and its languages for OCR;
# qpdf makes the encrypted-PDF fixtures the OCR tests refuse; chromium runs the web UI's browser tests;
# postgresql: the tests start a throwaway server of their own for the PostgreSQL half of the suite;
# docker-compose: `docker-compose config` checks compose.yaml without a container daemon).
DEBIAN_PACKAGES := fonts-dejavu-core tesseract-ocr tesseract-ocr-eng tesseract-ocr-spa qpdf chromium postgresql docker-compose redis-server
PYTEST_ARGS ?=

.PHONY: setup run example test test-fast test-sqlite lint bench clean system-deps vendor messages

setup: $(STAMP) $(SYSTEM_STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

# Each plugin with its test extra; paperchain-ai also with its local extra (llama-cpp-python builds
# from source, a few minutes the first time; its multimodal part is not needed).
comma := ,
PLUGIN_EXTRAS = test$(if $(filter plugins/ai,$(1)),$(comma)local)

$(STAMP): $(PY) pyproject.toml sdk/pyproject.toml $(addsuffix /pyproject.toml,$(PLUGIN_DIRS)) Makefile
	CMAKE_ARGS="-DLLAVA_BUILD=OFF $(CMAKE_ARGS)" $(PY) -m pip install --quiet --disable-pip-version-check -e sdk -e '.[test]' \
	  $(foreach d,$(PLUGIN_DIRS),-e '$(d)[$(call PLUGIN_EXTRAS,$(d))]')
	@touch $(STAMP)

# Installs missing Debian packages when run as root; otherwise says what to install.
$(SYSTEM_STAMP): Makefile | $(PY)
	@missing=$$(for p in $(DEBIAN_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian packages: $$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) >/dev/null; \
	  else \
	    echo "Please install these Debian packages: sudo apt-get install $$missing"; exit 1; \
	  fi; \
	fi
	@touch $(SYSTEM_STAMP)

system-deps: $(SYSTEM_STAMP)

# The first admin: PAPERCHAIN_ADMIN_PASSWORD=... make run (first start only), or
# .venv/bin/paperchain users create NAME --role admin
run: setup
	mkdir -p inbox  # the example workflow 'intake' watches it
	$(VENV)/bin/paperchain serve

example: setup
	$(VENV)/bin/paperchain run examples/workflows/report.toml examples/documents

# Maintainers only: refresh the web UI's vendored browser files from the npm registry (npm pack),
# checking each against the SHA-256 in core/paperchain/web/static/vendor/VENDOR
# (VENDOR_UPDATE=1 records new hashes after a deliberate version change).
vendor: setup
	$(PY) -m paperchain.web.vendor $(if $(VENDOR_UPDATE),--update)

# Maintainers only: re-extract the web UI's strings and update the Spanish catalog (then translate
# the new entries; tests/web/test_assets.py fails while one is missing).
WEB_DIR := core/paperchain/web
messages: setup
	cd $(WEB_DIR) && $(abspath $(VENV))/bin/pybabel extract -F babel.cfg -k _ -k gettext --no-location --omit-header \
	  -o catalogs/messages.pot . && $(abspath $(VENV))/bin/pybabel update -i catalogs/messages.pot -d catalogs -l es \
	  --ignore-obsolete --no-fuzzy-matching

# Lint (ruff) and a type check of the SDK and the kernel (mypy); settings in pyproject.toml.
lint: setup
	$(VENV)/bin/ruff check core sdk plugins tests bench examples
	$(VENV)/bin/mypy

test: setup lint
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: setup
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

# Without PostgreSQL: only the SQLite half of the tests that run on both databases.
test-sqlite: $(STAMP)
	$(PY) -m pytest -m "not postgres" $(PYTEST_ARGS)

# The peer library for bench/engine.py lives in its own venv (see bench/README.md for the pin).
.venv-bench/bin/python:
	$(PYTHON) -m venv .venv-bench
	.venv-bench/bin/pip install --quiet "prefect>=3,<4" "fastapi==0.139.2"

# Peers the benchmarks run in the same invocation: each plugin's [bench] extra, plus Debian's
# ghostscript (OCRmyPDF needs it) and wrk (HTTP load).
BENCH_DEBIAN_PACKAGES := ghostscript wrk
BENCH_SCRIPTS := engine startup memory api ocr text vision ledger models als triggers notify blobs quantum

bench: setup .venv-bench/bin/python
	@missing=$$(for p in $(BENCH_DEBIAN_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi
	$(PY) -m pip install --quiet --disable-pip-version-check $(foreach d,$(PLUGIN_DIRS),-e '$(d)[bench]')
	@for b in $(BENCH_SCRIPTS); do echo "== bench/$$b.py"; $(PY) bench/$$b.py || exit 1; done

clean:
	rm -rf $(VENV) .paperchain paperchain-output
