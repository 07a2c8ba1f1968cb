#!/bin/sh
# The job scripts of jobs/ on a real single-node Slurm cluster (munge,
# slurmctld, slurmd), submitted with sbatch and followed with scontrol:
#  - jobs/pipeline.sh: simulate -> train -> predict -> eval as dependent jobs,
#    and --upscale: towers + Moselle forcing -> train -> predict -> maps
#    (--dependency=afterok); every output and every run record is there, and
#    the records name the job, the ranks and the process grid;
#  - preemption: `scontrol requeue` of jobs/train.sbatch mid-run; the job
#    checkpoints, comes back, resumes, and ends with the parameters, optimiser
#    state and memory bank of the same training run without interruption;
#    the same after SIGUSR1 to the batch shell (what --signal=B:USR1@300
#    sends before the time limit), where the job requeues itself;
#  - jobs/scaling-strong.sbatch and scaling-weak.sbatch as job arrays over 1, 2
#    and 4 ranks (4 oversubscribed), and tools/scaling-report on their records;
#    the map each strong run predicts on 2 and 4 ranks is the map its model
#    gives on 1 rank. (Models trained on different rank counts are not
#    compared: their gradient sums are grouped differently, so parameters
#    differ in the last bits after the first step and AdamW amplifies that to
#    1e-4 and more in 20 steps, by an amount that depends on the machine's
#    BLAS kernels. Training's rank invariance is tests/train and
#    tests/predict's loss-curve check.)
# Needs root and the slurm group of tools/install-deps.sh; fails with the
# reason otherwise, unless RACI_SKIP_SLURM=1.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/cluster.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PY=/usr/bin/python3
if [ "${RACI_SKIP_SLURM:-0}" = 1 ]; then
  echo "test_slurm: skipped (RACI_SKIP_SLURM=1)"
  exit 0
fi
SL="$TMP/slurm"
trap 'slurm_stop "$SL"; [ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"' EXIT
why=$(slurm_start "$SL") || fail "cannot start a Slurm cluster: $why"
RACI_SHARED_DATA=$(cd "$RACI_SHARED_DATA" && pwd) # the jobs run in their output directories
export SLURM_CONF="$SL/slurm.conf" RACI_HOME="$ROOT" RACI="$RACI" RACI_SHARED_DATA
T0=$(date +%s)
el() { echo "$(($(date +%s) - T0)) s"; }
echo "  Slurm $(sinfo -V | cut -d' ' -f2) up: $(sinfo -h -o '%n %T, %c CPUs')"

