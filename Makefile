# ptexec — portfolio trade execution engine.
#   make            build build/libptexec.so.1, build/ptexec and build/plugins/*.so
#   make test       unit + integration tests (installs missing Debian packages)
#   make run        build, then serve the HTTP API with brokers.ini
#   make install    PREFIX=/usr/local DESTDIR=…
#   make bench      benchmarks (figures, not pass/fail)
#   make soak       60 s HTTP soak under wrk (pass/fail: errors, 5xx, RSS growth)
#   make SANITIZE=address,undefined BUILD=build-asan test
#   make WERROR=1   warnings are errors (CI)

VERSION   := 0.1.0
PREFIX    ?= /usr/local
DESTDIR   ?=
BUILD     ?= build
CC        ?= cc
OPT       ?= -O2 -g
PKGS      := inih libcjson libcrypto libmicrohttpd sqlite3
PKG_CONFIG ?= pkg-config

WARN := -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wold-style-definition -Wwrite-strings -Wundef -Wformat=2 -Wvla
ifeq ($(WERROR),1)
WARN += -Werror
endif
ifneq ($(SANITIZE),)
SAN_FLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif

DEFS      := -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L -DPTEXEC_VERSION='"$(VERSION)"'
PKG_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
CFLAGS    ?=
CFLAGS_ALL = $(WARN) $(OPT) $(SAN_FLAGS) $(DEFS) -Isdk/include -Ihost $(PKG_CFLAGS) $(CFLAGS)
LDFLAGS_ALL = $(SAN_FLAGS) $(LDFLAGS)
LIBS       = $(PKG_LIBS) -ldl -lpthread -lm

