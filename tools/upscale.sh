#!/bin/sh
# `make upscale`: a flux map from real gridded forcing, trained on towers
# (docs/UPSCALING.md). Outputs go to OUTDIR (default out/upscale):
#   1. raci prep of the three tower networks of $RACI_SHARED_DATA/towers -> towers.nc
#   2. raci prep -format grid of the forcing files                          -> grid.nc
#   3. raci train on the towers with the drivers the grid has (an ensemble) -> model.ckpt
#   4. raci predict on every cell and day of the grid                     -> pred.nc
#   5. annual maps of GPP and NEE (ensemble mean and spread)              -> *-annual.png
#
# usage: tools/upscale.sh [OUTDIR [raci prep -format grid arguments ...]]
# RACI_UPSCALE_STEPS picks steps (default "data train predict maps"): jobs/pipeline.sh
# --upscale runs "data" (steps 1-2 and the drivers, written to OUTDIR/train.opts) and
# "maps" as jobs of their own, and training and prediction through jobs/train.sbatch
# and jobs/predict.sbatch. RACI_LAUNCHER=srun launches raci with srun (inside a job).
# Without prep arguments: the mHM Moselle forcing of $RACI_SHARED_DATA/gridded
# (its files' coordinates disagree, hence -prep_same_grid with pre.nc first;
# its ssrd is not a real radiation record, hence -map ssrd=none and shortwave
# derived from the temperature range). Environment: RACI_NP (ranks, 2),
# RACI_UPSCALE_MEMBERS (ensemble members, 5), RACI_UPSCALE_EPOCHS (10).
set -eu
cd "$(dirname "$0")/.."
OUT=${1:-out/upscale}
[ $# -gt 0 ] && shift
NP=${RACI_NP:-2}
MEMBERS=${RACI_UPSCALE_MEMBERS:-5}
EPOCHS=${RACI_UPSCALE_EPOCHS:-10}
DATA=${RACI_SHARED_DATA:-../shared/data}
export OPENBLAS_NUM_THREADS=1 OMPI_MCA_rmaps_base_oversubscribe=1
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$OUT"
LOG="$OUT/upscale.log"
touch "$LOG"
T0=$(date +%s)
step() { echo "== $1"; }
RACI=${RACI_BIN:-${RACI:-bin/raci}}
took() { echo "   $(($(date +%s) - T0)) s since the start; wrote $*"; }
STEPS=${RACI_UPSCALE_STEPS:-data train predict maps}
want() { case " $STEPS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
launch() {
  if [ "${RACI_LAUNCHER:-mpirun}" = srun ]; then srun --mpi=pmix --ntasks="$NP" --overcommit "$RACI" "$@"
  else mpirun -q -n "$NP" "$RACI" "$@"
  fi
}
# raci on NP ranks, its output appended to LOG and kept in $OUT/last.log for the summary lines
run() {
  launch "$@" > "$OUT/last.log" 2>&1 || { cat "$OUT/last.log" >> "$LOG"; tail -n 20 "$OUT/last.log" >&2; echo "upscale: failed: raci $1 (log: $LOG)" >&2; exit 1; }
  cat "$OUT/last.log" >> "$LOG"
}

if [ $# -eq 0 ]; then
  M="$DATA/gridded/mhm-moselle-1989-1993"
  set -- -prep_same_grid -map ssrd=none
  for v in pre tavg tmax tmin eabs ssrd windspeed mask; do set -- "$@" -i "$M/$v.nc"; done
  CREDIT="Forcing: mHM Moselle test domain (mhm-ufz/mHM, LGPL-3). Towers: FLUXNET2015 (CC-BY-4.0), FluxDataKit, FLUXNET-CH4"
else
  CREDIT="Towers: FLUXNET2015 (CC-BY-4.0), FluxDataKit, FLUXNET-CH4"
fi

if want data; then
step "1. raci prep: the towers of $DATA/towers (FLUXNET2015, FluxDataKit, FLUXNET-CH4) into one site file"
run prep -format fluxnet2015 -i "$DATA/towers/fluxnet2015-daily" -format fluxdatakit -i "$DATA/towers/fluxdatakit-daily" \
  -format fluxnet-ch4 -i "$DATA/towers/fluxnet-ch4-daily" -prep_out_of_range missing -o "$OUT/towers.nc"
took "$OUT/towers.nc"

step "2. raci prep -format grid: the forcing into one daily grid"
run prep -format grid "$@" -o "$OUT/grid.nc"
grep -E "^raci prep: (wrote|warning)|^  [A-Za-z_]+ +(fast|slow) " "$OUT/last.log" | sed 's/^/   /'
took "$OUT/grid.nc"

# the drivers both files have, by role, that most towers have: a driver absent at most sites (FLUXNET2015's
# daily files carry no P, PA or WS) is learnt mostly as absent, and a grid that has it everywhere would be
# predicted from inputs the model rarely saw (docs/UPSCALING.md, "The forcing shift")
SHARE=${RACI_UPSCALE_MIN_SHARE:-0.8}
pick() {
  /usr/bin/python3 - "$OUT/towers.nc" "$OUT/grid.nc" "$1" "$SHARE" << 'PY'
import sys
import netCDF4
import numpy as np
towers, grid, role, share = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
with netCDF4.Dataset(towers) as t, netCDF4.Dataset(grid) as g:
    keep, left = [], []
    for name, v in g.variables.items():
        if getattr(v, "raci_role", "") != role or name not in t.variables:
            continue
        x = np.ma.getmaskarray(np.ma.masked_invalid(t.variables[name][...]))
        have = (~x).any(axis=0).mean() if x.ndim == 2 else (~x).mean()
        (keep if have >= share else left).append(name)
        print(f"   {name}: at {have * 100:.0f} % of the towers" + ("" if have >= share else ", left out"), file=sys.stderr)
    print(",".join(keep))
PY
}
FAST=$(pick fast)
SLOW=$(pick slow)
[ -n "$FAST" ] || { echo "upscale: the grid has no fast driver that most towers have" >&2; exit 1; }
# the training options, for step 3 here or jobs/train.sbatch in the pipeline
{
  echo "# written by tools/upscale.sh: the drivers the grid and most towers have, and the budget"
  echo "-fast $FAST"
  [ -n "$SLOW" ] && echo "-slow $SLOW"
  echo "-target GPP,RECO,NEE"
  echo "-ensemble $MEMBERS"
  echo "-train_epochs $EPOCHS"
  echo "-train_steps 50"
  echo "-split_val_frac 0.1"
  echo "-retrieval_radius 50"
} > "$OUT/train.opts"
echo "   fast: $FAST   slow: ${SLOW:-none}   targets: GPP, RECO, NEE (written to $OUT/train.opts)"
echo "$CREDIT" > "$OUT/credit.txt"
fi

if want train; then
step "3. raci train on $NP ranks: RACI on the towers with the grid's drivers"
run train -data "$OUT/towers.nc" -options_file "$OUT/train.opts" -o "$OUT/model.ckpt" -overwrite \
  -train_report "$OUT/train.json"
grep -E "^  validation" "$OUT/last.log" | sed 's/^ */   /'
took "$OUT/model.ckpt"
fi

if want predict; then
step "4. raci predict on $NP ranks: every cell and day of the grid"
run predict -ckpt "$OUT/model.ckpt" -data "$OUT/grid.nc" -o "$OUT/pred.nc"
grep -E "^raci predict: wrote" "$OUT/last.log" | sed 's/^/   /'
took "$OUT/pred.nc"
fi

if want maps; then
step "5. annual maps of GPP and NEE: ensemble mean and spread"
PNGS=$(/usr/bin/python3 tools/plot_upscale.py "$OUT/pred.nc" "$OUT" --fluxes GPP,NEE --credit "$(cat "$OUT/credit.txt" 2> /dev/null || true)")
took $PNGS
fi
rm -f "$OUT/last.log"
echo "upscale: done in $(($(date +%s) - T0)) s; the full log is $LOG"