# 1. the pipeline, on a small domain
P="$TMP/pipe"
mkdir -p "$P"
cat > "$TMP/tiny-simulate.opts" <<OPTS
-sim_lon -100,-80
-sim_lat 34,50
-sim_years 1
-sim_seed 5
-sim_noise 0.1
OPTS
SMALL="-raci_hidden 16 -raci_slow_hidden 8 -raci_z 4 -raci_attn 8 -raci_head 16 -raci_slow_days 120 -raci_blocks 4"
# options files take one "-name value" per line
opts_file() { out=$1; shift; echo "$*" | sed 's/ -\([a-z]\)/\n-\1/g' > "$out"; }
opts_file "$TMP/tiny-train.opts" $SMALL -train_epochs 2 -train_steps 20 -train_batch 32 -split_test_box -92,-88,40,44
opts_file "$TMP/tiny-eval.opts" -split_test_box -92,-88,40,44
RACI_NTASKS=2 "$ROOT/jobs/pipeline.sh" "$P" "$TMP/tiny" > "$TMP/pipe.log" 2>&1 || { cat "$TMP/pipe.log"; fail "pipeline.sh"; }
cat "$TMP/pipe.log"
set -- $(cat "$P/pipeline.jobs")
[ $# -eq 4 ] || fail "pipeline.jobs: $*"
scontrol show job "$2" | grep -q "Dependency=afterok:$1" || fail "train job $2 does not depend on $1: $(scontrol show job "$2" | grep -o 'Dependency=[^ ]*')"
slurm_wait "$@" || { tail -n 20 "$P"/*.out; fail "pipeline jobs"; }
for f in data.nc model.ckpt pred.nc eval.json data.nc.run.json model.ckpt.run.json pred.nc.run.json eval.json.run.json; do
  [ -s "$P/$f" ] || { ls -l "$P"; fail "pipeline: no $f"; }
done
$PY - "$P" "$1" "$2" "$3" "$4" <<'PYEOF' || fail "pipeline run records"
import sys, json
p, jobs = sys.argv[1], sys.argv[2:]
for f, j, cmd in zip(("data.nc", "model.ckpt", "pred.nc", "eval.json"), jobs, ("simulate", "train", "predict", "eval")):
    r = json.load(open(f"{p}/{f}.run.json"))
    assert r["slurm"]["SLURM_JOB_ID"] == j, (f, r["slurm"])
    assert r["ranks"] == 2 and f" {cmd} " in r["command"], (f, r["ranks"], r["command"])
    assert r["process_grid"] in ("1x2", "2x1"), r["process_grid"]
    assert r["wall_seconds"] > 0 and set(r["stages_max_seconds"]) >= {"Load", "Write", "Other"}
e = json.load(open(f"{p}/eval.json"))
print(f"  pipeline: 4 dependent jobs, run records with job ids, 2 ranks, process grid; held-out GPP RMSE {e['fluxes']['GPP']['pooled']['rmse']:.3g}")
PYEOF

echo "  ($(el))"
# 1b. the upscaling pipeline (docs/UPSCALING.md): towers and the Moselle forcing of ../shared,
# the drivers both have, train, predict the grid, maps; a small budget
U="$TMP/upscale"
RACI_NTASKS=2 RACI_UPSCALE_EPOCHS=1 RACI_UPSCALE_MEMBERS=2 "$ROOT/jobs/pipeline.sh" "$U" --upscale > "$TMP/up.log" 2>&1 ||
  { cat "$TMP/up.log"; fail "pipeline.sh --upscale"; }
set -- $(cat "$U/pipeline.jobs")
[ $# -eq 4 ] || fail "upscale pipeline.jobs: $*"
scontrol show job "$4" | grep -q "Dependency=afterok:$3" || fail "maps job $4 does not depend on $3"
slurm_wait "$@" || { tail -n 20 "$U"/*.out; fail "upscale pipeline jobs"; }
for f in towers.nc grid.nc train.opts model.ckpt pred.nc gpp-annual.png nee-annual.png model.ckpt.run.json pred.nc.run.json; do
  [ -s "$U/$f" ] || { ls -l "$U"; fail "upscale pipeline: no $f"; }
done
grep -qx -- "-fast TA,SW_IN,VPD" "$U/train.opts" || { cat "$U/train.opts"; fail "upscale: drivers"; }
grep -q "P: at 20 % of the towers, left out" "$U"/data-*.out || { cat "$U"/data-*.out; fail "upscale: P not left out"; }
$PY - "$U/pred.nc" <<'PYEOF' || fail "upscale predictions"
import sys, netCDF4, numpy as np
with netCDF4.Dataset(sys.argv[1]) as d:
    gpp = np.ma.masked_invalid(d["GPP"][:])
    assert gpp.shape == (1826, 9, 6), gpp.shape
    cells = (~np.ma.getmaskarray(gpp)).any(axis=0).sum()
    assert cells == 34, cells                      # the Moselle mask
    assert "GPP_spread" in d.variables and float(gpp.min()) > -1 and float(gpp.max()) < 30
print(f"  upscale pipeline: 4 dependent jobs, 34 Moselle cells predicted from TA, SW_IN, VPD, maps drawn")
PYEOF
echo "  ($(el))"
# 2. preemption: requeue a training job mid-run
Q="$TMP/pre"
mkdir -p "$Q"
A="$SMALL -train_epochs 3 -train_steps 300 -train_batch 32 -split_test_box -92,-88,40,44"
mpirun -q -n 2 "$RACI" train -data "$P/data.nc" -o "$Q/full.ckpt" $A > "$Q/full.log" 2>&1 || { cat "$Q/full.log"; fail "uninterrupted run"; }
j=$(cd "$Q" && sbatch --parsable --ntasks=2 --output="$Q/train-%j.out" "$ROOT/jobs/train.sbatch" "$P/data.nc" "$Q/part.ckpt" $A)
t=0
until [ -f "$Q/part.ckpt" ] && [ "$(job_state "$j")" = RUNNING ]; do # the first epoch's checkpoint
  t=$((t + 1)); [ $t -gt 1200 ] && fail "training job $j: no checkpoint after 120 s ($(job_state "$j"))"
  sleep 0.1
done
scontrol requeue "$j" || fail "scontrol requeue $j"
echo "  requeued job $j after its first checkpoint"
slurm_release "$j" || fail "requeued job $j"
slurm_wait "$j" || { cat "$Q"/train-*.out; fail "requeued training job"; }
grep -q "resuming from" "$Q"/train-"$j".out || { cat "$Q"/train-*.out; fail "the requeued job did not resume"; }
[ "$(scontrol show job "$j" | sed -n 's/.*Restarts=\([0-9]*\).*/\1/p')" -ge 1 ] || fail "job $j did not restart"
[ -s "$Q/part.ckpt.run-r1.json" ] || { ls -l "$Q"; fail "no run record of the restarted job"; }
$PY "$HERE/../train/ckpt.py" "$Q/full.ckpt" "$Q/part.ckpt" params best adam_m adam_v state bank_key bank_val bank_owner || fail "the requeued run differs from the uninterrupted one"
echo "  preempted and requeued training ends with the uninterrupted run's model (restarts: $(scontrol show job "$j" | sed -n 's/.*Restarts=\([0-9]*\).*/\1/p'))"

echo "  ($(el))"
# 2b. the warning before the time limit: SIGUSR1 to the batch shell, as
# --signal=B:USR1@300 sends it; the script passes it on, raci checkpoints, the
# job requeues itself and finishes the run
rm -f "$Q/part.ckpt" "$Q"/part.ckpt.run*.json
j=$(cd "$Q" && sbatch --parsable --ntasks=2 --output="$Q/train-%j.out" "$ROOT/jobs/train.sbatch" "$P/data.nc" "$Q/part.ckpt" $A)
t=0
until [ -f "$Q/part.ckpt" ] && [ "$(job_state "$j")" = RUNNING ]; do
  t=$((t + 1)); [ $t -gt 1200 ] && fail "training job $j: no checkpoint after 120 s ($(job_state "$j"))"
  sleep 0.1
done
scancel --batch --signal=USR1 "$j" || fail "scancel --batch --signal=USR1 $j"
slurm_release "$j" || { cat "$Q"/train-"$j".out; fail "the job did not requeue itself on USR1"; }
slurm_wait "$j" || { cat "$Q"/train-"$j".out; fail "training job after USR1"; }
grep -q "requeueing job $j" "$Q"/train-"$j".out && grep -q "resuming from" "$Q"/train-"$j".out || { cat "$Q"/train-"$j".out; fail "USR1 did not checkpoint, requeue and resume"; }
$PY "$HERE/../train/ckpt.py" "$Q/full.ckpt" "$Q/part.ckpt" params best adam_m adam_v state bank_key bank_val bank_owner > /dev/null || fail "the run requeued on USR1 differs from the uninterrupted one"
echo "  USR1 before the time limit: checkpoint, self-requeue, resume, the uninterrupted run's model"

echo "  ($(el))"
# 3. scaling arrays over 1, 2, 4 ranks
S="$TMP/scaling"
mkdir -p "$S"
opts_file "$TMP/sc-train.opts" $SMALL -train_epochs 1 -train_steps 20 -train_batch 32 -train_val_stride 30 -split_test_box -92,-88,40,44 -quiet
opts_file "$TMP/sc-predict.opts" -quiet
opts_file "$TMP/sc-simulate.opts" -sim_years 1 -sim_seed 3 -quiet
js=$(cd "$S" && sbatch --parsable --array=0-2%1 --ntasks=4 --overcommit --output="$S/strong-%A_%a.out" "$ROOT/jobs/scaling-strong.sbatch" "$P/data.nc" "$S" "$TMP/sc")
jw=$(cd "$S" && RACI_WEAK_ROWS=8 RACI_WEAK_LON=-100,-85 RACI_WEAK_LAT0=34 sbatch --parsable --array=0-2%1 --ntasks=4 --overcommit --output="$S/weak-%A_%a.out" "$ROOT/jobs/scaling-weak.sbatch" "$S" "$TMP/sc")
slurm_wait "${js}_0" "${js}_1" "${js}_2" "${jw}_0" "${jw}_1" "${jw}_2" || { tail -n 5 "$S"/*.out; fail "scaling arrays"; }
"$ROOT/tools/scaling-report" "$S" "$S/scaling" > "$TMP/report.log" || { cat "$TMP/report.log"; fail "scaling-report"; }
cat "$TMP/report.log"
[ -s "$S/scaling-strong.png" ] && [ -s "$S/scaling-weak.png" ] || fail "scaling plots"
for n in 2 4; do # each strong run's model, predicted on 1 rank
  "$RACI" predict -ckpt "$S/strong-n$n.ckpt" -data "$P/data.nc" -o "$S/check-n$n.nc" -quiet || fail "predict strong-n$n.ckpt on 1 rank"
done
$PY - "$S" <<'PYEOF' || fail "scaling records"
import sys, csv, numpy as np, netCDF4
s = sys.argv[1]
rows = list(csv.DictReader(open(f"{s}/scaling.csv")))
got = {(r["study"], r["command"], int(r["ranks"])) for r in rows}
want = {(st, c, n) for st, cs in (("strong", ("train", "predict")), ("weak", ("simulate", "train", "predict"))) for c in cs for n in (1, 2, 4)}
assert got == want, sorted(want - got)
weak = {int(r["ranks"]): r for r in rows if r["study"] == "weak" and r["command"] == "simulate"}
assert weak[1]["tile_locations_max"] == weak[4]["tile_locations_max"], "weak scaling: the tile per rank changed"
for n in (2, 4):
    a = netCDF4.Dataset(f"{s}/check-n{n}.nc")
    b = netCDF4.Dataset(f"{s}/strong-pred-n{n}.nc")
    for v in ("GPP", "RECO", "NEE", "FCH4"):
        x, y = a[v][:], b[v][:]
        assert (np.ma.getmaskarray(x) == np.ma.getmaskarray(y)).all(), (n, v)
        # the same model: only the float rounding of sgemm rows in batches of
        # another composition differs (docs/RELIABILITY.md: 1e-5 of the largest value)
        rel = float(np.max(np.abs(x - y)) / np.max(np.abs(x)))
        assert rel < 1e-5, (n, v, rel)
print(f"  scaling arrays: records of 1, 2, 4 ranks (strong: train, predict; weak: simulate, train, predict); same tile per rank in weak scaling; each strong-scaling map on 2 and 4 ranks equals its model's map on 1 rank")
PYEOF
echo "test_slurm: ok ($(el))"
