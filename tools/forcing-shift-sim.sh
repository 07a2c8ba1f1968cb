#!/bin/sh
# The forcing shift, controlled on the simulation (docs/UPSCALING.md): the same
# simulated world written twice, once as towers record it (point weather:
# -sim_local S adds daily anomalies that differ from cell to cell) and once as a
# gridded forcing gives it (the cell's smooth weather, -sim_local 0). A model
# trained on the towers' file, with whole boxes of towers held out, predicts the
# held-out towers from their own weather and from the cell forcing; both are
# scored against the towers' fluxes, and the cell-forcing prediction also
# against the cell's own fluxes (what a map should show).
# usage: tools/forcing-shift-sim.sh [OUTDIR]   (default out/forcing-shift-sim)
# RACI_FSS_LOCAL: the -sim_local values (default "0.5 0.7 1"); RACI_FSS_SEEDS:
# simulation seeds (default "11 23"); RACI_NP ranks (2). Every setting is
# written before the runs; a run whose report exists is skipped (resumable).
set -eu
cd "$(dirname "$0")/.."
OUT=${1:-out/forcing-shift-sim}
NP=${RACI_NP:-2}
RACI=${RACI_BIN:-bin/raci}
LOCALS=${RACI_FSS_LOCAL:-0.5 0.7 1}
SEEDS=${RACI_FSS_SEEDS:-11 23}
# one budget for every run, fixed before any was made
SIM="-sim_res 1 -sim_years 3 -sim_towers 300 -sim_noise 0"
TEST_BOX=-125,-105,35,50,-95,-80,30,45
TRAIN="-train_epochs 10 -train_steps 50 -split_val_frac 0.1 -split_test_box $TEST_BOX"
export OPENBLAS_NUM_THREADS=1 OMPI_MCA_rmaps_base_oversubscribe=1
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$OUT"
LOG="$OUT/forcing-shift-sim.log"
run() { mpirun -q -n "$NP" "$RACI" "$@" >> "$LOG" 2>&1 || { tail -n 20 "$LOG" >&2; exit 1; }; }
for seed in $SEEDS; do
  D="$OUT/seed$seed"
  mkdir -p "$D"
  [ -s "$D/grid.nc" ] || run simulate $SIM -sim_seed "$seed" -sim_local 0 -o "$D/grid.nc"
  for s in $LOCALS; do
    R="$D/local$s"
    [ -s "$R/report.txt" ] && continue
    mkdir -p "$R"
    run simulate $SIM -sim_seed "$seed" -sim_local "$s" -o "$R/towers.nc"
    run train -data "$R/towers.nc" $TRAIN -o "$R/model.ckpt" -overwrite
    run predict -ckpt "$R/model.ckpt" -data "$R/towers.nc" -predict_diag_stride 0 -o "$R/pred-towers.nc"
    run predict -ckpt "$R/model.ckpt" -data "$D/grid.nc" -predict_diag_stride 0 -o "$R/pred-grid.nc"
    /usr/bin/python3 tools/forcing_shift_sim.py "$R/towers.nc" "$R/pred-towers.nc" "$D/grid.nc" "$R/pred-grid.nc" \
      "$TEST_BOX" > "$R/report.tmp"
    mv "$R/report.tmp" "$R/report.txt"
  done
done
/usr/bin/python3 tools/forcing_shift_sim.py --table "$OUT" | tee "$OUT/forcing-shift-sim.md"
