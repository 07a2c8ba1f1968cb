#!/bin/sh
# Multi-draw spatial hold-out on the simulation (issue 15): every model with
# one budget over simulation seeds x held-out layouts x training seeds; the
# held-out regions come from a rule and the seed (tools/bench/sim_layouts.py:
# two boxes, and a whole climate zone = regime class), never by hand. Writes
# the mean and spread per flux into docs/RESULTS.md (tools/results_table.py).
# Resumable: a run whose JSON report exists is not run again, so an
# interrupted benchmark continues where it stopped and a new model spec only
# runs its own draws.
#
# usage: tools/benchmark-sim.sh [JOBS]   (JOBS runs in parallel, default 2)
# environment (defaults in brackets):
#   RACI_SIM_OUT      [out/results-multi]   runs, logs and reports
#   RACI_SIM_SEEDS    [11 23 37]            simulation seeds
#   RACI_SIM_LAYOUTS  [boxes zone]          held-out layouts
#   RACI_TRAIN_SEEDS  [1 2 3]               training seeds
#   RACI_SIM_MODELS   [raci lstm ealstm]    names of the specs below
#   RACI_SIM_DOC      [docs/RESULTS.md]     "-" prints the tables instead
#   RACI_SIM_LATENT   [0]                   raci simulate -sim_latent (unobserved heterogeneity;
#                                           give it its own RACI_SIM_OUT)
#   RACI_BIN          [bin/raci]            the raci to run (a copy keeps a long
#                                           benchmark apart from rebuilds)
set -eu
cd "$(dirname "$0")/.."
RUN_ONE=0 # "--run SIM LAYOUT TSEED MODEL": one run of the list (each job of the pool)
[ "${1:-}" = --run ] && RUN_ONE=1
JOBS=${1:-2}
OUT=${RACI_SIM_OUT:-out/results-multi}
SIMS=${RACI_SIM_SEEDS:-11 23 37}
LAYOUTS=${RACI_SIM_LAYOUTS:-boxes zone}
TSEEDS=${RACI_TRAIN_SEEDS:-1 2 3}
MODELS=${RACI_SIM_MODELS:-raci lstm ealstm}
DOC=${RACI_SIM_DOC:-docs/RESULTS.md}
RACI=${RACI_BIN:-bin/raci}
LATENT=${RACI_SIM_LATENT:-0}
PY=/usr/bin/python3
mkdir -p "$OUT"
export OPENBLAS_NUM_THREADS=1
[ "$RUN_ONE" = 1 ] || [ -n "${RACI_BIN:-}" ] || make -s bin/raci

# The budget, fixed before the runs and the same for every model (docs/RESULTS.md):
# North America at 1 degree, 3 years, observation noise 0.1; at most 15 epochs
# of 100 AdamW steps of 64 segments (30 warm-up + 90 scored days), learning
# rate 1e-3, patience 4; validation 10 % of the cells outside the test set.
BUDGET="-train_epochs 15 -train_steps 100 -train_batch 64 -train_lr 1e-3 -train_patience 4 -split_val_frac 0.1 -split_seed 3"
spec() { # the options of a model spec
  case $1 in
    raci) echo "" ;;
    raci_no_retrieval) echo "-raci_no_retrieval" ;;
    raci_no_slow) echo "-raci_no_slow" ;;
    raci_no_film) echo "-raci_no_film" ;;
    raci_fast_static) echo "-raci_fast_static" ;;
    raci_fast_embed) echo "-raci_fast_embed" ;;
    raci_head_drivers) echo "-raci_head_drivers" ;;
    raci_clip) echo "-train_clip 1 -train_warmup_steps 100" ;;
    raci_z8) echo "-raci_z 8" ;;
    raci_z32) echo "-raci_z 32 -raci_slow_hidden 64" ;;
    raci_fast_static_h32) echo "-raci_fast_static -raci_hidden 32" ;;
    raci_fast_static_no_retrieval) echo "-raci_fast_static -raci_no_retrieval" ;;
    lstm | ealstm | transformer | tcn) echo "-model $1" ;;
    *) echo "benchmark-sim.sh: unknown model spec '$1'" >&2; exit 1 ;;
  esac
}
for m in $MODELS; do spec "$m" > /dev/null; done

run() { # sim layout tseed model
  name="s$1-$2-t$3-$4"
  # shellcheck disable=SC2046
  if "$RACI" train -data "$OUT/sim-$1.nc" -o "$OUT/$name.ckpt" -overwrite $(cat "$OUT/layout-$1-$2.txt") $BUDGET \
    -train_seed "$3" $(spec "$4") -train_report "$OUT/$name.json.tmp" > "$OUT/$name.log" 2>&1 < /dev/null; then
    mv "$OUT/$name.json.tmp" "$OUT/$name.json"
    rm -f "$OUT/$name.ckpt"
    echo "done $name"
  else
    echo "FAILED $name (see $OUT/$name.log)" >&2
  fi
}
if [ "$RUN_ONE" = 1 ]; then
  run "$2" "$3" "$4" "$5"
  exit 0
fi
for s in $SIMS; do
  [ -f "$OUT/sim-$s.nc" ] || "$RACI" simulate -quiet -o "$OUT/sim-$s.nc" -sim_res 1 -sim_years 3 -sim_seed "$s" -sim_noise 0.1 -sim_latent "$LATENT"
done

# one line per run: sim seed, layout, training seed, model
LIST="$OUT/runs-$$.txt" # one list per invocation: two may run at once
: > "$LIST"
for s in $SIMS; do
  for l in $LAYOUTS; do
    $PY tools/bench/sim_layouts.py "$OUT/sim-$s.nc" "$l" "$s" > "$OUT/layout-$s-$l.txt.$$" # renamed: runs of another invocation may read it
    mv "$OUT/layout-$s-$l.txt.$$" "$OUT/layout-$s-$l.txt"
    for t in $TSEEDS; do
      for m in $MODELS; do
        [ -f "$OUT/s$s-$l-t$t-$m.json" ] || echo "$s $l $t $m" >> "$LIST"
      done
    done
  done
done
echo "benchmark-sim: $(wc -l < "$LIST") run(s) to do in $OUT, $JOBS at a time"
# a pool of JOBS runs at a time, each one process of this script
xargs -P "$JOBS" -L 1 "$0" --run < "$LIST"
rm -f "$LIST"
$PY tools/results_table.py "$OUT" "$DOC"
[ "$DOC" = - ] || echo "wrote $DOC"
