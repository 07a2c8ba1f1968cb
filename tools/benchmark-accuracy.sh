#!/bin/sh
# Accuracy on real flux towers (issue 6): leave-sites-out k-fold
# cross-validation of RACI, its ablations and the baselines, several seeds,
# and simulation-to-observation transfer; regenerates the towers section of
# docs/RESULTS.md and its figures in docs/figures/.
#
# usage: tools/benchmark-accuracy.sh [SEEDS] [FOLDS]     (defaults 3 and 5)
# environment: RACI_SHARED_DATA (default ../shared/data), RACI_JOBS (parallel
# single-rank runs, default the number of cores), RACI_ACC_EPOCHS (default 20),
# RACI (the binary, default bin/raci); RACI_ACC_TASKS (default "ch4 fdk nee"),
# RACI_ACC_TRANSFER (1: also the transfer runs), RACI_ACC_KEEP (1: keep earlier
# runs in out/accuracy and only add these tasks)
#
# Every model gets the same budget and the same settings (docs/RESULTS.md
# says which); each site is scored only by the model of the fold that held it
# out, on measured values only (raci eval on the merged held-out predictions).
set -eu
cd "$(dirname "$0")/.."
SEEDS=${1:-3}
FOLDS=${2:-5}
DATA=${RACI_SHARED_DATA:-../shared/data}
JOBS=${RACI_JOBS:-$(nproc)}
EPOCHS=${RACI_ACC_EPOCHS:-20}
OUT=out/accuracy
export OPENBLAS_NUM_THREADS=1
RACI=${RACI:-bin/raci}
[ "$RACI" = bin/raci ] && make -s bin/raci
export RACI
TASKS=${RACI_ACC_TASKS:-ch4 fdk nee}
TRANSFER=${RACI_ACC_TRANSFER:-1}
[ "${RACI_ACC_KEEP:-0}" = 1 ] || rm -rf "$OUT"
mkdir -p "$OUT/runs" docs/figures
start=$(date +%s)

# 1. tower files (out-of-range values become missing: see docs/DATA.md)
[ "${RACI_ACC_KEEP:-0}" = 1 ] && [ -f "$OUT/ch4.nc" ] && [ -f "$OUT/fdk.nc" ] || {
"$RACI" prep -format fluxnet-ch4 -i "$DATA/towers/fluxnet-ch4-daily" -o "$OUT/ch4.nc" -prep_out_of_range missing > "$OUT/prep-ch4.log"
"$RACI" prep -format fluxdatakit -i "$DATA/towers/fluxdatakit-daily" -o "$OUT/fdk.nc" -prep_out_of_range missing > "$OUT/prep-fdk.log"
}

# 2. simulations for pretraining: North America, 1 degree, 3 years
[ "$TRANSFER" = 1 ] && "$RACI" simulate -quiet -o "$OUT/sim.nc" -sim_res 1 -sim_years 3 -sim_seed 21 -sim_noise 0.1

# the same budget for everyone
COMMON="-train_epochs $EPOCHS -train_steps 50 -train_batch 64 -train_lr 1e-3 -train_wd 1e-4 -train_patience 5 -split_folds $FOLDS -split_seed 7 -split_val_frac 0.2 -quiet"
variant_opts() {
  case $1 in
    raci) echo "-model raci" ;;
    raci_no_retrieval) echo "-model raci -raci_no_retrieval" ;;
    raci_no_slow) echo "-model raci -raci_no_slow" ;;
    raci_no_film) echo "-model raci -raci_no_film" ;;
    lstm | ealstm | transformer) echo "-model $1" ;;
  esac
}
# task: data file, roles (empty: the file's raci_role attributes)
task_data() { case $1 in nee) echo "$OUT/ch4.nc" ;; *) echo "$OUT/$1.nc" ;; esac; }
task_roles() {
  case $1 in
    ch4 | fdk) echo "" ;;
    nee) echo "-target NEE" ;; # measured NEE at the wetland towers
    ch4_tr) echo "-fast TA,SW_IN,VPD,P -slow MAT,MAP -target FCH4" ;;
    fdk_tr) echo "-fast TA,SW_IN,VPD,P -slow MAT,MAP,elev,whc -target GPP" ;;
  esac
}
VARIANTS="raci raci_no_retrieval raci_no_slow raci_no_film lstm ealstm transformer"

# 3. pretraining on the simulation (RACI, the transfer roles), one per seed
TRT=""
[ "$TRANSFER" = 1 ] && TRT="ch4_tr fdk_tr"
: > "$OUT/jobs"
for task in $TRT; do
  for seed in $(seq 1 "$SEEDS"); do
    echo "$RACI train -data $OUT/sim.nc -o $OUT/runs/pre-$task-s$seed.ckpt -overwrite $(task_roles $task) -model raci -train_epochs $EPOCHS -train_steps 50 -train_batch 64 -train_lr 1e-3 -train_wd 1e-4 -train_patience 5 -train_seed $seed -split_val_frac 0.1 -quiet > $OUT/runs/pre-$task-s$seed.log 2>&1" >> "$OUT/jobs"
  done
done
[ -s "$OUT/jobs" ] && xargs -P "$JOBS" -I CMD sh -c CMD < "$OUT/jobs"
echo "pretraining done after $(($(date +%s) - start)) s"

# 4. every task x variant x seed x fold: train, then predict every site
: > "$OUT/jobs"
for seed in $(seq 1 "$SEEDS"); do
  for fold in $(seq 0 $((FOLDS - 1))); do
    for task in $TASKS; do
      for v in $VARIANTS; do
        r="$OUT/runs/$task-$v-s$seed-f$fold"
        echo "$RACI train -data $(task_data $task) -o $r.ckpt -overwrite $(task_roles $task) $(variant_opts $v) $COMMON -split_fold $fold -train_seed $seed -train_report $r.json > $r.log 2>&1 && $RACI predict -quiet -ckpt $r.ckpt -data $(task_data $task) -o $r.nc >> $r.log 2>&1" >> "$OUT/jobs"
      done
    done
    # transfer: RACI on the transfer roles from scratch and from the pretrained model
    for task in $TRT; do
      base=${task%_tr}
      for init in scratch pretrained; do
        r="$OUT/runs/$task-raci_$init-s$seed-f$fold"
        extra=""
        [ $init = pretrained ] && extra="-init_from $OUT/runs/pre-$task-s$seed.ckpt"
        echo "$RACI train -data $(task_data $base) -o $r.ckpt -overwrite $(task_roles $task) -model raci $extra $COMMON -split_fold $fold -train_seed $seed -train_report $r.json > $r.log 2>&1 && $RACI predict -quiet -ckpt $r.ckpt -data $(task_data $base) -o $r.nc >> $r.log 2>&1" >> "$OUT/jobs"
      done
    done
  done
done
echo "$(wc -l < "$OUT/jobs") training runs on $JOBS cores"
xargs -P "$JOBS" -I CMD sh -c CMD < "$OUT/jobs" || { echo "some runs failed:"; grep -l "error" "$OUT"/runs/*.log; exit 1; }
echo "runs done after $(($(date +%s) - start)) s"

# 5. merge each fold's held-out sites, score with raci eval, write the tables and figures
/usr/bin/python3 tools/accuracy_report.py "$OUT" "$SEEDS" "$FOLDS" "$EPOCHS" docs/RESULTS.md docs/figures
echo "wrote docs/RESULTS.md (towers section) and docs/figures/towers-*.png in $(($(date +%s) - start)) s"
