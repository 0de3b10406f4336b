# memtool / libmemapi: one plain Makefile.
#   make                 build/libmemapi.so.1, build/libmemapi.a, build/memtool
#   make check           every test (SANITIZE=1: under ASan+UBSan, in build/san)
#   make valgrind        the Check suites under valgrind
#   make bench           benchmark tables
#   make install         PREFIX=/usr/local DESTDIR=

VERSION    := 1.0.0
SOVERSION  := 1
PREFIX     ?= /usr/local
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
DESTDIR    ?=

CC         ?= gcc
PKG_CONFIG ?= pkg-config
OPT        ?= -O2
CFLAGS     ?= $(OPT) -g
WARN       := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
              -Wno-unused-parameter -Werror=implicit-function-declaration
BASEFLAGS  := -std=c11 -D_GNU_SOURCE -fno-strict-aliasing -MMD -MP $(WARN)
INCLUDES   := -Icore/include

ifeq ($(SANITIZE),1)
BUILD      ?= build/san
SANFLAGS   := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD      ?= build
SANFLAGS   :=
endif

# Quiet by default; V=1 shows the commands.
ifeq ($(V),1)
Q :=
else
Q := @
endif

ALL_CFLAGS  = $(BASEFLAGS) $(INCLUDES) $(CFLAGS) $(SANFLAGS)
LDLIBS_CORE = -lpthread

CHECK_CFLAGS := $(shell $(PKG_CONFIG) --cflags check 2>/dev/null)
CHECK_LIBS   := $(shell $(PKG_CONFIG) --libs check 2>/dev/null || echo -lcheck -lsubunit -lm -lrt)

