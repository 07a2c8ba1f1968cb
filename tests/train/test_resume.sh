#!/bin/sh
# Preemption: a training run stopped by a signal (SIGTERM without mpirun,
# SIGUSR1 through mpirun, as Slurm sends them) saves its state at a step
# boundary and exits 0; resumed with -resume it ends with exactly the model,
# optimiser state and memory bank of a run that never stopped. A truncated
# checkpoint, a foreign file and a checkpoint of another configuration are
# refused with one line.   usage: test_resume.sh NP
. "$(dirname "$0")/../lib/common.sh"
NP=${1:?usage: test_resume.sh NP}
HERE=$(dirname "$0")
PY=/usr/bin/python3

run_np 1 simulate -quiet -o "$TMP/sim.nc" -sim_lon -100,-80 -sim_lat 35,50 -sim_years 1 -sim_seed 5 > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "simulate"; }
A="-data $TMP/sim.nc -raci_hidden 16 -raci_slow_hidden 8 -raci_z 4 -raci_attn 8 -raci_head 16 -raci_slow_days 120 -raci_blocks 4 -train_epochs 3 -train_steps 400 -train_batch 32 -split_test_box -92,-88,40,44"

run_np "$NP" train $A -o "$TMP/full.ckpt" > "$TMP/full.log" 2>&1 || { cat "$TMP/full.log"; fail "uninterrupted run"; }

# the run to stop: wait for its first epoch, then signal it
if [ "$NP" -eq 1 ]; then
  "$RACI" train $A -o "$TMP/part.ckpt" > "$TMP/part.log" 2>&1 &
  sig=TERM
else
  mpirun -q -n "$NP" "$RACI" train $A -o "$TMP/part.ckpt" > "$TMP/part.log" 2>&1 &
  sig=USR1 # mpirun forwards SIGUSR1 to the ranks
fi
pid=$!
i=0
until grep -q "^epoch   1" "$TMP/part.log"; do
  i=$((i + 1)); [ $i -gt 600 ] && { kill $pid; fail "no first epoch after 60 s"; }
  sleep 0.1
done
kill -$sig $pid
wait $pid; rc=$?
[ $rc -eq 0 ] || { cat "$TMP/part.log"; fail "signalled run exited $rc"; }
grep -q "stopped by signal" "$TMP/part.log" || { cat "$TMP/part.log"; fail "the run finished before the signal (machine too fast for this test?)"; }
ls "$TMP"/*.tmp > /dev/null 2>&1 && fail "temporary checkpoint left"
echo "ok stopped: $(grep 'stopped by signal' "$TMP/part.log")"

run_np "$NP" train $A -o "$TMP/part.ckpt" -resume > "$TMP/resume.log" 2>&1 || { cat "$TMP/resume.log"; fail "resume"; }
grep -q "resuming from" "$TMP/resume.log" || fail "did not resume"
$PY "$HERE/ckpt.py" "$TMP/full.ckpt" "$TMP/part.ckpt" params best adam_m adam_v state bank_key bank_val bank_owner || fail "resumed run differs from the uninterrupted one"
[ "$(grep RMSE "$TMP/full.log")" = "$(grep RMSE "$TMP/resume.log")" ] || fail "final errors differ"
echo "ok resumed run equals the uninterrupted run ($NP ranks)"

# bad checkpoints: one error line, non-zero exit, the file untouched
head -c 2000 "$TMP/full.ckpt" > "$TMP/trunc.ckpt"
printf 'not a checkpoint\n' > "$TMP/foreign.ckpt"
cp "$TMP/full.ckpt" "$TMP/other.ckpt"
for case in "trunc:checksum" "foreign:not a raci checkpoint" "other:different model configuration"; do
  name=${case%%:*} want=${case#*:}
  extra=""; [ "$name" = other ] && extra="-raci_hidden 8"
  before=$(cksum < "$TMP/$name.ckpt")
  if run_np "$NP" train $A $extra -o "$TMP/$name.ckpt" -resume > "$TMP/out" 2> "$TMP/err"; then fail "resume from $name checkpoint succeeded"; fi
  [ "$(grep -c '^raci: error:' "$TMP/err")" -eq 1 ] && grep -q "$want" "$TMP/err" || { cat "$TMP/err"; fail "$name checkpoint: message"; }
  [ "$(cksum < "$TMP/$name.ckpt")" = "$before" ] || fail "$name checkpoint was modified"
  echo "ok refuses $name checkpoint: $(cat "$TMP/err")"
done
echo "test_resume: ok at $NP ranks"
