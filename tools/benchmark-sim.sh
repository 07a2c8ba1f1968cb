#!/bin/sh
# Spatial hold-out on the embedded simulation (issue 4): RACI, its ablations
# and the baselines trained with the same budget on the same split, scored on
# whole regions never seen in training; writes docs/RESULTS.md.
# usage: tools/benchmark-sim.sh [JOBS]   (JOBS runs in parallel, default 2)
# environment: RACI_SIM_OUT (out/results), RACI_SIM_BATCH (segments per step,
#   default 64), RACI_SIM_DOC (docs/RESULTS.md; "-" prints the table instead)
set -eu
cd "$(dirname "$0")/.."
JOBS=${1:-2}
OUT=${RACI_SIM_OUT:-out/results}
BATCH=${RACI_SIM_BATCH:-64}
DOC=${RACI_SIM_DOC:-docs/RESULTS.md}
mkdir -p "$OUT"
export OPENBLAS_NUM_THREADS=1
make -s bin/raci
DATA="$OUT/simulation.nc"
# North America at 1 degree, 3 years, mild observation noise
bin/raci simulate -quiet -o "$DATA" -sim_res 1 -sim_years 3 -sim_seed 11 -sim_noise 0.1
# held out: the central US (cropland, grassland, temperate forest) and the
# northern Rockies (boreal and tundra); validation: 10 % of the other cells
SPLIT="-split_test_box -100,-88,33,45,-125,-110,50,58 -split_val_frac 0.1 -split_seed 3"
BUDGET="-train_epochs 30 -train_steps 100 -train_batch $BATCH -train_lr 1e-3 -train_patience 5 -train_seed 7"
run() { # name, options
  name=$1; shift
  bin/raci train -quiet -data "$DATA" -o "$OUT/$name.ckpt" -overwrite $SPLIT $BUDGET -train_report "$OUT/$name.json" "$@" > "$OUT/$name.log" 2>&1
  echo "done $name"
}
i=0
for spec in "raci" "raci_z32 -raci_z 32 -raci_slow_hidden 64" "raci_no_retrieval -raci_no_retrieval" "raci_no_slow -raci_no_slow" "raci_no_film -raci_no_film" \
            "lstm -model lstm" "ealstm -model ealstm" "transformer -model transformer" "tcn -model tcn"; do
  set -- $spec
  name=$1; shift
  run "$name" "$@" &
  i=$((i + 1))
  [ $((i % JOBS)) -eq 0 ] && wait
done
wait
/usr/bin/python3 tools/results_table.py "$OUT" "$DOC"
[ "$DOC" = - ] || echo "wrote $DOC"
