# tiny — one command to set up, one to see it work, one to test it.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.tiny-setup
APT_PKGS := gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm chromium chromium-driver
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup demo test test-slow bench clean apt

setup: $(STAMP)

apt:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "apt: installing$$missing"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; fi

$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml | apt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -r requirements-nodeps.txt
	$(PY) -m pip install -q --no-deps -e .
	$(PY) -m tiny.build.provision
	$(PY) -m tiny.build.plugin
	touch $(STAMP)

demo: setup
	$(VENV)/bin/tiny demo

# Exit code 5 = no tests collected; anything else non-zero is a failure.
test: setup
	$(PY) -m pytest -n 2 --dist loadgroup -q --timeout 900 tests; rc=$$?; [ $$rc = 0 ] || [ $$rc = 5 ]

test-slow: setup
	$(PY) -m pytest -q -m slow tests

bench: setup
	$(PY) -m pytest -q -m bench tests/bench -s

clean:
	rm -rf $(VENV) build dist *.egg-info
