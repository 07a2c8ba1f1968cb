#!/bin/sh
# Scaling study on this machine through the real job scripts: stands up the
# single-node Slurm cluster of tests/slurm (root, the slurm group of
# tools/install-deps.sh), submits jobs/scaling-strong.sbatch and
# jobs/scaling-weak.sbatch as arrays over 1, 2, 4 and 8 ranks (one task at a
# time; 4 and 8 oversubscribe 2 cores: they check correctness, not speed),
# and runs tools/scaling-report. Benchmark, not a test (docs/SCALING.md).
# usage: tools/scaling-local.sh [OUTDIR]   (default out/scaling)
set -eu
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${1:-out/scaling}
make -s bin/raci
tools/install-deps.sh slurm
export OPENBLAS_NUM_THREADS=1 OMPI_MCA_rmaps_base_oversubscribe=1 RACI_HOME="$ROOT" RACI="$ROOT/bin/raci"
export RACI_SHARED_DATA=${RACI_SHARED_DATA:-$ROOT/../shared/data}
# weak scaling: 8 rows of 120 cells per rank from 10 N (8 ranks reach 74 N)
export RACI_WEAK_LAT0=${RACI_WEAK_LAT0:-10} RACI_WEAK_LON=${RACI_WEAK_LON:--170,-50} RACI_WEAK_ROWS=${RACI_WEAK_ROWS:-8}
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
rm -rf "$OUT"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
. tests/slurm/cluster.sh
SL=$(mktemp -d /tmp/raci-slurm.XXXXXX)
trap 'slurm_stop "$SL"; rm -rf "$SL"' EXIT
slurm_start "$SL" || exit 1
export SLURM_CONF="$SL/slurm.conf"
# the fixed problem of strong scaling: North America at 1 degree, 2 years
bin/raci simulate -quiet -o "$OUT/na.nc" -options_file inputs/demo-simulate.opts
js=$(cd "$OUT" && sbatch --parsable --array=0-3%1 --ntasks=8 --overcommit --output="$OUT/strong-%A_%a.out" "$ROOT/jobs/scaling-strong.sbatch" "$OUT/na.nc" "$OUT")
jw=$(cd "$OUT" && sbatch --parsable --dependency=afterany:"$js" --array=0-3%1 --ntasks=8 --overcommit --output="$OUT/weak-%A_%a.out" "$ROOT/jobs/scaling-weak.sbatch" "$OUT")
SLURM_WAIT_LIMIT=3600 slurm_wait "${js}_0" "${js}_1" "${js}_2" "${js}_3" "${jw}_0" "${jw}_1" "${jw}_2" "${jw}_3"
tools/scaling-report "$OUT" "$OUT/scaling"
/usr/bin/python3 tools/perf-model "$OUT"
# correctness on more ranks than cores: the maps of the models trained on
# 2, 4 and 8 ranks against the 1-rank map (same loss curve to 1e-5)
/usr/bin/python3 - "$OUT" <<'PYEOF'
import sys, numpy as np, netCDF4
d = sys.argv[1]
a = {k: netCDF4.Dataset(f"{d}/strong-pred-n1.nc")[k][:] for k in ("GPP", "RECO", "NEE", "FCH4")}
for n in (2, 4, 8):
    with netCDF4.Dataset(f"{d}/strong-pred-n{n}.nc") as f:
        worst = max(float(np.max(np.abs(f[k][:] - a[k])) / np.max(np.abs(a[k]))) for k in a)
        same = all((np.ma.getmaskarray(f[k][:]) == np.ma.getmaskarray(a[k])).all() for k in a)
    print(f"strong scaling, {n} ranks: maps vs 1 rank: largest difference {worst:.2e} of the largest value; same cells and days: {same}")
PYEOF
