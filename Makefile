# estcgi — RFC 7030 EST server as FastCGI programs behind Apache httpd.
# Plain make.  `make run` serves a demo, `make test` runs every test.

CC      ?= cc
PORT    ?= 8443
RUNDIR  ?= run
SERVER  ?= apache
export SERVER
BUILD   ?= build
export BUILD

WARN    := -Wall -Wextra -Wstrict-prototypes -Wmissing-prototypes -Wshadow \
           -Wpointer-arith -Wsign-compare -Wcast-qual -Wformat=2 \
           -Wundef -Wvla -Wwrite-strings
ifeq ($(CI),true)
WARN    += -Werror
endif
ifeq ($(SANITIZE),1)
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer
endif
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 $(WARN) $(SANFLAGS) -D_DEFAULT_SOURCE \
           -DOPENSSL_API_COMPAT=30000 -DOPENSSL_NO_DEPRECATED -Icommon
LDFLAGS += $(SANFLAGS)
LDLIBS  := -lfcgi -lconfig -ldb-5.3 -lcrypto -ljansson

# The Debian packages the project needs (make deps installs them).
DEB_PKGS := build-essential libfcgi-dev libssl-dev libdb5.3-dev db5.3-util \
            libconfig-dev libcmocka-dev apache2 apache2-utils \
            libapache2-mod-fcgid curl openssl ca-certificates \
            lighttpd lighttpd-mod-openssl mandoc man-db

DEB_PKGS += libjansson-dev jq
# headless browser for the dashboard test
DEB_PKGS += chromium

LIB_SRCS := common/err.c common/log.c common/conf.c common/b64.c \
            common/json.c common/audit.c common/metrics.c \
            common/csr.c common/pubkey.c common/ca.c common/store.c \
            common/enroll.c \
            common/http.c common/serve.c common/tmpl.c common/admin.c \
            common/prefork.c common/label.c common/keygen.c
LIB_SRCS += common/space.c
LIB_SRCS += common/crl.c common/ocsp.c
LIB_SRCS += common/queue.c
LIB_OBJS := $(LIB_SRCS:common/%.c=$(BUILD)/common/%.o)
LIB      := $(BUILD)/libestcgi.a

PROGS    := cacerts simpleenroll simplereenroll bootstrap unsupported dashboard api \
            csrattrs serverkeygen \
            metrics
PROGS    += ocsp
PROG_BINS := $(PROGS:%=$(BUILD)/cgi-bin/%)
# nph-NAME -> NAME: the names plain CGI (mod_cgid) runs them under, so
# the answer passes untouched, Content-Length kept (estcgi.conf).
NPH_LINKS := $(PROGS:%=$(BUILD)/cgi-bin/nph-%)

UNIT     := b64 csr ca store http tmpl registry metrics label
UNIT     += rev
UNIT     += queue
UNIT     += space
UNIT_BINS := $(UNIT:%=$(BUILD)/tests/test-%)

# SERVER=apache-proxy (mod_proxy_fcgi): spawn-fcgi starts the worker pools.
DEB_PKGS += spawn-fcgi

# The load tool (tests/bench/, not part of the server): make bench.  Its
# stores are filled by the registry's loader (tests/load/fill.c).
BENCH     := estload
BENCH_BINS := $(BENCH:%=$(BUILD)/bench/%)

.PHONY: all deps deps-check run start stop reload test e2e srp-verifiers install uninstall man-lint bench clean
.DELETE_ON_ERROR:

all: $(PROG_BINS) $(NPH_LINKS)

# estcgi-crl publishes the CRLs (server start, a timer): not an endpoint.
SBIN_BINS := $(BUILD)/sbin/estcgi-crl
all: $(SBIN_BINS)
$(BUILD)/sbin/%: sbin-src/%.c $(LIB) common/est.h
	@mkdir -p $(@D)
	@[ "$(V)" = 1 ] || echo "  CCLD    $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

# V=1 shows the full commands.
ifeq ($(V),1)
Q :=
else
Q := @
endif

$(BUILD)/common/%.o: common/%.c common/est.h
	@mkdir -p $(@D)
	@[ "$(V)" = 1 ] || echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJS)
	@[ "$(V)" = 1 ] || echo "  AR      $@"
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(BUILD)/cgi-bin/nph-%: $(BUILD)/cgi-bin/%
	$(Q)ln -sf $* $@

