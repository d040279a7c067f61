# agc: build, test, regenerate.  `make help` lists the targets.
CC      ?= cc
CFLAGS  ?= -O2 -g
WFLAGS  = -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -pedantic
CPPFLAGS += -Icompiler -Iruntime
LDLIBS  = -lyaml -ltcc -ldl -lm

COMPILER = $(filter-out compiler/main.c,$(wildcard compiler/*.c))
RUNTIME  = $(wildcard runtime/*.c)
BUILD   ?= build
OBJS     = $(patsubst %.c,$(BUILD)/%.o,$(COMPILER) $(RUNTIME))

all: agc

help:
	@echo "make run              build agc and run specs/autograd.yaml"
	@echo "make test             build and run every test"
	@echo "make test-san         the tests under ASan and UBSan"
	@echo "make generated        regenerate generated/ from specs/"
	@echo "make check-generated  fail when generated/ is stale"
	@echo "make check-cc         compile generated code with gcc, clang, tcc"
	@echo "make bench            agc against PyTorch, tcc and naive loops"
	@echo "make graphs           SVGs and PNGs of the example specs' graphs (graphviz)"
	@echo "make install          agc, its man page and agc.cmake into PREFIX (/usr/local)"
	@echo "make uninstall        remove what make install put there"
	@echo "make fuzz             libFuzzer campaign (FUZZ_TIME=3600 FUZZ_JOBS=1)"
	@echo "make fuzz-smoke       60 s of fuzzing under ASan and UBSan"
	@echo "make difftest N=500   random specs against PyTorch"

# Debian packages: installed when missing if we are root, else named.
DEPS = libyaml-dev libtcc-dev tcc libcmocka-dev
TEST_DEPS = clang g++ cmake man-db gcc-arm-none-eabi libnewlib-arm-none-eabi
deps:
	@missing=$$(for p in $(DEPS) $(if $(filter test%,$(MAKECMDGOALS)),$(TEST_DEPS)); do \
	  dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing $$missing"; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	  else \
	    echo "agc needs these Debian packages:" $$missing; \
	    echo "install them with: sudo apt-get install" $$missing; exit 1; \
	  fi; \
	fi

# builds agc and runs the seed's autograd example
run: agc
	./agc run specs/autograd.yaml

agc: $(BUILD)/agc
	cp $< $@

$(BUILD)/agc: $(BUILD)/compiler/main.o $(OBJS)
	$(CC) $(WFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: %.c compiler/agc.h compiler/ops.def $(wildcard runtime/*.h) | deps
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WFLAGS) $(CFLAGS) -c -o $@ $<

clean:
	rm -rf build build-san build-fuzz agc bench/build

.PHONY: all clean deps run help

# ---- tests ----
TESTS = $(patsubst tests/%.c,$(BUILD)/tests/%,$(filter-out tests/harness.c,$(wildcard tests/test_*.c)))
TEST_LIBS = -lcmocka $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(BUILD)/tests/harness.o $(OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests $(WFLAGS) $(CFLAGS) -o $@ $^ $(TEST_LIBS)

$(BUILD)/tests/harness.o: tests/harness.c tests/harness.h compiler/agc.h compiler/ops.def
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests $(WFLAGS) $(CFLAGS) -c -o $@ $<

test: agc $(TESTS)
	@set -e; for t in $(TESTS); do echo "== $$t"; $$t; done
	@sh tests/cli.sh ./agc
	@sh tests/install.sh
	@$(MAKE) -s check-cc
	@$(MAKE) -s check-cxx
	@XDG_CACHE_HOME=$(BUILD)/cache AGC_GOLDEN_BACKEND=cc \
	  AGC_GOLDEN_ONLY=matmul,linear,mlp,softmax,gemm,seed,wino $(BUILD)/tests/test_golden
	@sh tests/mathf.sh ./agc
	@sh tests/omp.sh ./agc
	@sh tests/embedded.sh ./agc
	@$(MAKE) -s -C examples/train_cnn clean
	@$(MAKE) -s -C examples/train_cnn run
	@$(MAKE) -s -C examples/digits clean
	@$(MAKE) -s -C examples/digits run

# ---- generated/: the committed output of agc compile for specs/*.yaml ----
SPECS = $(wildcard specs/*.yaml)

generated: agc
	@set -e; for s in $(SPECS); do ./agc compile $$s -o generated; done
	@echo "generated/ updated from $(words $(SPECS)) specs"

# (into a directory beside generated/: the files name their spec relative
# to the directory they are in)
check-generated: agc
	@set -e; t=$$(mktemp -d .generated.XXXXXX); trap 'rm -rf $$t' EXIT; \
	for s in $(SPECS); do ./agc compile $$s -o $$t; done; \
	if diff -r $$t generated >/dev/null; then echo "generated/ is up to date"; \
	else diff -r $$t generated | head -20; echo "generated/ is stale: run make generated"; exit 1; fi

# every generated file, and the code of every golden spec, compiles
# warning-free with gcc, clang and tcc
GEN_CFLAGS = -std=c99 -Wall -Wextra -pedantic -Werror -c -o /dev/null
check-cc: agc
	@set -e; t=$$(mktemp -d); trap 'rm -rf $$t' EXIT; \
	for s in tests/golden/*/*/spec.yaml; do ./agc compile $$s -o $$t; done; \
	ls generated/*.c $$t/*.c | xargs -P 2 -n 16 sh -c 'for c; do \
	  gcc $(GEN_CFLAGS) -O2 $$c && \
	  clang $(GEN_CFLAGS) -O2 -march=native $$c && \
	  tcc -Wall -Werror -c -o /dev/null $$c || exit 255; done' sh; \
	echo "check-cc: $$(ls generated/*.c $$t/*.c | wc -l) generated files" \
	  "compile without warnings under gcc, clang and tcc"

# a C++17 program compiles and links against a generated model's header
check-cxx: agc
	@set -e; t=$$(mktemp -d); trap 'rm -rf $$t' EXIT; \
	./agc compile specs/cnn1d.yaml -o $$t; \
	$(CC) -std=c99 -O2 -c -o $$t/cnn1d.o $$t/cnn1d.c; \
	g++ -std=c++17 -Wall -Wextra -pedantic -Werror -I$$t -o $$t/consumer \
	  tests/cxx_consumer.cpp $$t/cnn1d.o -lm; \
	$$t/consumer

# the same tests built with AddressSanitizer and UndefinedBehaviorSanitizer
# the same tests built with AddressSanitizer and UndefinedBehaviorSanitizer;
# clang, because gcc's pointer-overflow check misses NULL + 0
SAN_CC ?= clang
SAN_FLAGS = -fsanitize=address,undefined,pointer-overflow
# (test_grad checks 20 elements a gradient there: the sanitizers watch
# agc's code, and the finite differences run the JIT's, not instrumented)
test-san:
	$(MAKE) CC=$(SAN_CC) BUILD=build-san CFLAGS="-O1 -g $(SAN_FLAGS) -fno-omit-frame-pointer -fno-sanitize-recover=all" test-bins
	@set -e; for t in $(patsubst $(BUILD)/%,build-san/%,$(TESTS)); do echo "== $$t"; \
	  ASAN_OPTIONS=detect_leaks=0 AGC_CHECK_MAX=20 $$t; done
	@ASAN_OPTIONS=detect_leaks=0 sh tests/cli.sh build-san/agc
	@$(MAKE) -s san-generated

# the C of every golden spec (and of generated/, names not taken) built with
# ASan and UBSan (-march=native: the kernels' vector paths too), and run by
# one driver: init, forward, backward
SAN_GEN = build-san/generated
SAN_GEN_CFLAGS = -O0 -g1 -march=native -fno-omit-frame-pointer \
  -fsanitize=address,undefined \
  -fsanitize=pointer-overflow -fno-sanitize-recover=all
san-generated: build-san/agc
	@set -e; rm -rf $(SAN_GEN); mkdir -p $(SAN_GEN); \
	for s in tests/golden/*/*/spec.yaml; do \
	  build-san/agc compile $$s -o $(SAN_GEN); done; \
	for c in generated/*.c; do [ -e $(SAN_GEN)/$${c#generated/} ] || \
	  cp $${c%.c}.h $$c $(SAN_GEN)/; done; \
	ls $(SAN_GEN)/*.c | xargs -P 2 -n 16 sh -c 'for c; do \
	  $(CC) $(SAN_GEN_CFLAGS) -c -o $${c%.c}.o $$c || exit 255; done' sh; \
	$(CC) $(CPPFLAGS) $(WFLAGS) $(SAN_GEN_CFLAGS) -rdynamic \
	  -o $(SAN_GEN)/run tests/run_generated.c $(SAN_GEN)/*.o -ldl -lm; \
	set --; for h in $(SAN_GEN)/*.h; do n=$$(basename $$h .h); \
	  t=$$(sed -n '/^typedef struct/,/}/s/^    \(float\|double\) .*/\1/p' $$h); \
	  case $$t in double*) set -- "$$@" $$n:f64;; \
	  *) set -- "$$@" $$n:f32;; esac; done; \
	$(SAN_GEN)/run "$$@"

test-bins: $(TESTS) $(BUILD)/agc

.PHONY: generated check-generated check-cc check-cxx test test-san test-bins \
  san-generated

# SVGs and PNGs of every example spec's forward graph (NAME.svg), its IR
# (NAME.ir.svg) and backward graph (NAME.backward.svg, when the spec has a
# backward), if graphviz is there
GRAPHS = $(BUILD)/graphs
graphs: agc
	@if ! command -v dot >/dev/null 2>&1; then \
	  echo "make graphs: skipped: graphviz's 'dot' is not installed" \
	    "(apt-get install graphviz)"; exit 0; fi; \
	set -e; mkdir -p $(GRAPHS); \
	for s in $(SPECS); do n=$$(basename $$s .yaml); \
	  ./agc graph $$s > $(GRAPHS)/$$n.dot; \
	  ./agc graph --ir $$s > $(GRAPHS)/$$n.ir.dot; \
	  if grep -q '^backward:' $$s; then \
	    ./agc graph $$s --backward > $(GRAPHS)/$$n.backward.dot; fi; \
	  done; \
	for d in $(GRAPHS)/*.dot; do \
	  dot -Tsvg -o $${d%.dot}.svg $$d; dot -Tpng -o $${d%.dot}.png $$d; done; \
	echo "make graphs: SVGs and PNGs of $(words $(SPECS)) specs in $(GRAPHS)/"

.PHONY: graphs

# ---- bench: agc's code against PyTorch, the tcc JIT and naive loops ----
# Never fails the build: what cannot be built or run is reported as n/a.
# bench/run.sh says what it measures; it prints markdown for README.md.
BENCH_CC     ?= gcc
BENCH_CFLAGS ?= -O3 -march=native
BENCH_JIT    = bench/build/bench_jit
BENCH_SRC    = bench/bench.c bench/naive.c

bench:
	@$(MAKE) --no-print-directory agc $(BENCH_JIT) || \
	  echo "bench: cannot build agc or $(BENCH_JIT); going on without"
	@BENCH_CC="$(BENCH_CC)" BENCH_CFLAGS="$(BENCH_CFLAGS)" sh bench/run.sh || true

$(BENCH_JIT): $(BENCH_SRC) bench/model_jit.c bench/bench.h $(OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Ibench $(WFLAGS) $(CFLAGS) -o $@ $(BENCH_SRC) bench/model_jit.c $(OBJS) $(LDLIBS)

.PHONY: bench

# ---- install: agc, its man page, and the CMake function agc_add_model ----
PREFIX  ?= /usr/local
INSTALLED = bin/agc share/man/man1/agc.1 share/agc/cmake/agc.cmake

install-check:
	@case '$(DESTDIR)$(PREFIX)' in *[[:space:]]*) \
	  echo "make: PREFIX and DESTDIR may not contain spaces" \
	    "(PREFIX='$(PREFIX)', DESTDIR='$(DESTDIR)')" >&2; exit 1;; esac

install: install-check agc
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/agc/cmake
	install -m 755 agc $(DESTDIR)$(PREFIX)/bin/agc
	install -m 644 share/man/man1/agc.1 $(DESTDIR)$(PREFIX)/share/man/man1/agc.1
	install -m 644 share/agc/cmake/agc.cmake $(DESTDIR)$(PREFIX)/share/agc/cmake/agc.cmake

uninstall: install-check
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/,$(INSTALLED))
	-rmdir $(DESTDIR)$(PREFIX)/share/agc/cmake $(DESTDIR)$(PREFIX)/share/agc 2>/dev/null

.PHONY: install install-check uninstall
# ---- fuzzing: tests/fuzz/fuzz.c under libFuzzer, ASan and UBSan (clang) ----
# make fuzz: a campaign of FUZZ_TIME seconds in FUZZ_JOBS processes
# (libFuzzer's -fork).  FUZZ_MODE is the harness's AGC_FUZZ_MODE: both (every
# input compiled, one small spec in four also JIT-run forward and backward),
# jit (every small one run) or compile.  FUZZ_FLAGS: more libFuzzer flags.
# The corpus grows in build-fuzz/corpus; findings (crashes, sanitizer
# reports, leaks, timeouts, "internal error") are saved in
# build-fuzz/findings and make the target fail.  Seeds: the specs of specs/
# and tests/, gathered at each run.
# make fuzz-smoke: 60 s in one process, stopping at the first finding
# (saved in build-fuzz/smoke/).
FUZZ_DEPS   = clang libclang-rt-14-dev
FUZZ_BUILD  = build-fuzz
FUZZ_TIME  ?= 3600
FUZZ_JOBS  ?= 1
FUZZ_MODE  ?= both
FUZZ_FLAGS ?=
FUZZ_CFLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link \
  -fsanitize=address,undefined,pointer-overflow -fno-sanitize-recover=all
FUZZ_BIN    = $(FUZZ_BUILD)/fuzz
FUZZ_ARGS   = -dict=tests/fuzz/agc.dict -max_len=4096 -timeout=20 \
  -rss_limit_mb=2048 -print_final_stats=1 $(FUZZ_FLAGS)
FUZZ_SEEDS  = specs/*.yaml tests/golden/*/*/spec.yaml tests/errors/*.yaml

$(BUILD)/fuzz: tests/fuzz/fuzz.c $(OBJS)
	$(CC) $(CPPFLAGS) $(WFLAGS) $(CFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

fuzz-bin:
	@$(MAKE) -s deps DEPS="$(DEPS) $(FUZZ_DEPS)"
	@$(MAKE) -s BUILD=$(FUZZ_BUILD) CC=clang CFLAGS="$(FUZZ_CFLAGS)" \
	  $(FUZZ_BIN)
	@rm -rf $(FUZZ_BUILD)/seeds; mkdir -p $(FUZZ_BUILD)/seeds \
	  $(FUZZ_BUILD)/corpus $(FUZZ_BUILD)/findings
	@for f in $(FUZZ_SEEDS); do \
	  cp $$f $(FUZZ_BUILD)/seeds/$$(echo $$f | tr / _); done

fuzz: fuzz-bin
	@echo "make fuzz: $(FUZZ_TIME) s, $(FUZZ_JOBS) job(s), mode $(FUZZ_MODE)"
	@touch $(FUZZ_BUILD)/start
	AGC_FUZZ_MODE=$(FUZZ_MODE) $(FUZZ_BIN) $(FUZZ_ARGS) \
	  -artifact_prefix=$(FUZZ_BUILD)/findings/ \
	  -fork=$(FUZZ_JOBS) -ignore_crashes=1 -ignore_timeouts=1 \
	  -ignore_ooms=1 -max_total_time=$(FUZZ_TIME) \
	  $(FUZZ_BUILD)/corpus $(FUZZ_BUILD)/seeds
	@n=$$(find $(FUZZ_BUILD)/findings -type f -newer $(FUZZ_BUILD)/start \
	  | wc -l); \
	if [ $$n -gt 0 ]; then echo "make fuzz: $$n finding(s) in" \
	  "$(FUZZ_BUILD)/findings/ (reproduce: $(FUZZ_BIN) FILE)"; exit 1; fi; \
	echo "make fuzz: no finding"

fuzz-smoke: fuzz-bin
	@rm -rf $(FUZZ_BUILD)/smoke; mkdir -p $(FUZZ_BUILD)/smoke/corpus
	AGC_FUZZ_MODE=$(FUZZ_MODE) $(FUZZ_BIN) $(FUZZ_ARGS) -max_total_time=60 \
	  -artifact_prefix=$(FUZZ_BUILD)/smoke/ \
	  $(FUZZ_BUILD)/smoke/corpus $(FUZZ_BUILD)/seeds

.PHONY: fuzz fuzz-bin fuzz-smoke

# ---- difftest: random specs against PyTorch (tests/difftest.py) ----
# make difftest N=500 SEED=1: N random cases; not part of make test, as the
# suite must pass without PyTorch (the target says so and succeeds then).
N    ?= 500
SEED ?= 1
difftest: agc
	@if /usr/bin/python3 -c 'import torch' 2>/dev/null; then \
	  /usr/bin/python3 tests/difftest.py -n $(N) --seed $(SEED) --agc ./agc; \
	else echo "make difftest: skipped: PyTorch is not installed" \
	  "(apt-get install python3-torch)"; fi

.PHONY: difftest
