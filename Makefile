# The two commands a fresh clone needs are in the README. `make test` sets everything up.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Reinstall when the dependencies change.
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
PYTEST_ARGS ?=

.PHONY: chat test lint format services clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Life Organiser needs Python 3.11 or newer (set PYTHON=...)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip </dev/null
	$(PY) -m pip install --quiet -e '.[dev]' </dev/null
	@rm -f $(VENV)/.installed-*
	@touch $@

# Redis and PostgreSQL for the tests: a running server is used as it is; otherwise the tests
# start throwaway ones, from binaries on this machine or, failing that, from PyPI wheels.
# Dovecot (IMAP) always runs as a throwaway; its binary comes from Debian's package.
services: $(STAMP)
	@pkgs="$$($(PY) -m tests.services missing)"; \
	if [ -n "$$pkgs" ]; then echo "installing test servers: $$pkgs"; \
		$(PY) -m pip install --quiet $$pkgs; fi
	@bash scripts/install-dovecot.sh

# The main job: talk to the organiser in this terminal (SQLite under data/, queue in-process).
chat: $(STAMP)
	@$(VENV)/bin/lifeorg chat

# pytest's exit status 5 means it collected no test: that is a failure, said plainly.
test: $(STAMP) services
	@$(PY) -m pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; \
	exit $$status

lint: $(STAMP)
	$(PY) -m ruff check lifeorg tests
	$(PY) -m ruff format --check lifeorg tests

format: $(STAMP)
	$(PY) -m ruff check --fix lifeorg tests
	$(PY) -m ruff format lifeorg tests

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
