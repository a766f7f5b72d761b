# `make bench` and `make bench-quick`: iotnet against its peers and the C libuv limit.
# Included by the main Makefile, which defines PY, APT_INSTALL, the venv, `build` and `sysdeps`.
# What is measured and how: bench/README.md.
PY               ?= .venv/bin/python
APT_INSTALL      ?= bash scripts/apt-install.sh
BENCH_DEPS_STAMP := $(or $(VENV),.venv)/.bench-deps-installed
BENCH_BINS       := bench/bin/loadgen bench/bin/c_libuv bench/bin/c_tls bench/bin/c_proxy

.PHONY: bench bench-quick bench-setup bench-valgrind bench-openssl bench-haproxy

# OpenSSL for the TLS scenarios: the headers and libraries of the loadgen and the C TLS server
# (libssl-dev), and the openssl command that makes each run's certificate; installed with apt-get
# only when missing.
bench-openssl: | sysdeps
	@pkg-config --exists openssl 2>/dev/null && command -v openssl >/dev/null || $(APT_INSTALL) libssl-dev openssl

bench/bin/loadgen: bench/loadgen.c | bench-openssl
	@mkdir -p $(@D)
	gcc -O2 -Wall -Wextra -o $@ $< $$(pkg-config --cflags --libs openssl)

bench/bin/c_libuv: bench/servers/c_libuv.c | sysdeps
	@mkdir -p $(@D)
	gcc -O2 -Wall -Wextra -o $@ $< $$(pkg-config --cflags --libs libuv)

bench/bin/c_tls: bench/servers/c_tls.c | sysdeps bench-openssl
	@mkdir -p $(@D)
	gcc -O2 -Wall -Wextra -o $@ $< $$(pkg-config --cflags --libs libuv openssl)

bench/bin/c_proxy: bench/servers/c_proxy.c | sysdeps
	@mkdir -p $(@D)
	gcc -O2 -Wall -Wextra -o $@ $< $$(pkg-config --cflags --libs libuv)

# The peers' Python packages (uvloop) and the chart's (matplotlib), once per change of the list.
$(BENCH_DEPS_STAMP): bench/requirements.txt | $(PY)
	$(PY) -m pip install -q -r bench/requirements.txt
	touch $@

# valgrind (callgrind instruction counts), installed with apt-get only when missing.
bench-valgrind:
	@command -v valgrind >/dev/null 2>&1 || $(APT_INSTALL) valgrind

# HAProxy, a peer in the proxy scenarios (run with a config the harness writes), installed with
# apt-get only when missing.
bench-haproxy:
	@command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || $(APT_INSTALL) haproxy

bench-setup: build $(BENCH_DEPS_STAMP) $(BENCH_BINS) bench-valgrind bench-haproxy

# Every scenario, median of 3 (about 29 minutes on 2 cores); writes bench/results/latest.* and
# the last-measured section of bench/README.md (bench/report.py).
bench: bench-setup
	$(PY) bench/run.py

# One repeat of a subset with shorter windows (about 2.5 minutes).
bench-quick: bench-setup
	$(PY) bench/run.py --quick
