#!/bin/sh
# The whole job as four dependent Slurm jobs (each starts only if the one
# before succeeded, --dependency=afterok):
#   1. raci simulate (or raci prep of tower CSVs)   -> OUTDIR/data.nc
#   2. raci train (jobs/train.sbatch, preemption-safe) -> OUTDIR/model.ckpt
#   3. raci predict (jobs/predict.sbatch)            -> OUTDIR/pred.nc
#   4. raci eval on the held-out locations           -> OUTDIR/eval.json
#
# usage: jobs/pipeline.sh OUTDIR [OPTS_PREFIX]
#        jobs/pipeline.sh OUTDIR --upscale [raci prep -format grid arguments ...]
#
# With --upscale: a flux map from gridded forcing, trained on the towers of
# RACI_SHARED_DATA (docs/UPSCALING.md), as four jobs: the data
# (jobs/upscale.sbatch data: tower and grid prep, the drivers both have, into
# OUTDIR/train.opts) -> train (jobs/train.sbatch, preemption-safe) -> predict
# (jobs/predict.sbatch) -> maps (jobs/upscale.sbatch maps: OUTDIR/*-annual.png).
# Without prep arguments, the Moselle forcing of ../shared (tools/upscale.sh).
#
# Options come from files PREFIX-simulate.opts (or PREFIX-prep.opts),
# PREFIX-train.opts, PREFIX-predict.opts and PREFIX-eval.opts, each read with
# -options_file by its step (default prefix inputs/pipeline; a missing file
# means no extra options). The split options (-split_*) belong in both the
# train and the eval file. Environment:
#   RACI_HOME       the raci tree (default: this script's parent directory)
#   RACI_NTASKS     ranks per job (default 2)
#   RACI_PREP_DIR   with PREFIX-prep.opts: the CSV directory (raci prep -i)
#   RACI_SBATCH_OPTS  extra sbatch options for every job (partition, account, time)
#   RACI_SHARED_DATA  the shared data (simulator's land mask; default RACI_HOME/../shared/data)
# Prints the job ids and writes them to OUTDIR/pipeline.jobs; every job writes
# its run record next to its output.
set -eu
[ $# -ge 1 ] || { echo "usage: jobs/pipeline.sh OUTDIR [OPTS_PREFIX]" >&2; exit 2; }
RACI_HOME=${RACI_HOME:-$(cd "$(dirname "$0")/.." && pwd)}
export RACI_HOME
RACI_SHARED_DATA=${RACI_SHARED_DATA:-$RACI_HOME/../shared/data}
[ -d "$RACI_SHARED_DATA" ] && RACI_SHARED_DATA=$(cd "$RACI_SHARED_DATA" && pwd) # the jobs run in OUTDIR
export RACI_SHARED_DATA
OUT=$1
UPSCALE=0
if [ "${2:-}" = --upscale ]; then UPSCALE=1; fi
PREFIX=$RACI_HOME/inputs/pipeline
[ "$UPSCALE" = 1 ] || PREFIX=${2:-$PREFIX}
PREFIX=$(cd "$(dirname "$PREFIX")" && pwd)/$(basename "$PREFIX") # the jobs run in OUTDIR
N=${RACI_NTASKS:-2}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
if [ "$UPSCALE" = 1 ]; then
  shift 2
  sbu() { sbatch --parsable --ntasks="${RACI_NTASKS:-2}" ${RACI_SBATCH_OPTS:-} --chdir="$OUT" "$@" | cut -d';' -f1; }
  j1=$(sbu --job-name=raci-upscale-data --output="$OUT/data-%j.out" "$RACI_HOME/jobs/upscale.sbatch" data "$OUT" "$@")
  j2=$(sbu --dependency=afterok:"$j1" --output="$OUT/train-%j.out" "$RACI_HOME/jobs/train.sbatch" "$OUT/towers.nc" "$OUT/model.ckpt" -options_file "$OUT/train.opts")
  j3=$(sbu --dependency=afterok:"$j2" --output="$OUT/predict-%j.out" "$RACI_HOME/jobs/predict.sbatch" "$OUT/model.ckpt" "$OUT/grid.nc" "$OUT/pred.nc")
  j4=$(sbu --dependency=afterok:"$j3" --job-name=raci-upscale-maps --output="$OUT/maps-%j.out" "$RACI_HOME/jobs/upscale.sbatch" maps "$OUT")
  echo "$j1 $j2 $j3 $j4" > "$OUT/pipeline.jobs"
  echo "pipeline: jobs $j1 (data) -> $j2 (train) -> $j3 (predict) -> $j4 (maps); outputs in $OUT"
  exit 0
fi
opts() { [ -f "$PREFIX-$1.opts" ] && echo "-options_file $PREFIX-$1.opts" || true; }
sb() { sbatch --parsable --ntasks="$N" ${RACI_SBATCH_OPTS:-} --chdir="$OUT" "$@" | cut -d';' -f1; }

if [ -f "$PREFIX-prep.opts" ]; then
  [ -n "${RACI_PREP_DIR:-}" ] || { echo "pipeline: $PREFIX-prep.opts needs RACI_PREP_DIR (the tower CSV directory)" >&2; exit 2; }
  j1=$(sb --job-name=raci-prep --output="$OUT/prep-%j.out" "$RACI_HOME/jobs/step.sbatch" "$OUT/data.nc" prep -i "$RACI_PREP_DIR" -o "$OUT/data.nc" $(opts prep))
else
  j1=$(sb --job-name=raci-simulate --output="$OUT/simulate-%j.out" "$RACI_HOME/jobs/step.sbatch" "$OUT/data.nc" simulate -o "$OUT/data.nc" $(opts simulate))
fi
j2=$(sb --dependency=afterok:"$j1" --output="$OUT/train-%j.out" "$RACI_HOME/jobs/train.sbatch" "$OUT/data.nc" "$OUT/model.ckpt" $(opts train))
j3=$(sb --dependency=afterok:"$j2" --output="$OUT/predict-%j.out" "$RACI_HOME/jobs/predict.sbatch" "$OUT/model.ckpt" "$OUT/data.nc" "$OUT/pred.nc" $(opts predict))
j4=$(sb --dependency=afterok:"$j3" --job-name=raci-eval --output="$OUT/eval-%j.out" "$RACI_HOME/jobs/step.sbatch" "$OUT/eval.json" eval -pred "$OUT/pred.nc" -data "$OUT/data.nc" -eval_json "$OUT/eval.json" $(opts eval))
echo "$j1 $j2 $j3 $j4" > "$OUT/pipeline.jobs"
echo "pipeline: jobs $j1 (data) -> $j2 (train) -> $j3 (predict) -> $j4 (eval); outputs in $OUT"
