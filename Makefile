# SPDX-License-Identifier: Apache-2.0
#
# llmgw build. One Makefile on pkg-config; objects out of tree in $(B)/.
#
#   make            build both daemons and the test tools
#   make test       deps, build, every test; ends with "N passed, N failed"
#   make run        deps, build, start mock provider + gateway + exporter
#   make SAN=1 ...  ASan + UBSan build (in build-san/ unless B is given)
#   make test VALGRIND=1  integration tests with the daemons under valgrind
#   make fuzz       build the libFuzzer targets (clang) in build-fuzz/ and run each FUZZ_SECONDS
#                   (FUZZ=name to run one); `make test` replays every corpus and fuzzes each briefly
#   make bench      benchmarks (tests/bench/)
#   make soak       mixed traffic through the whole chain, RSS sampled (SOAK_SECONDS, default 180)
#   make lint       clang-format check + banned-function check
#   make install    PREFIX=/usr/local DESTDIR=
#   make image      container images llmgw-gateway and llmgw-exporter (docker or podman)
#   make image-check  without an engine: the Dockerfile's runtime stages rebuilt as root
#                   filesystems (debootstrap, cached in $(B)/rootfs/) and both images run
#                   there as the pod runs them; root only (else SKIP); not part of make test

CC ?= cc
PREFIX ?= /usr/local
SAN ?= 0
VALGRIND ?= 0
ifeq ($(SAN),1)
B ?= build-san
SANFLAGS = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
OPT ?= -O1 -g
else
B ?= build
SANFLAGS =
OPT ?= -O2 -g
endif

VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.1.0)

PKGS = libevent libevent_openssl libevent_pthreads libnghttp2 openssl libprotobuf-c yaml-0.1 nanomsg zlib jansson hiredis
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

WARN = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wvla -Wpointer-arith -Werror
CFLAGS_ALL = -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $(OPT) $(WARN) $(SANFLAGS) \
	-I. -I$(B)/gen $(PKG_CFLAGS) -DLLMGW_VERSION='"$(VERSION)"' -MMD -MP $(CFLAGS)
LDFLAGS_ALL = $(SANFLAGS) $(LDFLAGS)
LIBS_ALL = $(PKG_LIBS) -lpthread -lm

# ---- sources -------------------------------------------------------------
PROTOS := $(shell find proto -name '*.proto' | sort)
PROTO_C := $(patsubst proto/%.proto,$(B)/gen/%.pb-c.c,$(PROTOS))
PROTO_H := $(PROTO_C:.c=.h)
PROTO_O := $(patsubst $(B)/gen/%.c,$(B)/obj/gen/%.o,$(PROTO_C))

COMMON_SRC := $(wildcard common/*.c)
GW_SRC := $(filter-out gateway/main.c,$(wildcard gateway/*.c))
EX_SRC := $(filter-out exporter/main.c,$(wildcard exporter/*.c))
MOCK_SRC := $(wildcard tests/support/mock/*.c)
SINK_SRC := $(wildcard tests/support/sink/*.c)
INJECT_SRC := $(wildcard tests/support/inject/*.c)
UNIT_SRC := $(wildcard tests/unit/*/test_*.c)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))

LIBCOMMON = $(B)/libcommon.a
LIBGW = $(B)/libgw.a
LIBEX = $(B)/libex.a
BINS = $(B)/llmgw-gateway $(B)/llmgw-exporter $(B)/llmgw-mock $(B)/otlp-sink $(B)/spanrec-inject
UNIT_BINS := $(patsubst tests/unit/%.c,$(B)/tests/unit/%,$(UNIT_SRC))
# each fuzz target linked with tests/fuzz/replay_main.c (see "fuzzing" below)
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(FUZZ_SRC))
REPLAY_BINS := $(patsubst %,$(B)/tests/fuzz/replay_%,$(FUZZ_NAMES))

.PHONY: all deps test unit run bench soak fuzz lint clean install image image-check
all: $(BINS) $(REPLAY_BINS)

deps:
	@bash deploy/deps.sh

# ---- generated protobuf-c code ---------------------------------------------
$(B)/gen/.stamp: $(PROTOS)
	@mkdir -p $(B)/gen
	protoc-c --c_out=$(B)/gen -Iproto $(PROTOS)
	@touch $@
$(PROTO_C) $(PROTO_H): $(B)/gen/.stamp

$(B)/obj/gen/%.o: $(B)/gen/%.c $(B)/gen/.stamp
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -Werror -Wmissing-prototypes -Wshadow,$(CFLAGS_ALL)) -c -o $@ $<