# The host library (every host module) and the front-ends on top of it: the
# CLI, the HTTP server and its OpenAPI document use <ptexec/host.h> alone and
# link only libptexec.so.1 (tests/frontend_test.sh checks both).
FRONT_SRC := host/cli.c host/http.c host/openapi.c
LIB_SRC   := $(filter-out $(FRONT_SRC) host/main.c,$(wildcard host/*.c))
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
FRONT_OBJ := $(FRONT_SRC:%.c=$(BUILD)/%.o)
MAIN_OBJ  := $(BUILD)/host/main.o
HOST_OBJ  := $(LIB_OBJ) $(FRONT_OBJ)
LIB_SONAME := libptexec.so.1
LIB_SO    := $(BUILD)/$(LIB_SONAME)
LIB_LIBS   = $(shell $(PKG_CONFIG) --libs inih libcjson libcrypto sqlite3 2>/dev/null) -ldl -lpthread -lm
FRONT_LIBS = $(shell $(PKG_CONFIG) --libs libmicrohttpd 2>/dev/null) -lpthread
# build/ptexec finds the library beside it (build/) or in ../lib (installed).
RPATH     := -Wl,-rpath,'$$ORIGIN:$$ORIGIN/../lib'

PLUGINS   := zerodha fyers angelone groww upstox
SIM_SRC   := $(wildcard plugins/sim/*.c)
PLUGIN_SO := $(PLUGINS:%=$(BUILD)/plugins/%.so)
PLUGIN_CFLAGS = $(WARN) $(OPT) $(SAN_FLAGS) -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L \
        -fPIC -fvisibility=hidden -Isdk/include -Iplugins/sim $(CFLAGS)

TEST_SRC  := $(wildcard tests/test_*.c)
TEST_BIN  := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
FIXTURE_SRC := $(wildcard tests/plugins/*.c)
FIXTURE_SO  := $(FIXTURE_SRC:tests/plugins/%.c=$(BUILD)/tests/plugins/%.so)
# The same fixtures built against the frozen ABI 1.0 header (tests/plugins/abi10).
FIXTURE_SO  += $(BUILD)/tests/plugins/good_v1_0.so $(BUILD)/tests/plugins/scripted_v1_0.so
BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
DOCS_DIR  := $(BUILD)/share/swagger-ui

.PHONY: all deps test check-build run install uninstall bench soak chaos clean format format-check fuzz
.DEFAULT_GOAL := all

all: $(LIB_SO) $(BUILD)/libptexec.so $(BUILD)/ptexec $(PLUGIN_SO) $(DOCS_DIR)/VERSION

# Swagger UI for GET /docs: npm package swagger-ui-dist (pinned, checksummed), fetched once.
# Without npm the server still builds and runs; GET /docs then answers 404 saying why.
$(DOCS_DIR)/VERSION: scripts/fetch-swagger-ui.sh web/docs/index.html web/docs/docs.js
	@scripts/fetch-swagger-ui.sh $(DOCS_DIR) || echo "warning: Swagger UI not fetched; GET /docs will answer 404" >&2

deps:
	@scripts/deps.sh

# libFuzzer on the request parser/validator (clang, ASan+UBSan), FUZZ_TIME seconds;
# then raw HTTP requests to $(BUILD)/ptexec serve over loopback (fuzz/fuzz_http.py),
# FUZZ_TIME seconds too (with BUILD=build-asan the server runs under ASan+UBSan).
FUZZ_CC   ?= clang
FUZZ_TIME ?= 60
fuzz: $(BUILD)/fuzz/fuzz_request $(BUILD)/ptexec $(PLUGIN_SO)
	@mkdir -p $(BUILD)/fuzz/corpus
	$(BUILD)/fuzz/fuzz_request -max_total_time=$(FUZZ_TIME) -max_len=65536 -timeout=10 \
		$(BUILD)/fuzz/corpus fuzz/corpus/request
	python3 fuzz/fuzz_http.py --build $(BUILD) --seconds $(FUZZ_TIME)

$(BUILD)/fuzz/fuzz_request: fuzz/fuzz_request.c host/request.c host/json.c host/status.c $(wildcard host/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all $(WARN) $(DEFS) \
		-Isdk/include -Ihost $(shell $(PKG_CONFIG) --cflags libcjson) -o $@ $(filter %.c,$^) \
		$(shell $(PKG_CONFIG) --libs libcjson)

# Only ptexec_* is exported: hidden visibility for every host object, and the
# version script for whatever a static dependency would add.
$(LIB_SO): $(LIB_OBJ) host/libptexec.map
	$(CC) $(LDFLAGS_ALL) -shared -Wl,-soname,$(LIB_SONAME) -Wl,--version-script=host/libptexec.map \
		-Wl,--no-undefined -o $@ $(LIB_OBJ) $(LIB_LIBS)

$(BUILD)/libptexec.so: $(LIB_SO)
	ln -sf $(LIB_SONAME) $@

# The executable is the front-ends linked against the shared library only: a
# private host symbol used by cli.c, http.c or openapi.c fails this link.
$(BUILD)/ptexec: $(FRONT_OBJ) $(MAIN_OBJ) $(LIB_SO) $(BUILD)/libptexec.so
	$(CC) $(LDFLAGS_ALL) -o $@ $(FRONT_OBJ) $(MAIN_OBJ) -L$(BUILD) -lptexec $(RPATH) $(FRONT_LIBS)

$(BUILD)/host/%.o: host/%.c $(wildcard host/*.h) $(wildcard sdk/include/ptexec/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -fPIC -fvisibility=hidden -c -o $@ $<

$(BUILD)/plugins/%.so: plugins/%/*.c $(SIM_SRC) $(wildcard plugins/sim/*.h plugins/sim/*.def) sdk/include/ptexec/broker_plugin.h
	@mkdir -p $(dir $@)
	$(CC) $(PLUGIN_CFLAGS) -shared -o $@ $(wildcard plugins/$*/*.c) $(SIM_SRC) $(LDFLAGS_ALL) -lm -lpthread
	@chmod 755 $@

$(BUILD)/tests/plugins/%.so: tests/plugins/%.c $(wildcard tests/plugins/*.h) sdk/include/ptexec/broker_plugin.h
	@mkdir -p $(dir $@)
	$(CC) $(PLUGIN_CFLAGS) -Wno-missing-prototypes -shared -o $@ $< $(LDFLAGS_ALL)
	@chmod 755 $@

$(BUILD)/tests/plugins/%_v1_0.so: tests/plugins/%.c tests/plugins/abi10/ptexec/broker_plugin.h $(wildcard tests/plugins/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(subst -Isdk/include,-Itests/plugins/abi10,$(PLUGIN_CFLAGS)) -Wno-missing-prototypes \
		-shared -o $@ $< $(LDFLAGS_ALL)
	@chmod 755 $@

$(BUILD)/tests/%: tests/%.c $(HOST_OBJ) $(wildcard tests/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Itests $(shell $(PKG_CONFIG) --cflags check) -o $@ $< $(HOST_OBJ) \
		$(LDFLAGS_ALL) $(shell $(PKG_CONFIG) --libs check) $(LIBS)

# Through the public API and the shared library only, like any front-end.
$(BUILD)/bench/bench_host: bench/bench_host.c sdk/include/ptexec/host.h $(LIB_SO) $(BUILD)/libptexec.so
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(OPT) $(SAN_FLAGS) -D_POSIX_C_SOURCE=200809L -Isdk/include -o $@ $< \
		$(LDFLAGS_ALL) -L$(BUILD) -lptexec -Wl,-rpath,'$$ORIGIN/..' -lpthread

$(BUILD)/bench/%: bench/%.c $(HOST_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(HOST_OBJ) $(LDFLAGS_ALL) $(LIBS)

check-build: all $(TEST_BIN) $(FIXTURE_SO)

test: deps
	@$(MAKE) --no-print-directory check-build
	@BUILD=$(BUILD) scripts/run-tests.sh

run: deps
	@$(MAKE) --no-print-directory all
	$(BUILD)/ptexec -c brokers.ini serve

# The chaos suite at full size (tests/test_chaos.c; `make test` runs 500 of
# them with a fixed seed): CHAOS_RUNS executions, CHAOS_SEED.
CHAOS_RUNS ?= 10000
CHAOS_SEED ?= 20261201
chaos: deps
	@$(MAKE) --no-print-directory check-build
	@PTEXEC_BUILD_DIR=$(CURDIR)/$(BUILD) PTEXEC_SOURCE_DIR=$(CURDIR) \
	  PTEXEC_CHAOS_RUNS=$(CHAOS_RUNS) PTEXEC_CHAOS_SEED=$(CHAOS_SEED) $(BUILD)/tests/test_chaos

bench: deps
	@$(MAKE) --no-print-directory all $(BENCH_BIN) $(BUILD)/tests/plugins/parallel.so
	@BUILD=$(BUILD) scripts/bench.sh

# 60 s of wrk on POST /execute with good and bad bodies: fails on connection
# errors, any 5xx, or RSS growth of 10% or more between 10 s and 60 s.
soak: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) bench/http_bench.sh soak

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/ptexec/plugins \
		$(DESTDIR)$(PREFIX)/include/ptexec $(DESTDIR)$(PREFIX)/lib/pkgconfig \
		$(DESTDIR)$(PREFIX)/etc/ptexec $(DESTDIR)$(PREFIX)/share/ptexec/examples
	install -m 755 $(BUILD)/ptexec $(DESTDIR)$(PREFIX)/bin/ptexec
	install -m 755 $(LIB_SO) $(DESTDIR)$(PREFIX)/lib/$(LIB_SONAME)
	ln -sf $(LIB_SONAME) $(DESTDIR)$(PREFIX)/lib/libptexec.so
	install -m 755 $(PLUGIN_SO) $(DESTDIR)$(PREFIX)/lib/ptexec/plugins/
	install -m 644 sdk/include/ptexec/*.h $(DESTDIR)$(PREFIX)/include/ptexec/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' sdk/ptexec-sdk.pc.in \
		> $(DESTDIR)$(PREFIX)/lib/pkgconfig/ptexec-sdk.pc
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' sdk/ptexec.pc.in \
		> $(DESTDIR)$(PREFIX)/lib/pkgconfig/ptexec.pc
	sed -e 's|^plugin_dir *=.*|plugin_dir = $(PREFIX)/lib/ptexec/plugins|' brokers.ini \
		> $(DESTDIR)$(PREFIX)/etc/ptexec/brokers.ini
	cp -R sdk/examples/. $(DESTDIR)$(PREFIX)/share/ptexec/examples/
	install -d $(DESTDIR)$(PREFIX)/share/ptexec/swagger-ui
	if [ -f $(DOCS_DIR)/VERSION ]; then \
		install -m 644 $(DOCS_DIR)/* $(DESTDIR)$(PREFIX)/share/ptexec/swagger-ui/; fi

uninstall:
	rm -rf $(DESTDIR)$(PREFIX)/bin/ptexec $(DESTDIR)$(PREFIX)/lib/ptexec \
		$(DESTDIR)$(PREFIX)/lib/$(LIB_SONAME) $(DESTDIR)$(PREFIX)/lib/libptexec.so \
		$(DESTDIR)$(PREFIX)/lib/pkgconfig/ptexec.pc \
		$(DESTDIR)$(PREFIX)/include/ptexec $(DESTDIR)$(PREFIX)/lib/pkgconfig/ptexec-sdk.pc \
		$(DESTDIR)$(PREFIX)/etc/ptexec $(DESTDIR)$(PREFIX)/share/ptexec

format:
	clang-format -i host/*.c host/*.h plugins/*/*.c plugins/*/*.h sdk/include/ptexec/*.h tests/*.c tests/plugins/*.c \
		sdk/examples/host/*.c bench/bench_host.c

format-check:
	clang-format --dry-run --Werror host/*.c host/*.h plugins/*/*.c plugins/*/*.h sdk/include/ptexec/*.h tests/*.c tests/plugins/*.c \
		sdk/examples/host/*.c bench/bench_host.c

clean:
	rm -rf build build-asan
