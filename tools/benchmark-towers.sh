#!/bin/sh
# Every tower in one training set (issue 16): FLUXNET2015, FluxDataKit and
# FLUXNET-CH4 merged into one site file (a site in two networks is one
# location), leave-sites-out K-fold cross-validation, every model trained as
# an ensemble whose member 0 is also scored alone (member 0 is exactly the
# single run of the same command: docs/MODEL.md, "Ensembles"); per target
# masks (GPP, RECO, NEE wherever measured, FCH4 at the FLUXNET-CH4 sites).
# Writes the towers-16 section of docs/RESULTS.md (tools/towers_report.py).
# Resumable: a run whose two prediction files exist is not run again.
#
# usage: tools/benchmark-towers.sh [JOBS]   (JOBS runs in parallel, default 2)
# environment (defaults in brackets):
#   RACI_TW_OUT      [out/towers]      runs, logs and reports
#   RACI_TW_MODELS   [raci raci_fast_embed raci_no_retrieval raci_no_slow lstm ealstm tcn transformer]
#   RACI_TW_SEEDS    [1 2 3]           training seeds (member k of seed s: s + 1000 k)
#   RACI_TW_FOLDS    [5]               folds of sites
#   RACI_TW_MEMBERS  [5]               ensemble members
#   RACI_TW_DOC      [docs/RESULTS.md] "-" prints the section instead
#   RACI_BIN         [bin/raci]        the raci to run
#   RACI_SHARED_DATA [../shared/data]  the towers are read there, in place
set -eu
cd "$(dirname "$0")/.."
RUN_ONE=0 # "--run MODEL SEED FOLD": one run of the list (each job of the pool)
[ "${1:-}" = --run ] && RUN_ONE=1
JOBS=${1:-2}
OUT=${RACI_TW_OUT:-out/towers}
MODELS=${RACI_TW_MODELS:-raci raci_fast_embed raci_no_retrieval raci_no_slow lstm ealstm tcn transformer}
SEEDS=${RACI_TW_SEEDS:-1 2 3}
FOLDS=${RACI_TW_FOLDS:-5}
MEMBERS=${RACI_TW_MEMBERS:-5}
DOC=${RACI_TW_DOC:-docs/RESULTS.md}
RACI=${RACI_BIN:-bin/raci}
DATA=${RACI_SHARED_DATA:-../shared/data}
export OPENBLAS_NUM_THREADS=1 RACI
mkdir -p "$OUT/runs"
[ "$RUN_ONE" = 1 ] || [ -n "${RACI_BIN:-}" ] || make -s bin/raci

# The budget, fixed before the runs and the same for every model: at most 10
# epochs of 50 AdamW steps of 64 segments (30 warm-up + 90 scored days),
# learning rate 1e-3, weight decay 1e-4, patience 4; folds stratified by class
# with -split_seed 7; validation a share of the other sites (docs/DATA.md,
# "Splits"); geographic neighbours within 50 km; the default sizes.
BUDGET="-train_epochs 10 -train_steps 50 -train_batch 64 -train_lr 1e-3 -train_wd 1e-4 -train_patience 4 -split_seed 7 -retrieval_radius 50"
spec() {
  case $1 in
    raci) echo "" ;;
    raci_fast_embed) echo "-raci_fast_embed" ;;
    raci_no_retrieval) echo "-raci_no_retrieval" ;;
    raci_no_slow) echo "-raci_no_slow" ;;
    lstm | ealstm | tcn | transformer) echo "-model $1" ;;
    *) echo "benchmark-towers.sh: unknown model spec '$1'" >&2; exit 1 ;;
  esac
}
for m in $MODELS; do spec "$m" > /dev/null; done

run() { # model seed fold
  r="$OUT/runs/$1-s$2-f$3"
  t0=$(date +%s)
  # shellcheck disable=SC2046
  if "$RACI" train -data "$OUT/towers.nc" -o "$r.ckpt" -overwrite $BUDGET $(spec "$1") -ensemble "$MEMBERS" \
       -split_folds "$FOLDS" -split_fold "$3" -train_seed "$2" -train_report "$r.json" > "$r.log" 2>&1 < /dev/null &&
     "$RACI" predict -quiet -ckpt "$r.ckpt" -data "$OUT/towers.nc" -o "$r-ens.nc.tmp" >> "$r.log" 2>&1 &&
     "$RACI" predict -quiet -predict_members 1 -ckpt "$r.ckpt" -data "$OUT/towers.nc" -o "$r-one.nc.tmp" >> "$r.log" 2>&1; then
    mv "$r-ens.nc.tmp" "$r-ens.nc"
    mv "$r-one.nc.tmp" "$r-one.nc"
    rm -f "$r.ckpt"
    echo "done $1 seed $2 fold $3 in $(($(date +%s) - t0)) s ($(ls "$OUT"/runs/*-one.nc 2> /dev/null | wc -l) runs finished)"
  else
    echo "FAILED $1 seed $2 fold $3 (see $r.log)" >&2
  fi
}
if [ "$RUN_ONE" = 1 ]; then
  run "$2" "$3" "$4"
  exit 0
fi

start=$(date +%s)
[ -f "$OUT/towers.nc" ] || {
  "$RACI" prep -format fluxnet2015 -i "$DATA/towers/fluxnet2015-daily" -format fluxdatakit -i "$DATA/towers/fluxdatakit-daily" \
    -format fluxnet-ch4 -i "$DATA/towers/fluxnet-ch4-daily" -o "$OUT/towers.nc" -prep_out_of_range missing > "$OUT/prep.log" 2>&1 ||
    { cat "$OUT/prep.log"; exit 1; }
}
LIST="$OUT/runs-$$.txt"
: > "$LIST"
for s in $SEEDS; do
  for f in $(seq 0 $((FOLDS - 1))); do
    for m in $MODELS; do
      [ -f "$OUT/runs/$m-s$s-f$f-one.nc" ] || echo "$m $s $f" >> "$LIST"
    done
  done
done
echo "benchmark-towers: $(wc -l < "$LIST") run(s) of $MEMBERS members to do in $OUT, $JOBS at a time"
xargs -P "$JOBS" -L 1 "$0" --run < "$LIST"
rm -f "$LIST"
echo "runs done after $(($(date +%s) - start)) s"
/usr/bin/python3 tools/towers_report.py "$OUT" "$FOLDS" "$MEMBERS" "$DOC" $MODELS
[ "$DOC" = - ] || echo "wrote $DOC (towers-16 section) after $(($(date +%s) - start)) s"
