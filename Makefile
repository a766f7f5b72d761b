# iotnet: `make test` and `make bench` set up everything themselves on a fresh Debian machine.
PYTHON            ?= python3
VENV              := .venv
PY                := $(VENV)/bin/python
DEPS_STAMP        := $(VENV)/.deps-installed
DOCS_STAMP        := $(VENV)/.docs-deps-installed
CORE_SRC          := setup.py src/_core.pyx src/iotnet/_core.pxd src/uv.pxd src/debug.h src/embed.h $(wildcard src/core/*.pxi)
# Stamps (empty files, not in git) whose dates say when each build last succeeded.
CORE_BUILT_STAMP  := src/iotnet/.core-built
DEBUG_DIR         := build/debug
DEBUG_BUILT_STAMP := $(DEBUG_DIR)/.core-built
# Installs the Debian packages named that are missing (sudo unless root); see the script.
APT_INSTALL       := bash scripts/apt-install.sh

.PHONY: all build debug test test-release test-debug docs sysdeps test-deps clean

all: build

# System packages: libuv's headers and pkg-config, installed with apt-get only when missing.
sysdeps:
	@pkg-config --exists libuv 2>/dev/null || $(APT_INSTALL) libuv1-dev pkg-config

# What only the tests use: HAProxy, in front of iotnet servers in tests/test_proxy_protocol.py.
test-deps:
	@command -v haproxy >/dev/null 2>&1 || test -x /usr/sbin/haproxy || $(APT_INSTALL) haproxy

$(PY):
	$(PYTHON) -m venv $(VENV)

$(DEPS_STAMP): requirements-dev.txt | $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

# In-place release build: src/iotnet/_core*.so beside the Python package; a .pth file puts
# src/ on the venv's path so `.venv/bin/python examples/echo_server.py` imports this build.
$(CORE_BUILT_STAMP): $(CORE_SRC) $(DEPS_STAMP) | sysdeps
	$(PY) setup.py -q build_ext --inplace
	$(PY) -c 'import site, pathlib; pathlib.Path(site.getsitepackages()[0], "iotnet-src.pth").write_text(str(pathlib.Path("src").resolve()) + "\n")'
	touch $@

build: $(CORE_BUILT_STAMP)

# Debug build (live handle/request/buffer counters): a complete package under build/debug.
$(DEBUG_BUILT_STAMP): $(CORE_SRC) $(wildcard src/iotnet/*.py) $(DEPS_STAMP) | sysdeps
	IOTNET_DEBUG=1 $(PY) setup.py -q build --build-base build/debug-tmp --build-lib $(DEBUG_DIR) --force
	touch $@

debug: $(DEBUG_BUILT_STAMP)

test-release: build test-deps
	$(PY) -m pytest -q tests

test-debug: debug test-deps
	IOTNET_PATH=$(DEBUG_DIR) $(PY) -m pytest -q tests

# The whole suite, in the release build and then in the debug build.
test: test-release test-debug

# The user documentation (docs/, Sphinx) into build/docs; a warning fails the build.
$(DOCS_STAMP): docs/requirements.txt | $(DEPS_STAMP)
	$(PY) -m pip install -q -r docs/requirements.txt
	touch $@

docs: build $(DOCS_STAMP)
	$(VENV)/bin/sphinx-build -W --keep-going -b html docs build/docs

clean:
	rm -rf build src/_core.c src/iotnet/_core*.so $(CORE_BUILT_STAMP)

# The benchmark (bench/) and the wheels (wheels/) keep their targets beside their scripts.
-include bench/bench.mk
-include wheels/wheels.mk