# Every object may include generated headers: build them first.
$(B)/obj/%.o: %.c | $(B)/gen/.stamp
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

# ---- libraries and binaries ------------------------------------------------
$(LIBCOMMON): $(call obj,$(COMMON_SRC)) $(PROTO_O)
	@rm -f $@
	ar rcs $@ $^
$(LIBGW): $(call obj,$(GW_SRC))
	@rm -f $@
	ar rcs $@ $^
$(LIBEX): $(call obj,$(EX_SRC))
	@rm -f $@
	ar rcs $@ $^

$(B)/llmgw-gateway: $(call obj,gateway/main.c) $(LIBGW) $(LIBCOMMON)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS_ALL)
$(B)/llmgw-exporter: $(call obj,exporter/main.c) $(LIBEX) $(LIBCOMMON)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS_ALL)
$(B)/llmgw-mock: $(call obj,$(MOCK_SRC)) $(LIBCOMMON)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS_ALL)
$(B)/otlp-sink: $(call obj,$(SINK_SRC)) $(LIBCOMMON)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS_ALL)
$(B)/spanrec-inject: $(call obj,$(INJECT_SRC)) $(LIBCOMMON)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS_ALL)

# Unit tests link the module libraries; each test_x.c is its own binary.
$(B)/tests/unit/%: $(B)/obj/tests/unit/%.o $(LIBEX) $(LIBGW) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS_ALL) $(CMOCKA_LIBS)

# ---- the two commands ----------------------------------------------------
test: deps
	@$(MAKE) --no-print-directory all $(UNIT_BINS) $(REPLAY_BINS)
	@if $(HAVE_LIBFUZZER); then $(MAKE) --no-print-directory fuzz-bins; \
	else echo "make test: clang's libFuzzer is not installed: fuzz targets replay their corpus only"; fi
	@B=$(B) FUZZ_B=$(FUZZ_B) SAN=$(SAN) VALGRIND=$(VALGRIND) bash tests/run.sh

unit: all $(UNIT_BINS)
	@B=$(B) SAN=$(SAN) ONLY=unit bash tests/run.sh

run: deps
	@$(MAKE) --no-print-directory all
	@B=$(B) bash deploy/run-local.sh

bench: deps
	@bash deploy/deps.sh --bench
	@$(MAKE) --no-print-directory all
	@B=$(B) bash tests/bench/run.sh

# Soak (tests/soak/): mock -> gateway -> exporter -> sink under mixed traffic for
# SOAK_SECONDS; fails on RSS growth past its bound, a 5xx not injected, or a lost span.
SOAK_SECONDS ?= 180
soak: deps
	@$(MAKE) --no-print-directory all
	@B=$(B) SOAK_SECONDS=$(SOAK_SECONDS) bash tests/soak/soak.sh

# ---- fuzzing ----------------------------------------------------------------
# Each tests/fuzz/fuzz_<x>.c is built two ways:
#  - $(B)/tests/fuzz/replay_<x> (part of `all`): with $(CC) and the build's
#    flags (SAN=1 included), linked with tests/fuzz/replay_main.c, which runs
#    the target once per file of its corpus tests/fuzz/corpus/<x>/ (`make
#    test`, any machine);
#  - $(FUZZ_B)/fuzz_<x>: clang + libFuzzer + ASan/UBSan (UB aborts), in a tree
#    of its own, incrementally like any other (`make fuzz-bins`).
# FUZZ_B follows B (build -> build-fuzz, build-x -> build-fuzz-x; a -san
# suffix is dropped: the libFuzzer tree is always sanitized).
FUZZ_B ?= $(if $(filter build%,$(B)),$(patsubst build%,build-fuzz%,$(patsubst %-san,%,$(B))),$(B)-fuzz)
FUZZ_SANFLAGS = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_SECONDS ?= 30
# true when clang can link a libFuzzer target (clang + libclang-rt-14-dev)
HAVE_LIBFUZZER = { printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n);\nint LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' \
	| clang -x c $(FUZZ_SANFLAGS) -fsanitize=fuzzer -o /dev/null - >/dev/null 2>&1; }

$(B)/tests/fuzz/replay_%: $(B)/obj/tests/fuzz/fuzz_%.o $(B)/obj/tests/fuzz/replay_main.o $(LIBEX) $(LIBGW) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS_ALL)

# Only made by the sub-make of fuzz-bins, where B is the fuzz tree and CC clang.
$(B)/fuzz_%: $(B)/obj/tests/fuzz/fuzz_%.o $(LIBEX) $(LIBGW) $(LIBCOMMON)
	$(CC) $(LDFLAGS_ALL) -fsanitize=fuzzer -o $@ $^ $(LIBS_ALL)

