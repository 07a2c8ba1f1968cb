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
RACI=${RACI_BIN:-bin/raci}
mkdir -p "$OUT"
LOG="$OUT/upscale.log"
: > "$LOG"
T0=$(date +%s)
step() { echo "== $1"; }
took() { echo "   $(($(date +%s) - T0)) s since the start; wrote $*"; }
# raci on NP ranks, its output appended to LOG and kept in $OUT/last.log for the summary lines
run() {
  mpirun -q -n "$NP" "$RACI" "$@" > "$OUT/last.log" 2>&1 || { cat "$OUT/last.log" >> "$LOG"; tail -n 20 "$OUT/last.log" >&2; echo "upscale: failed: raci $1 (log: $LOG)" >&2; exit 1; }
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

step "1. raci prep: the towers of $DATA/towers (FLUXNET2015, FluxDataKit, FLUXNET-CH4) into one site file"
run prep -format fluxnet2015 -i "$DATA/towers/fluxnet2015-daily" -format fluxdatakit -i "$DATA/towers/fluxdatakit-daily" \
  -format fluxnet-ch4 -i "$DATA/towers/fluxnet-ch4-daily" -prep_out_of_range missing -o "$OUT/towers.nc"
took "$OUT/towers.nc"

step "2. raci prep -format grid: the forcing into one daily grid"
run prep -format grid "$@" -o "$OUT/grid.nc"
grep -E "^raci prep: (wrote|warning)|^  [A-Za-z_]+ +(fast|slow) " "$OUT/last.log" | sed 's/^/   /'
took "$OUT/grid.nc"

# the drivers both files have, by role
roles() { ncdump -h "$1" | sed -n "s/^[[:space:]]*\([A-Za-z_0-9]*\):raci_role = \"$2\" ;/\1/p"; }
both() { roles "$OUT/grid.nc" "$1" | while read -r v; do roles "$OUT/towers.nc" "$1" | grep -qx "$v" && echo "$v"; done | paste -sd, -; }
FAST=$(both fast)
SLOW=$(both slow)
[ -n "$FAST" ] || { echo "upscale: the grid has no fast driver the towers have" >&2; exit 1; }
step "3. raci train on $NP ranks: RACI on the towers with the grid's drivers, $MEMBERS members"
echo "   fast: $FAST   slow: $SLOW   targets: GPP, RECO, NEE"
run train -data "$OUT/towers.nc" -fast "$FAST" -slow "$SLOW" -target GPP,RECO,NEE -ensemble "$MEMBERS" \
  -train_epochs "$EPOCHS" -train_steps 50 -split_val_frac 0.1 -retrieval_radius 50 -o "$OUT/model.ckpt" -overwrite \
  -train_report "$OUT/train.json"
grep -E "^  validation" "$OUT/last.log" | sed 's/^ */   /'
took "$OUT/model.ckpt"

step "4. raci predict on $NP ranks: every cell and day of the grid"
run predict -ckpt "$OUT/model.ckpt" -data "$OUT/grid.nc" -o "$OUT/pred.nc"
grep -E "^raci predict: wrote" "$OUT/last.log" | sed 's/^/   /'
took "$OUT/pred.nc"

step "5. annual maps of GPP and NEE: ensemble mean and spread"
PNGS=$(/usr/bin/python3 tools/plot_upscale.py "$OUT/pred.nc" "$OUT" --fluxes GPP,NEE --credit "$CREDIT")
took $PNGS
rm -f "$OUT/last.log"
echo "upscale: done in $(($(date +%s) - T0)) s; the full log is $LOG"
