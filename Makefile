# The two commands of the README: `make run` serves eguide with demo data, `make test` runs every
# test. Both create or reuse .venv, and use Redis and PostgreSQL at REDIS_URL / DATABASE_URL when
# they answer, or start private ones in .data/ (installing Debian's packages when missing).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SERVICES := $(BIN)/python -m app.local_services run --data-dir .data

.PHONY: run test bench lint install chromium clean docs-screenshots

run: $(STAMP)
	$(SERVICES) -- sh -c '$(BIN)/eguide migrate && $(BIN)/eguide seed-demo && exec $(BIN)/eguide serve'

test: $(STAMP) chromium lint
	$(SERVICES) --fast -- $(BIN)/python -m pytest $(PYTEST_ARGS)

# The pictures docs/ui.md shows: taken afresh by the end-to-end browser test, then copied to
# docs/screenshots/ (tests/support/docs_screenshots.py).
docs-screenshots: $(STAMP) chromium
	$(SERVICES) --fast -- $(BIN)/python -m pytest tests/web/test_end_to_end.py tests/web/test_supervisor_dashboard.py
	$(BIN)/python -m tests.support.docs_screenshots

bench: $(STAMP)
	@set -e; found=0; for script in bench/*.py; do \
		[ -f "$$script" ] || continue; found=1; \
		echo "== $$script"; $(SERVICES) -- $(BIN)/python "$$script"; \
	done; [ "$$found" = 1 ] || echo "no benchmarks in bench/"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy app web queueing chat

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || $(MAKE) --no-print-directory debian-packages PACKAGES=python3-venv
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Browser tests drive Debian's Chromium; a browser downloaded by Playwright is never used.
chromium:
	@command -v chromium >/dev/null 2>&1 || $(MAKE) --no-print-directory debian-packages PACKAGES=chromium

debian-packages:
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO="sudo -n"; fi; \
	echo "installing Debian packages: $(PACKAGES)"; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(PACKAGES)

clean:
	rm -rf $(VENV) .data tests/screenshots .pytest_cache
