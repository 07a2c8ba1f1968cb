#!/bin/sh
# Checkpoint schema (docs/MODEL.md "Checkpoint format"): every integer is an
# int64 whatever the writer's PetscInt, so a checkpoint that says it was
# written by a 64-bit-index PETSc build (its recorded width rewritten to 8,
# checksum recomputed) predicts and resumes exactly as the original; integers
# that do not fit this build's PetscInt, a corrupt field, a checkpoint of
# the old schema (raw structs) and one of the windowed model (schema 2) are
# refused with one line.
# usage: test_ckpt_width.sh NP
. "$(dirname "$0")/../lib/common.sh"
NP=${1:?usage: test_ckpt_width.sh NP}
HERE=$(dirname "$0")
PY=/usr/bin/python3
CK="$PY $HERE/ckpt.py"

run_np 1 simulate -quiet -o "$TMP/sim.nc" -sim_lon -100,-80 -sim_lat 35,50 -sim_years 1 -sim_seed 5 > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "simulate"; }
A="-data $TMP/sim.nc -raci_hidden 16 -raci_slow_hidden 8 -raci_z 4 -raci_attn 8 -raci_head 16 -raci_slow_days 120 -raci_blocks 4 -train_steps 15 -train_batch 32 -split_test_box -92,-88,40,44"
run_np "$NP" train -quiet $A -train_epochs 1 -o "$TMP/a.ckpt" > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "train"; }
$CK "$TMP/a.ckpt" | grep -q "written with a 4-byte PetscInt" || { $CK "$TMP/a.ckpt"; fail "the writer's PetscInt width is not recorded as 4"; }
$CK set "$TMP/a.ckpt" "$TMP/w8.ckpt" format 1 8 || fail "rewriting the width"
$CK "$TMP/w8.ckpt" | grep -q "written with a 8-byte PetscInt" || fail "width 8 not written"

# predict: the same file name (it is recorded in the output), identical values
for w in a w8; do
  cp "$TMP/$w.ckpt" "$TMP/m.ckpt"
  run_np "$NP" predict -quiet -ckpt "$TMP/m.ckpt" -data "$TMP/sim.nc" -o "$TMP/p-$w.nc" -predict_chunk_days 100 || fail "predict with the $w checkpoint"
done
same_nc "$TMP/p-a.nc" "$TMP/p-w8.nc" || fail "predictions from the 8-byte-width checkpoint differ"
echo "ok predict reads a checkpoint of a 64-bit-index build: identical predictions"

# resume: one more epoch from each, identical models, optimiser state and bank
for w in a w8; do
  cp "$TMP/$w.ckpt" "$TMP/r-$w.ckpt"
  run_np "$NP" train $A -train_epochs 2 -o "$TMP/r-$w.ckpt" -resume > "$TMP/r-$w.log" 2>&1 || { cat "$TMP/r-$w.log"; fail "resume from the $w checkpoint"; }
  grep -q "resuming from" "$TMP/r-$w.log" || fail "$w: did not resume"
done
$CK "$TMP/r-a.ckpt" "$TMP/r-w8.ckpt" params best adam_m adam_v state bank_key bank_val bank_owner bank_lkey || fail "resumed runs differ"
[ "$(grep RMSE "$TMP/r-a.log")" = "$(grep RMSE "$TMP/r-w8.log")" ] || fail "final errors differ"
echo "ok resume reads a checkpoint of a 64-bit-index build: identical results"

# refused with one line: a value beyond this build's PetscInt, corrupt fields, the old schema
$CK set "$TMP/w8.ckpt" "$TMP/bigseed.ckpt" train_opts 9 1099511627776 || fail "rewriting the seed"
refuses "a seed beyond 32 bits" "section 'train_opts': -train_seed is 1099511627776, outside" "$TMP/x.ckpt" \
  train $A -train_epochs 2 -o "$TMP/bigseed.ckpt" -resume
$CK set "$TMP/a.ckpt" "$TMP/w3.ckpt" format 1 3 || fail "rewriting the width"
refuses "a corrupt PetscInt width" "invalid: section 'format': the writer's PetscInt width is 3" "$TMP/x.nc" \
  predict -ckpt "$TMP/w3.ckpt" -data "$TMP/sim.nc" -o "$TMP/x.nc"
$CK set "$TMP/a.ckpt" "$TMP/h0.ckpt" model 10 0 || fail "rewriting -raci_hidden"
refuses "a corrupt model size" "section 'model': -raci_hidden is 0" "$TMP/x.nc" \
  predict -ckpt "$TMP/h0.ckpt" -data "$TMP/sim.nc" -o "$TMP/x.nc"
$PY - "$TMP/a.ckpt" "$TMP/old.ckpt" "$HERE" <<'PYEOF' || fail "making a schema-1 checkpoint"
import sys
sys.path.insert(0, sys.argv[3])
import ckpt
sec = ckpt.read(sys.argv[1])
del sec["format"]
ckpt.write(sys.argv[2], sec)
PYEOF
refuses "a checkpoint of schema 1" "was written by an older raci (checkpoint schema 1); train the model again" "$TMP/x.nc" \
  predict -ckpt "$TMP/old.ckpt" -data "$TMP/sim.nc" -o "$TMP/x.nc"
$CK set "$TMP/a.ckpt" "$TMP/s2.ckpt" format 0 2 || fail "rewriting the schema"
W2="$TMP/s2.ckpt: a checkpoint of the windowed model (schema 2, raci before the segment form); retrain it with this raci"
refuses "a checkpoint of the windowed model (predict)" "$W2" "$TMP/x.nc" \
  predict -ckpt "$TMP/s2.ckpt" -data "$TMP/sim.nc" -o "$TMP/x.nc"
cp "$TMP/s2.ckpt" "$TMP/s2r.ckpt"
refuses "a checkpoint of the windowed model (-resume)" "$TMP/s2r.ckpt: a checkpoint of the windowed model" "$TMP/x.ckpt" \
  train $A -train_epochs 2 -o "$TMP/s2r.ckpt" -resume
refuses "a checkpoint of the windowed model (-init_from)" "$W2" "$TMP/x.ckpt" \
  train $A -train_epochs 1 -init_from "$TMP/s2.ckpt" -o "$TMP/x.ckpt"
echo "test_ckpt_width: ok at $NP ranks"
