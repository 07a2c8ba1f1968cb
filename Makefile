# raci — the everyday build. `make` builds bin/raci; `make check` runs every
# test and ends with "N passed, N failed"; `make demo` runs the main job.
# `make deps`, `make check` and `make demo` install missing Debian packages
# through tools/install-deps.sh (as root; otherwise it prints the command).
# A plain `make` never calls apt: on a cluster it only builds, and says what
# is missing when a library cannot be found.

CC       = mpicc
CFLAGS  ?= -O3 -g -fno-trapping-math
WARN     = -std=c11 -D_XOPEN_SOURCE=700 -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare
DEPFLAGS = -MMD -MP
PKGS     = PETSc pnetcdf openblas netcdf udunits
# recursive (=) so pkg-config runs after the dependencies are installed
CPPFLAGS = -Iinclude $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm

RACI_SHARED_DATA ?= ../shared/data
export RACI_SHARED_DATA

BUILD   = build
LIBS_OK = $(BUILD)/.libs-ok

LIB_SRC  = $(wildcard src/core/*.c src/io/*.c src/grid/*.c src/data/*.c src/sim/*.c src/model/*.c src/train/*.c src/predict/*.c src/eval/*.c src/prep/*.c)
APP_SRC  = $(filter-out src/app/main.c,$(wildcard src/app/*.c))
LIB_OBJ  = $(LIB_SRC:%.c=$(BUILD)/%.o) $(APP_SRC:%.c=$(BUILD)/%.o)
TEST_SRC = $(wildcard tests/unit/*.c)
TEST_BIN = $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)

# the Slurm job tests need slurm-wlm and munge (RACI_SKIP_SLURM=1 skips them)
DEP_GROUPS = $(if $(filter 1,$(RACI_SKIP_SLURM)),,slurm)

.PHONY: all check demo deps clean upscale
all: bin/raci

deps:
	@tools/install-deps.sh $(DEP_GROUPS)

# The libraries are there (pkg-config finds them), or one line says what to do.
$(LIBS_OK):
	@pkg-config --exists $(PKGS) || { echo "raci: pkg-config cannot find $(PKGS): run 'make deps' as root, or see INSTALL.md" >&2; exit 1; }
	@mkdir -p $(BUILD) && touch $@

# Every object depends on the headers it includes (-MMD -MP writes build/**/*.d).
$(BUILD)/%.o: %.c | $(LIBS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) $(DEPFLAGS) $(CPPFLAGS) -c $< -o $@

$(BUILD)/libraci.a: $(LIB_OBJ)
	ar rcs $@ $^

bin/raci: $(BUILD)/src/app/main.o $(BUILD)/libraci.a
	@mkdir -p bin
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libraci.a | $(LIBS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) $(DEPFLAGS) $(CPPFLAGS) -o $@ $< $(BUILD)/libraci.a $(LDLIBS)

-include $(LIB_OBJ:.o=.d) $(BUILD)/src/app/main.d $(TEST_BIN:=.d)

# install first, then build (a separate make, so pkg-config sees the packages)
check: deps
	@$(MAKE) -s --no-print-directory bin/raci $(TEST_BIN)
	@tests/run-tests.sh

# apt and compiler output go to out/demo/demo.log (tools/demo.sh --build)
demo:
	@tools/demo.sh --build

# a flux map from real gridded forcing, trained on the towers (docs/UPSCALING.md)
upscale:
	@tools/install-deps.sh
	@$(MAKE) -s --no-print-directory bin/raci
	@tools/upscale.sh

clean:
	rm -rf $(BUILD) bin