# ---- libmemapi ----
CORE_SRC  := $(wildcard core/*.c core/os/*.c core/vm/*.c core/heap/*.c core/section/*.c)
CORE_OBJ  := $(CORE_SRC:%.c=$(BUILD)/obj/%.o)
LIB_SO    := $(BUILD)/libmemapi.so.$(SOVERSION)
LIB_A     := $(BUILD)/libmemapi.a
HEADERS   := $(wildcard core/include/*.h)

# ---- libmeminspect: the only code that links libelf and capstone ----
INSPECT_SRC  := $(wildcard inspect/*.c)
INSPECT_OBJ  := $(INSPECT_SRC:%.c=$(BUILD)/obj/%.o)
INSPECT_A    := $(BUILD)/libmeminspect.a
INSPECT_PKGS := libelf capstone
INSPECT_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(INSPECT_PKGS) 2>/dev/null)
INSPECT_LIBS   := $(shell $(PKG_CONFIG) --libs $(INSPECT_PKGS) 2>/dev/null || echo -lelf -lcapstone)

# ---- memtool ----
CLI_SRC   := $(wildcard cli/*.c)
CLI_OBJ   := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
MEMTOOL   := $(BUILD)/memtool

# ---- tests ----
TEST_SRC  := $(wildcard tests/check_*.c)
TEST_BIN  := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_LIB  := $(BUILD)/obj/tests/testlib.o
BENCH_SRC := $(wildcard tests/bench/bench_*.c)
BENCH_BIN := $(BENCH_SRC:tests/bench/%.c=$(BUILD)/bench/%)

.PHONY: all lib check valgrind bench install uninstall clean
# Keep test objects: they are intermediates of the pattern chain.
.SECONDARY:
all: lib $(MEMTOOL)
lib: $(LIB_SO) $(LIB_A)

$(BUILD)/obj/core/%.o: core/%.c
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -fPIC -fvisibility=hidden -c $< -o $@

$(LIB_SO): $(CORE_OBJ) core/libmemapi.map
	@echo "  LINK    $@"
	$(Q)$(CC) $(ALL_CFLAGS) -shared -Wl,-soname,libmemapi.so.$(SOVERSION) \
	  -Wl,--version-script=core/libmemapi.map -Wl,-z,noexecstack \
	  -o $@ $(CORE_OBJ) $(LDLIBS_CORE)
	$(Q)ln -sf libmemapi.so.$(SOVERSION) $(BUILD)/libmemapi.so

$(LIB_A): $(CORE_OBJ)
	@echo "  AR      $@"
	$(Q)rm -f $@
	$(Q)$(AR) rcs $@ $^

$(BUILD)/obj/cli/%.o: ALL_CFLAGS += -Icli -Iinspect -DMEMTOOL_VERSION='"$(VERSION)"'
$(BUILD)/obj/inspect/%.o: ALL_CFLAGS += -Iinspect $(INSPECT_CFLAGS)

$(INSPECT_A): $(INSPECT_OBJ)
	@echo "  AR      $@"
	$(Q)rm -f $@
	$(Q)$(AR) rcs $@ $^
$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

# memtool finds libmemapi beside it in build/, and in ../lib once installed.
$(MEMTOOL): $(CLI_OBJ) $(INSPECT_A) $(LIB_SO)
	@echo "  LINK    $@"
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $(CLI_OBJ) $(INSPECT_A) -L$(BUILD) -lmemapi \
	  -Wl,-rpath,'$$ORIGIN:$$ORIGIN/../lib' $(INSPECT_LIBS) $(LDLIBS_CORE)

# Suites link the static library so they can reach internal hooks
# (syscall fault injection) that the shared object does not export.
$(BUILD)/obj/tests/%.o: tests/%.c
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -Icore -Iinspect $(CHECK_CFLAGS) -c $< -o $@

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(TEST_LIB) $(LIB_A)
	@mkdir -p $(@D)
	@echo "  LINK    $@"
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(TEST_LIB) $(LIB_A) $(CHECK_LIBS) $(LDLIBS_CORE)

# Suites of libmeminspect (check_inspect*) link it, libelf and capstone too.
INSPECT_TESTS := $(filter $(BUILD)/tests/check_inspect%,$(TEST_BIN))
$(INSPECT_TESTS): $(BUILD)/tests/check_inspect%: $(BUILD)/obj/tests/check_inspect%.o $(TEST_LIB) \
                  $(INSPECT_A) $(LIB_A)
	@mkdir -p $(@D)
	@echo "  LINK    $@"
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(TEST_LIB) $(INSPECT_A) $(LIB_A) $(CHECK_LIBS) \
	  $(INSPECT_LIBS) $(LDLIBS_CORE)

$(BUILD)/bench/%: tests/bench/%.c tests/bench/bench.h $(LIB_A)
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(BASEFLAGS) $(INCLUDES) -Icore -O2 -g -o $@ $< $(LIB_A) $(LDLIBS_CORE)

# bench_watch samples a child with libmeminspect.
$(BUILD)/bench/bench_watch: tests/bench/bench_watch.c tests/bench/bench.h $(INSPECT_A) $(LIB_A)
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(BASEFLAGS) $(INCLUDES) -Icore -Iinspect -O2 -g -o $@ $< $(INSPECT_A) $(LIB_A) \
	  $(INSPECT_LIBS) $(LDLIBS_CORE)

# Heap benchmark workers. bench_heap runs one worker per allocator as a
# child process, since mimalloc and jemalloc replace malloc when linked; they
# are named heap_work-*, not bench_*, so the bench loop does not run them
# itself.
HEAP_WORK_SRC  := tests/bench/heap_work.c
HEAP_WORK_DEPS := $(HEAP_WORK_SRC) tests/bench/heap_work.h tests/bench/bench.h
HEAP_WORK      := $(addprefix $(BUILD)/bench/heap_work-,glibc mimalloc jemalloc memapi)
HEAP_WORK_CC    = $(CC) $(BASEFLAGS) $(INCLUDES) -O2 -g -o $@ $(HEAP_WORK_SRC)

bench: $(HEAP_WORK)
$(BUILD)/bench/bench_heap: tests/bench/heap_work.h

$(BUILD)/bench/heap_work-glibc: $(HEAP_WORK_DEPS)
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(HEAP_WORK_CC) $(LDLIBS_CORE)

$(BUILD)/bench/heap_work-mimalloc: $(HEAP_WORK_DEPS)
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(HEAP_WORK_CC) -DWK_MIMALLOC -lmimalloc $(LDLIBS_CORE)

$(BUILD)/bench/heap_work-jemalloc: $(HEAP_WORK_DEPS)
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(HEAP_WORK_CC) -DWK_JEMALLOC -ljemalloc $(LDLIBS_CORE)

$(BUILD)/bench/heap_work-memapi: $(HEAP_WORK_DEPS) $(LIB_A)
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(HEAP_WORK_CC) -DWK_MEMAPI $(LIB_A) $(LDLIBS_CORE)

# CK_FORK stays on: a crashing test must not take the suite with it.
check: all $(TEST_BIN)
	@tests/run-suites.sh $(BUILD) $(TEST_BIN)
	@tests/cli/run.sh $(BUILD)

valgrind: all $(TEST_BIN)
	@VALGRIND=1 tests/run-suites.sh $(BUILD) $(TEST_BIN)
	@tests/cli/memcheck.sh $(BUILD)

# The core reader under libFuzzer for FUZZ_TIME seconds (tests/fuzz/fuzz_core.c
# says how to reproduce a crash). The seeds name this build's libmemapi.so.1.
FUZZ_CC    ?= clang
FUZZ_TIME  ?= 60
FUZZ_DIR   := $(BUILD)/tests/fuzz
FUZZ_BIN   := $(FUZZ_DIR)/fuzz_core
FUZZ_FLAGS := -std=c11 -D_GNU_SOURCE -g -O1 $(WARN) $(INCLUDES) -Iinspect $(INSPECT_CFLAGS) \
              -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
.PHONY: fuzz
$(FUZZ_BIN): tests/fuzz/fuzz_core.c $(INSPECT_SRC) $(wildcard inspect/*.h) $(HEADERS)
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ tests/fuzz/fuzz_core.c $(INSPECT_SRC) $(INSPECT_LIBS)

fuzz: $(FUZZ_BIN) $(LIB_SO)
	@mkdir -p $(FUZZ_DIR)/corpus $(FUZZ_DIR)/artifacts
	$(Q)python3 tests/cli/corrupt.py synth $(FUZZ_DIR)/corpus --symbols $(LIB_SO) >/dev/null
	$(FUZZ_BIN) -max_total_time=$(FUZZ_TIME) -timeout=10 -print_final_stats=1 \
	  -artifact_prefix=$(FUZZ_DIR)/artifacts/ $(FUZZ_DIR)/corpus tests/fixtures/corpus

bench: $(BENCH_BIN)
	@for b in $(BENCH_BIN); do $$b || exit 1; done

install: all
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)/memapi \
	  $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(BINDIR) \
	  $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man7
	install -m 755 $(LIB_SO) $(DESTDIR)$(LIBDIR)/
	ln -sf libmemapi.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libmemapi.so
	install -m 644 $(LIB_A) $(DESTDIR)$(LIBDIR)/
	install -m 644 $(HEADERS) $(DESTDIR)$(INCLUDEDIR)/memapi/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	    core/memapi.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/memapi.pc
	install -m 755 $(MEMTOOL) $(DESTDIR)$(BINDIR)/
	install -d $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 644 cli/completion/memtool.bash \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions/memtool
	for s in 1 3 7; do \
	  f=$$(ls man/man$$s/* 2>/dev/null); \
	  [ -z "$$f" ] || install -m 644 $$f $(DESTDIR)$(MANDIR)/man$$s/; \
	done

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libmemapi.* $(DESTDIR)$(LIBDIR)/pkgconfig/memapi.pc \
	  $(DESTDIR)$(BINDIR)/memtool $(DESTDIR)$(PREFIX)/share/bash-completion/completions/memtool
	rm -rf $(DESTDIR)$(INCLUDEDIR)/memapi

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
