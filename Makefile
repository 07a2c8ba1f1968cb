# raci — the everyday build. `make` builds bin/raci; `make check` runs every
# test and ends with "N passed, N failed"; `make demo` runs the main job.
# Missing Debian packages are installed by tools/install-deps.sh first.

CC       = mpicc
CFLAGS  ?= -O3 -g -fno-trapping-math
WARN     = -std=c11 -D_XOPEN_SOURCE=700 -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare
PKGS     = PETSc pnetcdf openblas
# recursive (=) so pkg-config runs after the dependencies are installed
CPPFLAGS = -Iinclude $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm

RACI_SHARED_DATA ?= ../shared/data
export RACI_SHARED_DATA

BUILD = build
DEPS  = $(BUILD)/.deps-ok

LIB_SRC  = $(wildcard src/core/*.c src/io/*.c src/grid/*.c src/data/*.c src/sim/*.c src/model/*.c src/train/*.c src/predict/*.c src/eval/*.c src/prep/*.c)
APP_SRC  = $(filter-out src/app/main.c,$(wildcard src/app/*.c))
LIB_OBJ  = $(LIB_SRC:%.c=$(BUILD)/%.o) $(APP_SRC:%.c=$(BUILD)/%.o)
TEST_SRC = $(wildcard tests/unit/*.c)
TEST_BIN = $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all check demo deps slurm-deps clean
all: bin/raci

deps: $(DEPS)
$(DEPS): tools/install-deps.sh
	@tools/install-deps.sh
	@mkdir -p $(BUILD) && touch $@

$(BUILD)/%.o: %.c $(wildcard include/raci/*.h) | $(DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) $(CPPFLAGS) -c $< -o $@

$(BUILD)/libraci.a: $(LIB_OBJ)
	ar rcs $@ $^

bin/raci: $(BUILD)/src/app/main.o $(BUILD)/libraci.a
	@mkdir -p bin
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libraci.a $(wildcard include/raci/*.h tests/unit/*.h) | $(DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) $(CPPFLAGS) -o $@ $< $(BUILD)/libraci.a $(LDLIBS)

# the Slurm job tests need slurm-wlm and munge (RACI_SKIP_SLURM=1 skips them)
slurm-deps:
	@[ "$${RACI_SKIP_SLURM:-0}" = 1 ] || tools/install-deps.sh slurm

check: bin/raci $(TEST_BIN) slurm-deps
	@tests/run-tests.sh

demo: bin/raci
	@tools/demo.sh

clean:
	rm -rf $(BUILD) bin
