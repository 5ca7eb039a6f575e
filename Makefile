# emt - top-level build.  Everything goes under $(BUILD); tools in $(BUILD)/bin.
#
#   make                      build libraries, BPF objects, tools, fixtures, tests
#   make test                 build and run the whole test suite
#   make bpf-check            load every BPF program on this kernel, report its verification
#   make vmtest KERNEL=6.1    the same and a capture in a qemu guest of Debian 12's kernel
#   make SANITIZE=address,undefined test
#   make install PREFIX=/usr/local DESTDIR=
#   make V=1                  show commands
#   make WERROR=1             warnings are errors (CI sets it)
#   make VMLINUX_H=path       use a pinned vmlinux.h instead of the running kernel's BTF
#   make HAVE_CAPSTONE=0      build emt-diff without capstone (no --disasm)
#   make FUZZ=1 BUILD=build-fuzz   libFuzzer binaries (clang) in $(BUILD)/fuzz
#
# Sources are discovered by directory, so adding a file needs no Makefile edit:
#   format/*.c        -> libemtformat.a   (archive library)
#   capture/*.c       -> libemtcapture.a  (capture engines)
#   tools/cli/*.c     -> libemtcli.a      (shared by the command-line tools)
#   bpf/*.bpf.c       -> BPF objects + skeletons in $(BUILD)/bpf
#   readers/emt-*.c, tools/emt-*.c -> $(BUILD)/bin/emt-*
#   fixtures/*.c      -> $(BUILD)/fixtures/*
#   tests/unit/test_*.c -> $(BUILD)/tests/test_* (cmocka)
#   tests/fuzz/fuzz_*.c -> $(BUILD)/fuzz/fuzz_*  (corpus replay driver; libFuzzer with FUZZ=1)

BUILD    ?= build
PREFIX   ?= /usr/local
DESTDIR  ?=
CC       ?= cc
CLANG    ?= clang
BPFTOOL  ?= bpftool
VERSION  := 0.1.0

ifeq ($(V),1)
Q :=
msg =
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

WARN := -Wall -Wextra -Wshadow -Wformat=2 -Wmissing-prototypes -Wstrict-prototypes \
	-Wvla -Wno-unused-parameter
ifeq ($(WERROR),1)
WARN += -Werror
endif
ifneq ($(CI),)
WARN += -Werror
endif

CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -D_GNU_SOURCE -DEMT_VERSION='"$(VERSION)"' $(WARN) \
	-fno-strict-aliasing -I. -Iformat -Icapture -Itools/cli -I$(BUILD)/bpf -MMD -MP
ifneq ($(SANITIZE),)
CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZE)
endif

HAVE_CAPSTONE := $(shell pkg-config --exists capstone 2>/dev/null && echo 1)
ifeq ($(HAVE_CAPSTONE),1)
CFLAGS  += -DEMT_HAVE_CAPSTONE $(shell pkg-config --cflags capstone)
CAPSTONE_LIBS := $(shell pkg-config --libs capstone)
endif

LIBS := -lsqlite3 -lzstd -lcrypto -ljansson -lpthread
BPF_LIBS := -lbpf -lelf -lz

