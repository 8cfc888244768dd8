# cfsroot: build, test, fuzz and benchmark. `make help` lists the targets.
# Sources are picked up by pattern: src/lib/*.c is the internal library, src/<prog>.c each
# program, tests/unit/test-*.c the unit tests, tests/fuzz/fuzz-*.c the libFuzzer targets.

CACHE   ?= .cache
B       ?= build
CC      ?= gcc
VERSION := 0.1

SETUP_STAMP := $(CACHE)/setup.stamp
KMOD_DIR    := $(CACHE)/kmod-v2
# Decoder-only liblzma, for the static cfsroot only (tools/setup-deps.sh).
LZMA_DEC    := $(CACHE)/xz-dec/lib/liblzma.a

WARN    := -Wall -Wextra -Wshadow -Wno-unused-parameter -Wmissing-prototypes -Wstrict-prototypes -Wformat=2 -Wvla
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 $(WARN) -D_GNU_SOURCE -DCFS_VERSION=\"$(VERSION)\" -Isrc/lib -I$(KMOD_DIR)/include \
           -ffunction-sections -fdata-sections -fno-strict-aliasing -fstack-protector-strong
ifneq ($(WERROR),0)
CFLAGS  += -Werror
endif
ifeq ($(SANITIZE),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
endif

# The libostree-dependent sources (glib) go only into mkcfs and cfs-info, never into the
# static cfsroot, the fuzzers or the guest's static mkcfs (tests/qemu/qemu-lib.sh).
OSTREE_SRCS := $(wildcard src/lib/ostree-*.c)
OSTREE_OBJS := $(OSTREE_SRCS:src/lib/%.c=$(B)/lib/%.o)
OSTREE_CFLAGS = $(shell pkg-config --cflags ostree-1)
OSTREE_LIBS   = $(shell pkg-config --libs ostree-1)
LIB_SRCS  := $(sort $(filter-out $(OSTREE_SRCS),$(wildcard src/lib/*.c)))
LIB_OBJS  := $(LIB_SRCS:src/lib/%.c=$(B)/lib/%.o)
LIB_HDRS  := $(wildcard src/lib/*.h src/lib/uapi/*.h)
PROGS     := $(filter-out cfsroot,$(notdir $(basename $(wildcard src/*.c))))
UNIT_SRCS := $(sort $(wildcard tests/unit/test-*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(B)/tests/%)
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz-*.c))
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(B)/fuzz/%)

DYN_LIBS    := -lcrypto -lblkid $(KMOD_DIR)/lib/libkmod.a -llzma -lz
STATIC_LIBS := $(KMOD_DIR)/lib/libkmod.a -lblkid $(if $(filter 1,$(CFSROOT_CRYPTO)),-lcrypto) $(LZMA_DEC) -pthread -ldl

# cfsroot links only the library files the boot needs: at boot the kernel measures, cfsroot
# hashes nothing, so the image/store code and the user-space digest (verity.c, libcrypto) stay
# out. CFSROOT_CRYPTO=1 compiles the digest and libcrypto in (for a signed-image mode).
# Library files that need what the initramfs lacks (libostree, ...) go on this list too.
CFSROOT_EXCLUDE := dump erofs-reader erofs-writer scan store tree $(if $(filter 1,$(CFSROOT_CRYPTO)),,verity)
CFSROOT_SRCS    := $(filter-out $(CFSROOT_EXCLUDE:%=src/lib/%.c),$(LIB_SRCS))

.PHONY: all setup check check-unit check-host check-qemu fuzz fuzz-build bench demo clean help asan analyze man install
.DEFAULT_GOAL := all

all: $(SETUP_STAMP) $(addprefix $(B)/,$(PROGS)) $(if $(wildcard src/cfsroot.c),$(B)/cfsroot)

help:
	@echo "make            build the programs into $(B)/ (runs the setup step when needed)"
	@echo "make setup      install build/test packages, add apt entries, build static libkmod and liblzma"
	@echo "make check      every test: unit (plain and ASan+UBSan), host, fuzz smoke, QEMU boots"
	@echo "make check-unit | check-host | check-qemu   one part of it"
	@echo "make fuzz       run every fuzzer for FUZZ_SECONDS (default 300) each"
	@echo "make bench      the benchmarks (mkcfs throughput, boot timings and sizes)"
	@echo "make demo       build a demo OS image and boot it verified under QEMU"
	@echo "make asan       the developer build with -Werror and ASan+UBSan into build-asan/"
	@echo "make analyze    static analysis of src/: clang --analyze and gcc -fanalyzer, warnings fail"
	@echo "make man        the manual pages (scdoc) into $(B)/man/"
	@echo "make install    programs, manual pages and the dracut module into DESTDIR/PREFIX (default /usr/local)"
	@echo "make clean      remove build output (the cache $(CACHE)/ is kept)"

setup $(SETUP_STAMP): tools/setup-deps.sh
	@tools/setup-deps.sh $(CACHE)

$(B)/lib/%.o: src/lib/%.c $(LIB_HDRS) $(SETUP_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(B)/libcfs.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(OSTREE_OBJS): CFLAGS += $(OSTREE_CFLAGS)

$(B)/libcfs-ostree.a: $(OSTREE_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(B)/%: src/%.c $(B)/libcfs.a $(B)/libcfs-ostree.a $(LIB_HDRS)
	$(CC) $(CFLAGS) -DCFS_HAVE_OSTREE $< -o $@ $(LDFLAGS) $(B)/libcfs-ostree.a $(B)/libcfs.a $(DYN_LIBS) $(OSTREE_LIBS)

# The initramfs binary: fully static, size-optimised, within its 1.2 MB budget
# (tests/bench/bench-size.sh). No unwind tables (C without exceptions, nothing unwinds; the
# static libkmod is built without them too), and a decoder-only liblzma. The read-only data
# stays in its own non-executable segment (the linker's default -z separate-code).
$(B)/cfsroot: src/cfsroot.c $(CFSROOT_SRCS) $(LIB_HDRS) $(SETUP_STAMP)
	@mkdir -p $(B)/static
	$(CC) $(filter-out -O2 -g -fsanitize=%,$(CFLAGS)) -Os -fno-asynchronous-unwind-tables -static \
		-Wl,--gc-sections -s \
		src/cfsroot.c $(CFSROOT_SRCS) -o $@ $(STATIC_LIBS)
	@if readelf -d $@ | grep -q NEEDED; then echo "$@ is not static" >&2; rm -f $@; exit 1; fi

# Fault injection (tests/host/faults.sh): the same cfsroot sources linked dynamically, so an
# LD_PRELOAD shim (tests/faults/shim.c) can fail its system calls one at a time.
$(B)/faults/cfsroot: src/cfsroot.c $(CFSROOT_SRCS) $(LIB_HDRS) $(SETUP_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -fsanitize=%,$(CFLAGS)) src/cfsroot.c $(CFSROOT_SRCS) -o $@ \
		$(KMOD_DIR)/lib/libkmod.a -lblkid $(if $(filter 1,$(CFSROOT_CRYPTO)),-lcrypto) -llzma -lz
$(B)/faults/shim.so: tests/faults/shim.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -Wall -Wextra -fPIC -shared -D_GNU_SOURCE $< -o $@ -ldl

# The /run/ostree-booted writer is checked against GLib's own GVariant (tests only).
$(B)/tests/test-booted-record: CFLAGS += $(shell pkg-config --cflags glib-2.0)
$(B)/tests/test-booted-record: LDFLAGS += $(shell pkg-config --libs glib-2.0)

$(B)/tests/%: tests/unit/%.c $(B)/libcfs.a $(LIB_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit $< -o $@ $(LDFLAGS) $(B)/libcfs.a $(DYN_LIBS)

# The ostree reader's test links libostree, as mkcfs does.
$(B)/tests/test-ostree: tests/unit/test-ostree.c $(B)/libcfs-ostree.a $(B)/libcfs.a $(LIB_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(OSTREE_CFLAGS) -Itests/unit $< -o $@ $(LDFLAGS) $(B)/libcfs-ostree.a $(B)/libcfs.a $(DYN_LIBS) $(OSTREE_LIBS)

# libFuzzer targets are built with clang from the library sources.
FUZZ_CFLAGS := -std=gnu11 -g -O1 -D_GNU_SOURCE -DCFS_VERSION=\"$(VERSION)\" -Isrc/lib -I$(KMOD_DIR)/include \
               -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
$(B)/fuzz/%: tests/fuzz/%.c $(LIB_SRCS) $(LIB_HDRS) $(SETUP_STAMP)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) $< $(LIB_SRCS) -o $@ $(DYN_LIBS)

fuzz-build: $(FUZZ_BINS)

FUZZ_SECONDS ?= 300
fuzz: $(FUZZ_BINS)
	@for f in $(FUZZ_BINS); do n=$$(basename $$f); mkdir -p $(CACHE)/corpus/$$n; \
		echo "== $$n ($(FUZZ_SECONDS)s)"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=$(B)/fuzz/$$n- $(CACHE)/corpus/$$n tests/fuzz/corpus/$$n || exit 1; done

asan:
	$(MAKE) B=build-asan SANITIZE=1 WERROR=1 $(addprefix build-asan/,$(PROGS)) $(UNIT_SRCS:tests/unit/%.c=build-asan/tests/%)

check: all $(UNIT_BINS) asan $(FUZZ_BINS) analyze
	@B=$(B) CACHE=$(CACHE) tests/run-all.sh

# Static analysis over src/: any finding fails. Both analyzers, because each misses what the
# other sees. clang 14's analyzer does not model __attribute__((cleanup)), so it reads every
# _cleanup_ variable as a leak: its malloc checker is off, and gcc -fanalyzer (which sees the
# cleanups as calls) covers leaks, double frees and use after free. Dead stores are a style
# matter here (an error code set before a failure path), not a defect class: off too.
# False positives of gcc, per file, each with its reason:
#  cmdline.c: cfsroot_config_check() hands the strdup()ed default basedir to c->basedirs
#    (freed by cfsroot_config_done()); gcc 12 loses it at the later *ret_unverified store.
#  kmod.c: cfs_kmod_load() leaves its key in the tsearch() tree (tdestroy() frees it);
#    gcc does not know that tsearch() keeps the pointer.
#  ostree-commit.c: job->error_msg (freed for every job by reader_done()) is stored through
#    batch[k], a job pointer read at a symbolic index of worker_main()'s local array, and
#    w->buf through p->workers[i] in a loop (freed by pool_free(), the caller's cleanup):
#    gcc 12 keeps no value stored at a symbolic index (the next such store replaces it, a
#    read gives an unknown pointer whose stores are dropped), so each reads as a leak.
#    The error paths run leak-checked under ASan in test-ostree (corrupt, missing objects).
ANALYZE_SRCS  := $(sort $(wildcard src/*.c src/lib/*.c))
ANALYZE_FLAGS := -std=gnu11 -D_GNU_SOURCE -DCFS_VERSION=\"$(VERSION)\" -Isrc/lib -I$(KMOD_DIR)/include
ANALYZE_GCC_cmdline := -Wno-analyzer-malloc-leak
ANALYZE_GCC_kmod    := -Wno-analyzer-malloc-leak
ANALYZE_GCC_ostree-commit := -Wno-analyzer-malloc-leak
# The libostree side (mkcfs, cfs-info and src/lib/ostree-*.c) is analysed as it is built.
$(foreach f,mkcfs cfs-info $(basename $(notdir $(OSTREE_SRCS))),$(eval ANALYZE_EXTRA_$(f) = $$(OSTREE_CFLAGS) -DCFS_HAVE_OSTREE))
analyze: $(SETUP_STAMP)
	@fail=0; $(foreach f,$(ANALYZE_SRCS), \
		clang --analyze $(ANALYZE_FLAGS) $(ANALYZE_EXTRA_$(basename $(notdir $(f)))) -Xanalyzer -analyzer-disable-checker=unix.Malloc,deadcode.DeadStores \
			-Xanalyzer -analyzer-werror -o /dev/null $(f) || fail=1; \
		$(CC) -fanalyzer -Werror $(ANALYZE_FLAGS) $(ANALYZE_EXTRA_$(basename $(notdir $(f)))) $(ANALYZE_GCC_$(basename $(notdir $(f)))) -c -o /dev/null $(f) || fail=1;) \
	if [ $$fail = 0 ]; then echo "analyze: clang --analyze and gcc -fanalyzer clean over $(words $(ANALYZE_SRCS)) files"; \
	else echo "analyze: findings above" >&2; exit 1; fi

check-unit: all $(UNIT_BINS) asan
	@B=$(B) CACHE=$(CACHE) tests/run-all.sh unit

check-host: all
	@B=$(B) CACHE=$(CACHE) tests/run-all.sh host

check-qemu: all
	@B=$(B) CACHE=$(CACHE) tests/run-all.sh qemu

bench: all
	@for s in tests/bench/*.sh; do B=$(B) CACHE=$(CACHE) bash $$s || exit 1; done

demo: all
	@B=$(B) CACHE=$(CACHE) tests/qemu/demo.sh

# Manual pages from scdoc sources (man/NAME.SECTION.scd).
MAN_SRCS  := $(sort $(wildcard man/*.scd))
MAN_PAGES := $(MAN_SRCS:man/%.scd=$(B)/man/%)
$(B)/man/%: man/%.scd
	@mkdir -p $(dir $@)
	scdoc < $< > $@.tmp && mv $@.tmp $@
man: $(MAN_PAGES)

# cfsroot boots the system: sbin. dracut finds modules in <prefix>/lib/dracut/modules.d, so
# with the default /usr/local prefix either PREFIX=/usr or DRACUTDIR= must point there.
PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
SBINDIR   ?= $(PREFIX)/sbin
MANDIR    ?= $(PREFIX)/share/man
DRACUTDIR ?= $(PREFIX)/lib/dracut/modules.d
install: all man
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(DRACUTDIR)/90cfsroot
	install -m 0755 $(B)/cfsroot $(DESTDIR)$(SBINDIR)/cfsroot
	install -m 0755 $(B)/mkcfs $(B)/cfs-info $(DESTDIR)$(BINDIR)/
	install -m 0755 kernel-cmdline/cfsroot-uki $(DESTDIR)$(BINDIR)/cfsroot-uki
	install -m 0644 $(filter %.1,$(MAN_PAGES)) $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 $(filter %.8,$(MAN_PAGES)) $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 modules.d/90cfsroot/cfsroot-prepare.service $(DESTDIR)$(DRACUTDIR)/90cfsroot/
	install -m 0755 modules.d/90cfsroot/*.sh $(DESTDIR)$(DRACUTDIR)/90cfsroot/
	sed -i 's|@SBINDIR@|$(SBINDIR)|' $(DESTDIR)$(DRACUTDIR)/90cfsroot/module-setup.sh

# ostree's test deployments are sealed immutable (chattr +i): unseal before removing.
clean:
	-find $(B) build-asan -type d -exec chattr -i {} + 2>/dev/null
	rm -rf $(B) build-asan