# keep the objects (make would delete them as intermediates of the pattern rules)
.SECONDARY: $(patsubst %,$(B)/obj/tests/fuzz/fuzz_%.o,$(FUZZ_NAMES)) $(B)/obj/tests/fuzz/replay_main.o

.PHONY: fuzz-bins fuzz-replay
fuzz-replay: $(REPLAY_BINS)
fuzz-bins:
	@$(MAKE) --no-print-directory B=$(FUZZ_B) CC=clang OPT="-O1 -g" \
		SANFLAGS="$(FUZZ_SANFLAGS) -fsanitize=fuzzer-no-link" $(patsubst %,$(FUZZ_B)/fuzz_%,$(FUZZ_NAMES))

# Runs each target (or only FUZZ=name) FUZZ_SECONDS on a scratch copy of its
# seed corpus in $(FUZZ_B)/corpus/ (what libFuzzer adds stays there; the
# repo's corpus is never written). A crash names its reproducer; the other
# targets still run, and make fails at the end.
FUZZ ?=
fuzz:
	@bash deploy/deps.sh --fuzz
	@$(MAKE) --no-print-directory fuzz-bins
	@failed=""; for n in $(if $(FUZZ),$(FUZZ),$(FUZZ_NAMES)); do \
		bash tests/fuzz/fuzz-run.sh $(FUZZ_B)/fuzz_$$n tests/fuzz/corpus/$$n $(FUZZ_SECONDS) $(FUZZ_B)/corpus/$$n \
		|| failed="$$failed $$n"; done; \
	if [ -n "$$failed" ]; then echo "make fuzz: failed:$$failed"; exit 1; fi

# ---- hygiene ---------------------------------------------------------------
LINT_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
lint:
	@clang-format --dry-run --Werror $(LINT_FILES)
	@! grep -nE '(^|[^a-z_])(sprintf|strcpy|strcat|strtok|atoi|gets)[[:space:]]*\(' $(LINT_FILES) | grep -v 'lint-ok' \
		|| { echo "lint: banned function (use snprintf/memcpy/strtol...)"; exit 1; }
	@echo "lint: ok"

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/llmgw
	install -m 0755 $(B)/llmgw-gateway $(B)/llmgw-exporter $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 deploy/config/gateway.yaml deploy/config/exporter.yaml $(DESTDIR)$(PREFIX)/share/llmgw/

# ---- container images (deploy/docker/Dockerfile, context = this directory) ---
# IMAGE_PREFIX=registry.example.com/team/ IMAGE_TAG=1.2.3 name what gets built;
# deploy/k8s/base/kustomization.yaml (images:) names what the cluster pulls.
IMAGE_PREFIX ?=
IMAGE_TAG ?= $(VERSION)
CONTAINER_ENGINE ?= $(shell command -v docker 2>/dev/null || command -v podman 2>/dev/null)
image:
	@if [ -z "$(CONTAINER_ENGINE)" ]; then \
		echo "make image: no container engine: neither docker nor podman is installed; no image built" >&2; exit 1; fi
	@if ! $(CONTAINER_ENGINE) info >/dev/null 2>&1; then \
		echo "make image: $(CONTAINER_ENGINE) is installed but no engine answers ('$(notdir $(CONTAINER_ENGINE)) info' failed: daemon not running or no access); no image built" >&2; exit 1; fi
	@set -e; for t in gateway exporter; do \
		echo "  IMAGE $(IMAGE_PREFIX)llmgw-$$t:$(IMAGE_TAG)"; \
		$(CONTAINER_ENGINE) build -f deploy/docker/Dockerfile --target $$t \
			--build-arg VERSION=$(VERSION) -t $(IMAGE_PREFIX)llmgw-$$t:$(IMAGE_TAG) .; done

# The image without an engine (tests/deploy/rootfs.sh): debootstrap + the
# Dockerfile's RUN lines in a chroot, then each image's command on a read-only
# root as uid 10001, a request through both to llmgw-mock and otlp-sink on the
# host. Needs root; the first run also needs the Debian mirror (a minute or
# more), later runs reuse $(B)/rootfs/ (seconds).
image-check: deps
	@$(MAKE) --no-print-directory $(B)/llmgw-gateway $(B)/llmgw-exporter $(B)/llmgw-mock $(B)/otlp-sink
	@B=$(B) bash tests/deploy/rootfs.sh

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
