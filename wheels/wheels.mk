# Wheel targets, included by the top-level Makefile (which defines VENV, PY, APT_INSTALL,
# sysdeps, the venv rule).
#   make wheel          x86_64 manylinux wheel with libuv inside, checked and smoke-tested
#   make wheel-aarch64  aarch64 wheel cross-compiled here, smoke-tested under QEMU
#   make sdist          the source distribution, checked, and built into a wheel on its own
#   make lint-ci        actionlint + shellcheck on the CI files and scripts; cibuildwheel's build identifiers
# See wheels/README.md.

VENV             ?= .venv
APT_INSTALL      ?= bash scripts/apt-install.sh
VENV_BIN          = $(dir $(PY))
WHEEL_DEPS_STAMP := $(VENV)/.wheel-deps-installed

.PHONY: wheel wheel-aarch64 sdist lint-ci

# requirements-dev.txt too: the cross build runs without build isolation (Cython, setuptools).
$(WHEEL_DEPS_STAMP): wheels/requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt -r wheels/requirements.txt
	touch $@

wheel: $(WHEEL_DEPS_STAMP) | sysdeps
	PY=$(PY) bash wheels/build_wheel.sh

# Installs its own Debian packages (cross gcc, QEMU, arm64 multiarch headers) when missing.
wheel-aarch64: $(WHEEL_DEPS_STAMP) | sysdeps
	PY=$(PY) bash wheels/build_aarch64.sh

sdist: $(WHEEL_DEPS_STAMP) | sysdeps
	rm -rf dist/iotnet-*.tar.gz build/sdist-wheel
	$(PY) -m build --sdist --outdir dist .
	$(VENV_BIN)twine check dist/iotnet-*.tar.gz
	$(PY) -m pip wheel -q --no-deps --wheel-dir build/sdist-wheel dist/iotnet-*.tar.gz

# shellcheck lets actionlint check the run: scripts too.
lint-ci: $(WHEEL_DEPS_STAMP)
	@command -v shellcheck >/dev/null || $(APT_INSTALL) shellcheck
	$(VENV_BIN)actionlint .github/workflows/ci.yml .github/workflows/wheels.yml
	shellcheck -x wheels/*.sh scripts/*.sh
	@echo "actionlint and shellcheck: no problems"
	$(VENV_BIN)cibuildwheel --print-build-identifiers --platform linux
	$(VENV_BIN)cibuildwheel --print-build-identifiers --platform macos