$(BUILD)/cgi-bin/%: cgi-bin-src/%.c $(LIB) common/est.h
	@mkdir -p $(@D)
	@[ "$(V)" = 1 ] || echo "  CCLD    $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

$(BUILD)/tests/test-%: tests/unit/test-%.c tests/unit/unit.h $(LIB) common/est.h
	@mkdir -p $(@D)
	@[ "$(V)" = 1 ] || echo "  CCLD    $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS) -lcmocka

$(BUILD)/bench/%: tests/bench/%.c
	@mkdir -p $(@D)
	@[ "$(V)" = 1 ] || echo "  CCLD    $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -pthread -o $@ $< -lssl -lcrypto

# Installs what is missing (needs root; prints the command otherwise).
deps:
	@sh scripts/deps.sh install $(DEB_PKGS)

deps-check:
	@sh scripts/deps.sh check $(DEB_PKGS)

run: deps-check all
	@sh scripts/server.sh run "$(RUNDIR)" "$(PORT)"

start: deps-check all
	@sh scripts/server.sh start "$(RUNDIR)" "$(PORT)"

stop:
	@sh scripts/server.sh stop "$(RUNDIR)" "$(PORT)"

# The running demo re-reads the CRLs (Apache: a graceful restart).
reload:
	@sh scripts/server.sh reload "$(RUNDIR)" "$(PORT)"

# Unit tests (cmocka) and the end-to-end suite against a private Apache
# on TEST_PORT; one total at the end.
TEST_PORT ?= 18443
# The web servers `make test` runs the end-to-end suite against
# (scripts/server.sh names them).
TEST_SERVERS ?= apache apache-proxy apache-cgi lighttpd
# Apache variants also serve the TLS-SRP example vhost on TEST_SRP_PORT.
TEST_SRP_PORT ?= $(shell expr $(TEST_PORT) + 1)
test: deps-check all $(UNIT_BINS)
	@TEST_PORT=$(TEST_PORT) TEST_SRP_PORT=$(TEST_SRP_PORT) TEST_SERVERS="$(TEST_SERVERS)" bash tests/run.sh $(UNIT_BINS)

e2e: deps-check all
	@TEST_PORT=$(TEST_PORT) TEST_SRP_PORT=$(TEST_SRP_PORT) bash tests/e2e/run.sh

# ---- install (scripts/install.sh has the layout; estcgi(8), README) --
PREFIX     ?= /usr/local
SYSCONFDIR ?= /etc
STATEDIR   ?= /var/lib/estcgi
MANDIR     ?= $(PREFIX)/share/man
INSTALL_ENV = PROGS="$(PROGS)" PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" \
              SYSCONFDIR="$(SYSCONFDIR)" STATEDIR="$(STATEDIR)" MANDIR="$(MANDIR)"
install: all
	@$(INSTALL_ENV) sh scripts/install.sh install

uninstall:
	@$(INSTALL_ENV) sh scripts/install.sh uninstall

# The man pages: mandoc's lint (warnings and worse), as the tests do.
man-lint:
	@mandoc -T lint -W warning man/estcgi.8 man/est.conf.5 && echo "man pages: lint clean"

# TLS-SRP verifiers (mod_ssl SSLSRPVerifierFile, estcgi-srp-vhost.conf)
# from a list of "name:password" lines; the file is rebuilt from the list.
SRP_USERS     ?= srp-users.txt
SRP_VERIFIERS ?= srp.verifiers
srp-verifiers:
	@sh scripts/srp-verifiers.sh "$(SRP_USERS)" "$(SRP_VERIFIERS)"

# Benchmarks against a fresh instance on BENCH_PORT (prints a table and
# writes it to $(BUILD)/bench/results-*.txt); no test asserts a time.
BENCH_PORT ?= 28443
bench: deps-check all $(BENCH_BINS) $(BUILD)/load/fill
	@BENCH_PORT=$(BENCH_PORT) bash tests/bench/run.sh

# The registry loader (tests/load/, not part of make test):
#   make fill N=1000000 RUNDIR=run   adds N synthetic devices (with
# certificate records, events and counters) to RUNDIR's store.
N ?= 1000
$(BUILD)/load/%: tests/load/%.c $(LIB) common/est.h
	@mkdir -p $(@D)
	@[ "$(V)" = 1 ] || echo "  CCLD    $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)
fill: $(BUILD)/load/fill
	@sh tests/load/fill.sh "$(RUNDIR)" "$(N)" "$(BUILD)/load/fill"

