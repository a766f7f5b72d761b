# Wheel targets, included by the top-level Makefile (which defines VENV, PY, APT_INSTALL,
# sysdeps, the venv rule).
#   make wheel          x86_64 manylinux wheel with libuv inside, checked and smoke-tested
#   make wheel-aarch64  aarch64 wheel cross-compiled here, smoke-tested under QEMU
#   make wheel-armv7l   the same for 32-bit ARM (armhf)
#   make test-aarch64, make test-armv7l
#                       the whole test suite under QEMU, release and debug builds (slow)
#   make sdist          the source distribution, checked, and built into a wheel on its own
#   make lint-ci        actionlint + shellcheck on the CI files and scripts; cibuildwheel's build identifiers
# See wheels/README.md.

VENV             ?= .venv
APT_INSTALL      ?= bash scripts/apt-install.sh
VENV_BIN          = $(dir $(PY))
WHEEL_DEPS_STAMP := $(VENV)/.wheel-deps-installed

.PHONY: wheel wheel-aarch64 wheel-armv7l test-aarch64 test-armv7l sdist lint-ci

# requirements-dev.txt too: the cross build runs without build isolation (Cython, setuptools).
$(WHEEL_DEPS_STAMP): wheels/requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt -r wheels/requirements.txt
	touch $@

wheel: $(WHEEL_DEPS_STAMP) | sysdeps
	PY=$(PY) bash wheels/build_wheel.sh

# Cross builds install their own Debian packages (cross gcc, QEMU, the target's multiarch
# headers) when missing; one script for both ARM targets.
wheel-aarch64 wheel-armv7l: wheel-%: $(WHEEL_DEPS_STAMP) | sysdeps
	PY=$(PY) bash wheels/build_cross.sh $*

test-aarch64 test-armv7l: test-%: $(WHEEL_DEPS_STAMP) test-deps | sysdeps
	PY=$(PY) bash wheels/test_cross.sh $*

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
