#!/bin/sh
# The forcing shift, measured on real data (docs/UPSCALING.md): two towers,
# US-Wkg and US-Whs, lie inside the Livneh Walnut Gulch grid of 2008. A model
# trained on every other tower (both held out) predicts them twice: from their
# own meteorology and from the grid's forcing at their cell; both are scored
# against their observed GPP and NEE on the same days.
# usage: tools/forcing-shift.sh [OUTDIR]   (default out/forcing-shift; RACI_NP ranks, 2)
# RACI_FS_FAST and RACI_FS_SLOW choose the drivers (default: every one both
# files have, TA,SW_IN,VPD,P,PA,WS and MAT,MAP,elev; the towers' FLUXNET2015
# record has no P, PA or WS, so TA,SW_IN,VPD and MAT,elev isolate the
# meteorology from the drivers' availability).
set -eu
cd "$(dirname "$0")/.."
OUT=${1:-out/forcing-shift}
NP=${RACI_NP:-2}
DATA=${RACI_SHARED_DATA:-../shared/data}
RACI=${RACI_BIN:-bin/raci}
SITES=US-Wkg,US-Whs
export OPENBLAS_NUM_THREADS=1 OMPI_MCA_rmaps_base_oversubscribe=1
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$OUT"
LOG="$OUT/forcing-shift.log"
: > "$LOG"
run() { mpirun -q -n "$NP" "$RACI" "$@" >> "$LOG" 2>&1 || { tail -n 20 "$LOG" >&2; exit 1; }; }
L="$DATA/gridded/vic-livneh-walnut-gulch-2008"
run prep -format fluxnet2015 -i "$DATA/towers/fluxnet2015-daily" -format fluxdatakit -i "$DATA/towers/fluxdatakit-daily" \
  -format fluxnet-ch4 -i "$DATA/towers/fluxnet-ch4-daily" -prep_out_of_range missing -o "$OUT/towers.nc"
# the file's wind says mm s-1 but holds m s-1; its local-time stamps start their 3-hour intervals
run prep -format grid -i "$L/livneh_NAmerExt_15Oct2014.WalnutGulch.2008.nc" -i "$L/params.WalnutGulch.MOD_IGBP.0.0625_deg.nc" \
  -prep_units "wind=m s-1" -prep_amount_stamp start -o "$OUT/grid.nc"
run train -data "$OUT/towers.nc" -fast "${RACI_FS_FAST:-TA,SW_IN,VPD,P,PA,WS}" -slow "${RACI_FS_SLOW:-MAT,MAP,elev}" \
  -target GPP,RECO,NEE \
  -split_test_sites "$SITES" -ensemble "${RACI_FS_MEMBERS:-3}" -train_epochs 10 -train_steps 50 -split_val_frac 0.1 \
  -retrieval_radius 50 -o "$OUT/model.ckpt" -overwrite
run predict -ckpt "$OUT/model.ckpt" -data "$OUT/towers.nc" -o "$OUT/pred-towers.nc"
run predict -ckpt "$OUT/model.ckpt" -data "$OUT/grid.nc" -o "$OUT/pred-grid.nc"
/usr/bin/python3 tools/forcing_shift.py "$OUT/towers.nc" "$OUT/pred-towers.nc" "$OUT/grid.nc" "$OUT/pred-grid.nc" "$SITES" |
  tee "$OUT/forcing-shift.md"
