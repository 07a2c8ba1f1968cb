#!/bin/sh
# The held-out layouts of the multi-draw simulation benchmark (issue 15;
# tools/bench/sim_layouts.py), applied by raci on NP ranks: for the box
# layout and the climate-zone layout (a whole regime class,
# -split_test_class), every held-out cell of the rule (computed by the rule
# from the file, independently of raci) is in raci's test set, and no such
# cell is in training, validation or the memory bank; the test set is
# exactly the rule's cells. A class no usable cell has is refused in one line.
# usage: test_layouts.sh NP
. "$(dirname "$0")/../lib/common.sh"
NP=${1:?usage: test_layouts.sh NP}
PY=/usr/bin/python3
RULE="$(dirname "$0")/../../tools/bench/sim_layouts.py"

run_np 1 simulate -quiet -o "$TMP/sim.nc" -sim_lon -130,-70 -sim_lat 25,60 -sim_res 1 -sim_years 2 -sim_seed 5 > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "simulate"; }
SMALL="-raci_hidden 8 -raci_slow_hidden 8 -raci_z 4 -raci_attn 8 -raci_head 8 -raci_slow_days 120 -raci_blocks 4 -train_epochs 1 -train_steps 2 -train_batch 16 -train_seed 2 -split_val_frac 0.1"
for layout in boxes zone; do
  for seed in 5 6; do
    opts=$($PY "$RULE" "$TMP/sim.nc" "$layout" "$seed") || fail "rule $layout $seed"
    $PY "$RULE" "$TMP/sim.nc" "$layout" "$seed" --cells > "$TMP/cells-$layout-$seed.txt" || fail "rule cells"
    run_np "$NP" train -quiet -data "$TMP/sim.nc" -o "$TMP/$layout-$seed.ckpt" $SMALL $opts -train_report "$TMP/$layout-$seed.json" > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "train $layout $seed ($opts)"; }
    $PY - "$TMP/$layout-$seed.json" "$TMP/cells-$layout-$seed.txt" "$opts" <<'PYEOF' || fail "layout $layout $seed"
import sys, json
r = json.load(open(sys.argv[1]))
held = set(int(x) for x in open(sys.argv[2]).read().split())
tr, va, te, bank = (set(r[x + "_locations"]) for x in ("train", "validation", "test", "bank"))
assert held and bank, "empty rule or bank"
assert te == held, f"test set differs from the rule's cells: {len(te - held)} extra, {len(held - te)} missing"
for name, s in (("training", tr), ("validation", va), ("the memory bank", bank)):
    assert not (s & held), f"{len(s & held)} held-out cells in {name}"
print(f"  {sys.argv[3]}: {len(held)} held-out cells = raci's test set; none of {len(tr)} training, {len(va)} validation, {len(bank)} bank cells")
PYEOF
  done
done
refuses "-split_test_class 9" "no usable location" "$TMP/x.ckpt" train -data "$TMP/sim.nc" -o "$TMP/x.ckpt" $SMALL -split_test_class 9
echo "ok layouts on $NP rank(s)"