# ---------------------------------------------------------------- sources
FORMAT_SRCS  := $(sort $(wildcard format/*.c))
CAPTURE_SRCS := $(sort $(wildcard capture/*.c))
CLI_SRCS     := $(sort $(wildcard tools/cli/*.c))
BPF_SRCS     := $(sort $(wildcard bpf/*.bpf.c))
READER_SRCS  := $(sort $(wildcard readers/emt-*.c))
TOOL_SRCS    := $(sort $(wildcard tools/emt-*.c))
FIXTURE_SRCS := $(sort $(wildcard fixtures/*.c))
UNIT_SRCS    := $(sort $(wildcard tests/unit/test_*.c))
TESTLIB_SRCS := $(sort $(wildcard tests/lib/*.c))
FUZZ_SRCS    := $(sort $(wildcard tests/fuzz/fuzz_*.c))
TTOOL_SRCS   := $(sort $(wildcard tests/tools/*.c))
DEV_SRCS     := $(sort $(wildcard tools/dev/*.c))
BENCH_SRCS   := $(sort $(wildcard bench/*.c))

FORMAT_OBJS  := $(FORMAT_SRCS:%.c=$(BUILD)/obj/%.o)
CAPTURE_OBJS := $(CAPTURE_SRCS:%.c=$(BUILD)/obj/%.o)
CLI_OBJS     := $(CLI_SRCS:%.c=$(BUILD)/obj/%.o)
TESTLIB_OBJS := $(TESTLIB_SRCS:%.c=$(BUILD)/obj/%.o)
BPF_OBJS     := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.bpf.o,$(BPF_SRCS))
BPF_SKELS    := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.skel.h,$(BPF_SRCS))

LIBFORMAT  := $(BUILD)/lib/libemtformat.a
LIBCAPTURE := $(BUILD)/lib/libemtcapture.a
LIBCLI     := $(BUILD)/lib/libemtcli.a
LIBTEST    := $(BUILD)/lib/libemttest.a

READER_BINS  := $(patsubst readers/%.c,$(BUILD)/bin/%,$(READER_SRCS))
TOOL_BINS    := $(patsubst tools/%.c,$(BUILD)/bin/%,$(TOOL_SRCS))
FIXTURE_BINS := $(patsubst fixtures/%.c,$(BUILD)/fixtures/%,$(FIXTURE_SRCS))
UNIT_BINS    := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
FUZZ_BINS    := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))
TTOOL_BINS   := $(patsubst tests/tools/%.c,$(BUILD)/tests/tools/%,$(TTOOL_SRCS))
DEV_BINS     := $(patsubst tools/dev/%.c,$(BUILD)/dev/%,$(DEV_SRCS))
BENCH_BINS   := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))

.PHONY: all libs tools fixtures tests test test-run install clean fuzz bench check-deps demo \
	bpf-check vmtest
.DELETE_ON_ERROR:
# Objects are intermediate files of the binaries: keep them, or every
# build recompiles everything.
.SECONDARY:

all: libs tools fixtures tests

libs: $(LIBFORMAT) $(if $(CAPTURE_SRCS),$(LIBCAPTURE)) $(if $(CLI_SRCS),$(LIBCLI))
tools: $(READER_BINS) $(TOOL_BINS)
fixtures: $(FIXTURE_BINS)
tests: $(UNIT_BINS) $(FUZZ_BINS) $(TTOOL_BINS) $(DEV_BINS) $(BENCH_BINS)

# ---------------------------------------------------------------- BPF
# vmlinux.h comes from the running kernel's BTF unless VMLINUX_H names a
# pinned copy.  CO-RE relocations make the object portable either way.
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux
ifneq ($(VMLINUX_H),)
$(BUILD)/bpf/vmlinux.h: $(VMLINUX_H)
	$(call msg,VMLINUX,$@)
	$(Q)mkdir -p $(@D) && cp $< $@
else
$(BUILD)/bpf/vmlinux.h:
	$(call msg,VMLINUX,$@)
	$(Q)mkdir -p $(@D)
	$(Q)test -r $(VMLINUX_BTF) || { echo "make: cannot read '$(VMLINUX_BTF)': kernel BTF missing; set VMLINUX_H=path/to/vmlinux.h" >&2; exit 1; }
	$(Q)$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@
endif

BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_x86 -I$(BUILD)/bpf -Ibpf -Wall -Werror

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/*.h) $(BUILD)/bpf/vmlinux.h
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@.tmp
	$(Q)$(BPFTOOL) gen object $@ $@.tmp && rm -f $@.tmp

$(BUILD)/bpf/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

# ---------------------------------------------------------------- syscall numbers
# format/sysnr.c: the x86-64 syscall numbers of the kernel's UAPI
# header, one SYSNR(name, number) line per __NR_ macro.
$(BUILD)/gen/sysnr.h:
	$(call msg,GEN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)echo '#include <asm/unistd_64.h>' | $(CC) -dM -E -x c - | \
		sed -n 's/^#define __NR_\([a-z0-9_]*\) \([0-9][0-9]*\)$$/SYSNR(\1, \2)/p' | sort > $@.tmp
	$(Q)test -s $@.tmp && mv $@.tmp $@
$(BUILD)/obj/format/sysnr.o: $(BUILD)/gen/sysnr.h
$(BUILD)/obj/format/sysnr.o: CFLAGS += -I$(BUILD)/gen

# ---------------------------------------------------------------- C
# Objects of capture/ and tools/ may include skeletons.
$(CAPTURE_OBJS) $(patsubst %,$(BUILD)/obj/%.o,$(basename $(TOOL_SRCS))): $(BPF_SKELS)

$(BUILD)/obj/%.o: %.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

# Our own sources may not call the string functions that write without a
# bound (format/banned.h); tests and fixtures are not held to it.
OWN_OBJS := $(FORMAT_OBJS) $(CAPTURE_OBJS) $(CLI_OBJS) \
	$(patsubst %.c,$(BUILD)/obj/%.o,$(READER_SRCS) $(TOOL_SRCS) $(DEV_SRCS))
$(OWN_OBJS): CFLAGS += -include format/banned.h
$(OWN_OBJS): format/banned.h

$(LIBFORMAT): $(FORMAT_OBJS)
$(LIBCAPTURE): $(CAPTURE_OBJS)
$(LIBCLI): $(CLI_OBJS)
$(LIBTEST): $(TESTLIB_OBJS)
$(BUILD)/lib/%.a:
	$(call msg,AR,$@)
	$(Q)mkdir -p $(@D)
	$(Q)rm -f $@ && ar rcs $@ $^

READER_DEPS := $(if $(CLI_SRCS),$(LIBCLI)) $(LIBFORMAT)
$(BUILD)/bin/emt-%: $(BUILD)/obj/readers/emt-%.o $(READER_DEPS)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) $(CAPSTONE_LIBS)

# emt-scan alone links libyara: no other tool needs YARA.
YARA_CFLAGS := $(shell pkg-config --cflags yara 2>/dev/null)
YARA_LIBS := $(or $(shell pkg-config --libs yara 2>/dev/null),-lyara)
$(BUILD)/obj/readers/emt-scan.o: CFLAGS += $(YARA_CFLAGS)
$(BUILD)/bin/emt-scan: $(BUILD)/obj/readers/emt-scan.o $(READER_DEPS)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) $(YARA_LIBS)

# tools/ programs other than emt-capture need only the readers' libraries.
$(BUILD)/bin/emt-keygen: $(BUILD)/obj/tools/emt-keygen.o $(READER_DEPS)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# emt-learn: the format library (models) and the readers' helpers.
$(BUILD)/bin/emt-learn: $(BUILD)/obj/tools/emt-learn.o $(READER_DEPS)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

CAPTURE_DEPS := $(if $(CAPTURE_SRCS),$(LIBCAPTURE)) $(if $(CLI_SRCS),$(LIBCLI)) $(LIBFORMAT)
$(BUILD)/bin/emt-capture: $(BUILD)/obj/tools/emt-capture.o $(CAPTURE_DEPS)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(BPF_LIBS) $(LIBS)

# Fixtures are target programs: plain, static-free, no sanitizer (they must
# behave like ordinary code generators), but linked with libcrypto to print
# their ground truth.
FIXTURE_CFLAGS := -O1 -g -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter
ifneq ($(CI),)
FIXTURE_CFLAGS += -Werror
endif
$(BUILD)/fixtures/%: fixtures/%.c $(wildcard fixtures/*.h)
	$(call msg,FIXTURE,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(FIXTURE_CFLAGS) -o $@ $< -lcrypto -lpthread

TEST_DEPS := $(if $(TESTLIB_SRCS),$(LIBTEST)) $(if $(CAPTURE_SRCS),$(LIBCAPTURE)) \
	$(if $(CLI_SRCS),$(LIBCLI)) $(LIBFORMAT)
$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(TEST_DEPS)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ -lcmocka $(BPF_LIBS) $(LIBS) $(CAPSTONE_LIBS)

# Test helper programs (tests/tools), developer programs (tools/dev, e.g. the
# fixture-archive generator) and benchmarks (bench/*.c) link every library
# but are never installed.
$(BUILD)/tests/tools/%: $(BUILD)/obj/tests/tools/%.o $(TEST_DEPS)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(BPF_LIBS) $(LIBS) $(CAPSTONE_LIBS)
$(BUILD)/dev/%: $(BUILD)/obj/tools/dev/%.o $(TEST_DEPS)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(BPF_LIBS) $(LIBS) $(CAPSTONE_LIBS)
$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(TEST_DEPS)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(BPF_LIBS) $(LIBS) $(CAPSTONE_LIBS)

# Fuzz targets: by default linked with tests/fuzz/regression_driver.c, which
# replays a corpus directory (run by `make test`).  FUZZ=1 builds real
# libFuzzer binaries with clang.
ifeq ($(FUZZ),1)
# The targets #include the reader tool they drive: a change of it must
# rebuild them too, but it is not compiled on its own.
$(BUILD)/fuzz/%: tests/fuzz/%.c $(FORMAT_SRCS) $(CLI_SRCS) $(READER_SRCS) $(wildcard tests/fuzz/*.h) \
		$(BUILD)/gen/sysnr.h
	$(call msg,FUZZ,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) -O1 -g -std=gnu11 -D_GNU_SOURCE -I. -Iformat -Itools/cli -I$(BUILD)/gen \
		-DEMT_VERSION='"$(VERSION)"' \
		-fsanitize=fuzzer,address,undefined -o $@ $(filter %.c,$(filter-out $(READER_SRCS),$^)) \
		$(LIBS) $(CAPSTONE_LIBS)
else
$(BUILD)/fuzz/%: $(BUILD)/obj/tests/fuzz/%.o $(BUILD)/obj/tests/fuzz/regression_driver.o $(READER_DEPS)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) $(CAPSTONE_LIBS)
endif

# ---------------------------------------------------------------- test
# `make test` first installs missing packages, then re-enters make so that
# package probes (pkg-config) see what was just installed.
test: check-deps
	$(Q)$(MAKE) --no-print-directory test-run

# run-tests.sh runs bpf-check first.
test-run: all
	$(Q)BUILD=$(BUILD) sh tests/run-tests.sh $(TESTS)

# Loads every BPF program in every hook set and configuration on the
# running kernel: instructions, combined stack (budget 384 of 512) and
# verification time per program.
bpf-check: all
	$(Q)$(BUILD)/dev/bpf-check

# bpf-check and a capture of fx_wx compared with its ground truth, in a
# qemu guest of Debian 12's stock kernel (6.1) and on the running one.
KERNEL ?= 6.1 running
vmtest: all
	$(Q)BUILD=$(BUILD) sh tools/dev/vmtest.sh $(KERNEL)

check-deps:
	$(Q)sh tools/install-deps.sh

# Quick start: install packages, build, capture a fixture, list the archive.
DEMO_ARCHIVE ?= $(BUILD)/demo.emt
demo: check-deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)rm -f $(DEMO_ARCHIVE)
	$(BUILD)/bin/emt-capture -o $(DEMO_ARCHIVE) -- $(BUILD)/fixtures/fx_wx
	$(BUILD)/bin/emt-ls $(DEMO_ARCHIVE)

bench: all
	$(Q)BUILD=$(BUILD) sh bench/run-all.sh

MANS := $(sort $(wildcard man/*.1))
install: tools
	$(call msg,INSTALL,$(DESTDIR)$(PREFIX))
	$(Q)install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	$(Q)install -m 0755 $(READER_BINS) $(TOOL_BINS) $(DESTDIR)$(PREFIX)/bin/
	$(Q)$(if $(MANS),install -m 0644 $(MANS) $(DESTDIR)$(PREFIX)/share/man/man1/)

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
