#!/bin/sh
# Benchmark of the segment form (issue 14; not a test, `make check` never
# runs it). Side by side in one run on this machine:
#  1. prediction: a 0.25-degree North American year (47,440 land cells x 365
#     days) predicted by a trained default RACI on 2 ranks, every flux and the
#     diagnostics: wall time, cell-days/s per rank, GFLOP/s of the model's
#     phases (-log_view events) next to the sgemm peak measured in the same
#     run (tools/bench/sgemm_peak.c), and the write rate next to a plain
#     PnetCDF write of the same bytes (tools/bench/pnetcdf_write.c); then the
#     same prediction on 1 rank for the parallel efficiency;
#  2. training: scored cell-days per second per core for RACI and every
#     baseline, next to the windowed form (a git worktree of the last commit
#     before the segment form, built here) on the same data and next to the
#     PyTorch reference of the segment form on one thread
#     (tools/reference/bench_torch.py); RACI's share of the sgemm peak over the
#     whole training step; training on 1 and 2 ranks for the efficiency.
# Prints markdown tables (docs/PERFORMANCE.md has the figures it produced).
#
# usage: tools/bench-segment.sh [RES_DEG] [STEPS]   (default 0.25 100)
# environment: RACI_BENCH_DIR (out/bench-segment), RACI_WINDOWED_COMMIT
#   (1f7f9b4, the windowed form), RACI_BENCH_TORCH (1: run PyTorch; 0: skip)
set -eu
cd "$(dirname "$0")/.."
RES=${1:-0.25}
STEPS=${2:-100}
DIR=${RACI_BENCH_DIR:-out/bench-segment}
OLD=${RACI_WINDOWED_COMMIT:-1f7f9b4}
TORCH=${RACI_BENCH_TORCH:-1}
PY=/usr/bin/python3
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 OMPI_MCA_rmaps_base_oversubscribe=1
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$DIR"
make -s bin/raci
run() { np=$1; shift; if [ "$np" -eq 1 ]; then bin/raci "$@"; else mpirun -q -n "$np" bin/raci "$@"; fi; }
now() { date +%s.%N; }
CFL="$(pkg-config --cflags pnetcdf openblas) -O2"
mpicc $CFL -o "$DIR/sgemm_peak" tools/bench/sgemm_peak.c $(pkg-config --libs openblas)
mpicc $CFL -o "$DIR/pnetcdf_write" tools/bench/pnetcdf_write.c $(pkg-config --libs pnetcdf)

# the windowed form, built once in a worktree
WT="$DIR/windowed"
if [ ! -x "$WT/bin/raci" ]; then
  [ -d "$WT" ] || git worktree add -f "$WT" "$OLD" > /dev/null
  make -s -C "$WT" bin/raci > "$DIR/windowed-build.log" 2>&1
fi

echo "raci $(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo +changes) on $(getconf _NPROCESSORS_ONLN) cores, $(date -u '+%Y-%m-%d %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)"
"$DIR/sgemm_peak" 1 | tee "$DIR/sgemm.txt"

# ---------------------------------------------------------------- prediction
REUSE=${RACI_BENCH_REUSE:-0} # 1: keep the simulation, model, predictions and training runs of an earlier run in DIR (delete a run's .time or .json file to redo it)
[ "$REUSE" = 1 ] && [ -f "$DIR/raci.ckpt" ] || {
run 2 simulate -quiet -o "$DIR/sim.nc" -sim_res "$RES" -sim_years 1 -sim_seed 3
run 2 train -quiet -data "$DIR/sim.nc" -o "$DIR/raci.ckpt" -overwrite -train_epochs 1 -train_steps 50 \
  -split_val_frac 0.02 -split_test_box -100,-88,33,45 > /dev/null
}
# the target run (2 ranks, every flux and the diagnostics), then both rank
# counts without the role-share occlusion for the parallel efficiency
for case in "2 10" "2 0" "1 0"; do
  set -- $case
  [ "$REUSE" = 1 ] && [ -f "$DIR/predict$1-$2.time" ] && continue
  rm -f "$DIR/pred$1-$2.nc"
  t0=$(now)
  run "$1" predict -ckpt "$DIR/raci.ckpt" -data "$DIR/sim.nc" -o "$DIR/pred$1-$2.nc" -predict_diag_stride "$2" -log_view > "$DIR/predict$1-$2.log"
  t1=$(now)
  echo "$t0 $t1" > "$DIR/predict$1-$2.time"
done
"$PY" - "$DIR/sim.nc" > "$DIR/dims.txt" <<'EOF'
import sys, netCDF4
print(*netCDF4.Dataset(sys.argv[1])["GPP"].shape)
EOF
read NT NY NX < "$DIR/dims.txt"
NV=$("$PY" -c "
import netCDF4; d = netCDF4.Dataset('$DIR/pred2-10.nc')
print(sum(1 for v in d.variables.values() if v.dimensions[:1] == ('time',) and len(v.dimensions) == 3))")
rm -f "$DIR/plain.nc"
mpirun -q -n 2 "$DIR/pnetcdf_write" "$DIR/plain.nc" "$NV" "$NT" "$NY" "$NX" > "$DIR/plain.txt"
rm -f "$DIR/plain.nc"
mpirun -q -n 2 "$DIR/pnetcdf_write" "$DIR/plain.nc" "$NV" "$NT" "$NY" "$NX" sync >> "$DIR/plain.txt"
rm -f "$DIR/plain.nc"

# ------------------------------------------------------------------ training
TR="-data $DIR/sim.nc -overwrite -train_epochs 1 -train_steps $STEPS -train_val_stride 1000 -split_val_frac 0.02 -split_test_box -100,-88,33,45"
for m in raci lstm ealstm transformer tcn; do
  [ "$REUSE" = 1 ] && [ -f "$DIR/t-$m.json" ] && continue
  bin/raci train -quiet $TR -model "$m" -o "$DIR/t-$m.ckpt" -train_report "$DIR/t-$m.json" -log_view > "$DIR/t-$m.log"
  case $m in tcn) ;; *)
    "$WT/bin/raci" train -quiet $TR -model "$m" -o "$DIR/w-$m.ckpt" -train_report "$DIR/w-$m.json" > /dev/null ;;
  esac
done
[ "$REUSE" = 1 ] && [ -f "$DIR/t2-raci.json" ] ||
  mpirun -q -n 2 bin/raci train -quiet $TR -o "$DIR/t2.ckpt" -train_report "$DIR/t2-raci.json" > /dev/null
[ "$REUSE" = 1 ] && [ -f "$DIR/torch.json" ] && TORCH=0
if [ "$TORCH" = 1 ] && "$PY" -c "import torch" 2> /dev/null; then
  "$PY" tools/reference/bench_torch.py -json "$DIR/torch.json" > "$DIR/torch.txt" 2>&1 || echo "bench_torch failed: $DIR/torch.txt" >&2
fi

"$PY" tools/bench/segment_report.py "$DIR" "$NT" "$NY" "$NX" "$NV"
