#!/bin/sh
# Benchmark (not a test): raci predict throughput in cell-days per second per
# rank, and parallel efficiency from 1 to 2 ranks of training and prediction,
# side by side in one run. usage: tools/bench-predict.sh [RES_DEG] [YEARS]
set -eu
cd "$(dirname "$0")/.."
RES=${1:-1}
YEARS=${2:-1}
OUT=out/bench-predict
mkdir -p "$OUT"
export OPENBLAS_NUM_THREADS=1 OMPI_MCA_rmaps_base_oversubscribe=1
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
make -s bin/raci
run() { np=$1; shift; if [ "$np" -eq 1 ]; then bin/raci "$@"; else mpirun -q -n "$np" bin/raci "$@"; fi; }
echo "raci $(bin/raci -help 2>/dev/null | head -1 | cut -d' ' -f2) on $(nproc) cores, $(date -u +%Y-%m-%d): North America at $RES degree, $YEARS year(s)"
run 2 simulate -quiet -o "$OUT/sim.nc" -sim_res "$RES" -sim_years "$YEARS" -sim_seed 3
TRAIN="-train_epochs 1 -train_steps 200 -train_batch 64 -split_val_frac 0.02 -split_test_box -100,-88,33,45"
for np in 1 2; do
  run "$np" train -quiet -data "$OUT/sim.nc" -o "$OUT/m$np.ckpt" -overwrite $TRAIN -train_report "$OUT/train$np.json" > /dev/null
done
for np in 1 2; do
  for diag in 10 0; do
    t0=$(date +%s.%N)
    run "$np" predict -ckpt "$OUT/m1.ckpt" -data "$OUT/sim.nc" -o "$OUT/p$np-$diag.nc" -predict_diag_stride $diag > "$OUT/predict$np-$diag.log"
    t1=$(date +%s.%N)
    echo "$np $diag $t0 $t1" >> "$OUT/times.$$"
  done
done
/usr/bin/python3 - "$OUT" "$$" <<'PYEOF'
import json, re, sys
out, pid = sys.argv[1], sys.argv[2]
tr = {np: json.load(open(f"{out}/train{np}.json")) for np in (1, 2)}
rate = {np: tr[np]["samples"] / tr[np]["step_seconds"] for np in (1, 2)}
print(f"train, 200 steps of 64 samples: 1 rank {rate[1]:.0f} samples/s, 2 ranks {rate[2]:.0f} samples/s: "
      f"speedup {rate[2] / rate[1]:.2f}, parallel efficiency {rate[2] / rate[1] / 2:.2f} (training steps only)")
wall = {}
for line in open(f"{out}/times.{pid}"):
    np, diag, t0, t1 = line.split()
    wall[(int(np), int(diag))] = float(t1) - float(t0)
for diag in (10, 0):
    cd = {}
    for np in (1, 2):
        log = open(f"{out}/predict{np}-{diag}.log").read()
        m = re.search(r"wrote \S+: (\d+) cell-days in ([\d.]+) s \(inference ([\d.]+) s", log)
        cd[np] = int(m.group(1))
        print(f"predict{'' if diag else ' without diagnostics'}, {np} rank(s): {cd[np]} cell-days, wall {wall[(np, diag)]:.1f} s "
              f"(raci's own {float(m.group(2)):.1f} s): {cd[np] / wall[(np, diag)] / np:.0f} cell-days/s per rank")
    print(f"  speedup 1 -> 2 ranks {wall[(1, diag)] / wall[(2, diag)]:.2f}, parallel efficiency {wall[(1, diag)] / wall[(2, diag)] / 2:.2f}")
    r = cd[2] / wall[(2, diag)]
    print(f"  at this rate a 0.25-degree North American year (100,000 land cells x 365 days) takes {36.5e6 / r / 60:.1f} min on 2 ranks")
PYEOF
rm -f "$OUT/times.$$"
