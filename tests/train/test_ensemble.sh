#!/bin/sh
# Ensembles (raci train -ensemble N): each member is exactly the single run
# with its seed (-train_seed + 1000 k); predict writes the members' mean,
# their standard deviation and the predictive spread, eval scores the spread's
# calibration, all checked with numpy against the single runs' predictions
# (check_ensemble.py); a run stopped inside the second member resumes to the
# checkpoint of a run that never stopped; bad -ensemble values and a resume
# with another -ensemble are refused with one line.   usage: test_ensemble.sh NP
. "$(dirname "$0")/../lib/common.sh"
NP=${1:?usage: test_ensemble.sh NP}
HERE=$(dirname "$0")
PY=/usr/bin/python3

run_np 1 simulate -quiet -o "$TMP/sim.nc" -sim_lon -100,-80 -sim_lat 35,50 -sim_years 1 -sim_seed 5 > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "simulate"; }
BOX="-split_test_box -92,-88,40,44"
A="-data $TMP/sim.nc -raci_hidden 16 -raci_slow_hidden 8 -raci_z 4 -raci_attn 8 -raci_head 16 -raci_slow_days 120 -raci_blocks 4 -train_epochs 2 -train_batch 32 $BOX -quiet"

run_np "$NP" train $A -train_steps 40 -ensemble 3 -train_seed 7 -o "$TMP/ens.ckpt" -train_report "$TMP/ens.json" > "$TMP/ens.log" 2>&1 || { cat "$TMP/ens.log"; fail "ensemble run"; }
SINGLES=""
for k in 0 1 2; do
  run_np "$NP" train $A -train_steps 40 -train_seed $((7 + 1000 * k)) -o "$TMP/m$k.ckpt" > "$TMP/m$k.log" 2>&1 || { cat "$TMP/m$k.log"; fail "single run $k"; }
  run_np "$NP" predict -quiet -ckpt "$TMP/m$k.ckpt" -data "$TMP/sim.nc" -o "$TMP/m$k.nc" > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "predict $k"; }
  SINGLES="$SINGLES $TMP/m$k.ckpt:$TMP/m$k.nc"
done
run_np "$NP" predict -ckpt "$TMP/ens.ckpt" -data "$TMP/sim.nc" -o "$TMP/ens.nc" > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "predict ensemble"; }
grep -q "ensemble of 3 members" "$TMP/log" || { cat "$TMP/log"; fail "predict did not say it runs an ensemble"; }
run_np "$NP" eval -pred "$TMP/ens.nc" -data "$TMP/sim.nc" $BOX -eval_json "$TMP/eval.json" > "$TMP/eval.log" 2>&1 || { cat "$TMP/eval.log"; fail "eval"; }
grep -q "in1sd" "$TMP/eval.log" || { cat "$TMP/eval.log"; fail "eval shows no calibration"; }
$PY "$HERE/check_ensemble.py" "$TMP/ens.ckpt" "$TMP/ens.nc" "$TMP/ens.json" "$TMP/eval.json" "$TMP/sim.nc" $SINGLES || fail "ensemble against its single runs"
# -predict_members 1: member 0 alone is the single model of seed 7
run_np "$NP" predict -quiet -predict_members 1 -ckpt "$TMP/ens.ckpt" -data "$TMP/sim.nc" -o "$TMP/ens1.nc" > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "predict -predict_members 1"; }
$PY - "$TMP/ens1.nc" "$TMP/m0.nc" <<'PYEOF' || fail "-predict_members 1 differs from the single run"
import sys
import netCDF4
import numpy as np
a, b = netCDF4.Dataset(sys.argv[1]), netCDF4.Dataset(sys.argv[2])
assert not [v for v in a.variables if v.endswith("_spread") or v.endswith("_member_sd")], "spread written for one member"
for t in ("GPP", "RECO", "NEE", "FCH4"):
    x, y = np.ma.filled(a[t][:], np.nan), np.ma.filled(b[t][:], np.nan)
    assert np.array_equal(x, y, equal_nan=True), t
print("ok -predict_members 1 equals the single run of member 0's seed")
PYEOF

# stopped inside member 2, resumed: the checkpoint of the run that never stopped
if [ "$NP" -eq 1 ]; then
  "$RACI" train $(echo "$A" | sed 's/-quiet//') -train_steps 150 -ensemble 3 -train_seed 7 -o "$TMP/part.ckpt" > "$TMP/part.log" 2>&1 &
  sig=TERM
else
  mpirun -q -n "$NP" "$RACI" train $(echo "$A" | sed 's/-quiet//') -train_steps 150 -ensemble 3 -train_seed 7 -o "$TMP/part.ckpt" > "$TMP/part.log" 2>&1 &
  sig=USR1
fi
pid=$!
i=0
until grep -q "member 2 of 3" "$TMP/part.log" 2> /dev/null; do
  i=$((i + 1)); [ $i -gt 1200 ] && { kill $pid; fail "no second member after 120 s"; }
  sleep 0.1
done
kill -$sig $pid
wait $pid; rc=$?
[ $rc -eq 0 ] || { cat "$TMP/part.log"; fail "signalled run exited $rc"; }
grep -q "stopped by signal" "$TMP/part.log" || { cat "$TMP/part.log"; fail "the run finished before the signal"; }
run_np "$NP" train $A -train_steps 150 -ensemble 3 -train_seed 7 -o "$TMP/part.ckpt" -resume > "$TMP/resume.log" 2>&1 || { cat "$TMP/resume.log"; fail "resume"; }
run_np "$NP" train $A -train_steps 150 -ensemble 3 -train_seed 7 -o "$TMP/full.ckpt" > "$TMP/full.log" 2>&1 || { cat "$TMP/full.log"; fail "uninterrupted run"; }
$PY "$HERE/ckpt.py" "$TMP/full.ckpt" "$TMP/part.ckpt" params best state bank_key ensemble m0.params m0.bank_key m0.bank_val m1.params m1.bank_key m1.bank_val || fail "resumed ensemble differs from the uninterrupted one"
echo "ok an ensemble stopped in member 2 resumes to the uninterrupted run's checkpoint"

# bad values: one line, non-zero exit, nothing written
for bad in "-ensemble 0:-ensemble" "-ensemble 65:-ensemble" "-ensemble 2 -train_seed 2147483000:-train_seed"; do
  opt=${bad%%:*} want=${bad#*:}
  if run_np "$NP" train $A $opt -o "$TMP/bad.ckpt" > "$TMP/out" 2> "$TMP/err"; then fail "$opt accepted"; fi
  [ "$(grep -c '^raci: error:' "$TMP/err")" -eq 1 ] && grep -q -- "$want" "$TMP/err" || { cat "$TMP/err"; fail "$opt: message"; }
  [ -e "$TMP/bad.ckpt" ] && fail "$opt wrote a checkpoint"
  echo "ok refuses $opt: $(grep '^raci: error:' "$TMP/err")"
done
before=$(cksum < "$TMP/full.ckpt")
if run_np "$NP" train $A -train_steps 150 -ensemble 2 -train_seed 7 -o "$TMP/full.ckpt" -resume > "$TMP/out" 2> "$TMP/err"; then fail "resume with another -ensemble accepted"; fi
grep -q -- "-ensemble 3 there, 2 here" "$TMP/err" || { cat "$TMP/err"; fail "resume with another -ensemble: message"; }
[ "$(cksum < "$TMP/full.ckpt")" = "$before" ] || fail "refused resume modified the checkpoint"
echo "ok refuses a resume with another -ensemble"
echo "test_ensemble: ok at $NP ranks"