# Test tools (tests/tools/, not part of the server): hostile CSRs and
# certificates for the hostile-input test, a read-only store dump.
TOOLS     := hostile-csr store-dump enroll-storm
TOOLS     += store-panic
TOOLS     += store-hold
TOOL_BINS := $(TOOLS:%=$(BUILD)/tools/%)
$(BUILD)/tools/enroll-storm: LDLIBS += -lssl -pthread
$(BUILD)/tools/%: tests/tools/%.c $(LIB) common/est.h
	@mkdir -p $(@D)
	@[ "$(V)" = 1 ] || echo "  CCLD    $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)
test e2e: $(TOOL_BINS)

# The fault tests (make test-faults, a few minutes): workers killed and
# the web server restarted or crashed under 1,000+ enrollments, races, a
# full disk (tmpfs; needs root), hot backup and restore.  Own instance on
# FAULTS_PORT; FAULTS=NAME runs only tests/faults/f-*NAME*.sh.
FAULTS_PORT ?= 18643
.PHONY: test-faults
test-faults: deps-check all $(TOOL_BINS)
	@TEST_PORT=$(FAULTS_PORT) FAULTS="$(FAULTS)" bash tests/faults/run.sh

# The unit tests under valgrind (make valgrind): no error, no leak.
# Installs VALGRIND_PKGS (make test does not need them).  Use a BUILD
# without SANITIZE=1.
VALGRIND_PKGS := valgrind
.PHONY: valgrind
# The fuzz targets' seed corpora are replayed too (tests/fuzz/replay.c).
REPLAY_BINS  = $(FUZZ_TARGETS:%=$(BUILD)/tests/replay-%)
$(BUILD)/tests/replay-%: tests/fuzz/fuzz-%.c tests/fuzz/replay.c $(LIB) common/est.h
	@mkdir -p $(@D)
	@[ "$(V)" = 1 ] || echo "  CCLD    $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< tests/fuzz/replay.c $(LIB) $(LDLIBS)
$(BUILD)/tests/replay-api: cgi-bin-src/api.c
valgrind:
	@sh scripts/deps.sh check $(VALGRIND_PKGS)
	@$(MAKE) --no-print-directory $(UNIT_BINS) $(REPLAY_BINS)
	@bash tests/unit/valgrind.sh $(UNIT_BINS) \
	    $(foreach t,$(FUZZ_TARGETS),$(BUILD)/tests/replay-$(t):tests/fuzz/corpus/$(t))

# Fuzzing (make fuzz FUZZ_SECONDS=N): libFuzzer targets in tests/fuzz/
# built with clang, ASan and UBSan in FUZZ_BUILD; each runs N seconds at
# low priority on a copy of its seed corpus.  Needs FUZZ_PKGS, which
# make fuzz installs (make test does not need them).
FUZZ_PKGS    := clang libclang-rt-14-dev
FUZZ_BUILD   ?= $(BUILD)-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := b64 csr req conf api
FUZZ_TARGETS += ocsp
FUZZ_CFLAGS  := -g -O1 -std=c11 $(WARN) -D_DEFAULT_SOURCE \
                -DOPENSSL_API_COMPAT=30000 -DOPENSSL_NO_DEPRECATED -Icommon \
                -fsanitize=address,undefined -fno-sanitize-recover=undefined \
                -fno-omit-frame-pointer
FUZZ_OBJS    := $(LIB_SRCS:common/%.c=$(FUZZ_BUILD)/common/%.o)
FUZZ_BINS    := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz-%)
.PHONY: fuzz fuzz-build
.SECONDARY: $(FUZZ_OBJS)
$(FUZZ_BUILD)/common/%.o: common/%.c common/est.h
	@mkdir -p $(@D)
	@[ "$(V)" = 1 ] || echo "  CLANG   $<"
	$(Q)clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<
$(FUZZ_BUILD)/fuzz-%: tests/fuzz/fuzz-%.c $(FUZZ_OBJS) common/est.h
	@[ "$(V)" = 1 ] || echo "  CLANGLD $@"
	$(Q)clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJS) $(LDLIBS)
$(FUZZ_BUILD)/fuzz-api: cgi-bin-src/api.c
fuzz-build: $(FUZZ_BINS)
fuzz:
	@sh scripts/deps.sh check $(FUZZ_PKGS)
	@$(MAKE) --no-print-directory fuzz-build
	@FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) \
	    bash tests/fuzz/run.sh $(FUZZ_TARGETS)

clean:
	rm -rf $(BUILD)
