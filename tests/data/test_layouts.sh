#!/bin/sh
# The held-out layouts of the multi-draw simulation benchmark (issue 15;
# tools/bench/sim_layouts.py), applied by raci on NP ranks: for the box
# layout and the climate-zone layout (a whole regime class,
# -split_test_class), every held-out cell of the rule (computed by the rule
# from the file, independently of raci) is in raci's test set, and no such
# cell is in training, validation or the memory bank; the test set is
# exactly the rule's cells. A class no training location has is "unknown" (its
# one-hot input 0). A class no usable cell has is refused in one line.
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
# a class no training location has is "unknown" (its one-hot input 0, not its untrained
# weights): hold out classes 3 and 5; cells of class 3 relabelled 5 (both unknown) give the
# same predictions, relabelled 2 (a trained class) other ones; train and predict warn
run_np "$NP" train -data "$TMP/sim.nc" -o "$TMP/u.ckpt" $SMALL -split_test_class 3,5 > "$TMP/u.log" 2>&1 || { cat "$TMP/u.log"; fail "train without classes 3 and 5"; }
grep -q "warning: .* locations of .* have class = 3, a class no training location has" "$TMP/u.log" || { cat "$TMP/u.log"; fail "no warning of the unknown class 3"; }
$PY - "$TMP/sim.nc" "$TMP" <<'PYEOF' || fail "relabelling"
import sys, shutil, netCDF4
for to in (5, 2):
    out = f"{sys.argv[2]}/sim-{to}.nc"
    shutil.copy(sys.argv[1], out)
    d = netCDF4.Dataset(out, "a")
    c = d["class"][:]
    c[c == 3] = to
    d["class"][:] = c
    d.close()
PYEOF
for f in sim sim-5 sim-2; do
  run_np "$NP" predict -ckpt "$TMP/u.ckpt" -data "$TMP/$f.nc" -o "$TMP/p-$f.nc" -predict_diag_stride 0 > "$TMP/p.log" 2>&1 || { cat "$TMP/p.log"; fail "predict $f"; }
done
grep -q "warning: .* have class = 5, a class no training location has" "$TMP/p.log" || fail "predict does not warn of class 5"
$PY - "$TMP" <<'PYEOF' || fail "unknown classes"
import sys, numpy as np, netCDF4
t = sys.argv[1]
cls = netCDF4.Dataset(f"{t}/sim.nc")["class"][:]
g = {f: np.ma.filled(netCDF4.Dataset(f"{t}/p-{f}.nc")["GPP"][:], np.nan) for f in ("sim", "sim-5", "sim-2")}
m = np.broadcast_to(np.ma.filled(cls, -1) == 3, g["sim"].shape) & np.isfinite(g["sim"])
assert m.any()
d5, d2 = np.abs(g["sim"][m] - g["sim-5"][m]).max(), np.abs(g["sim"][m] - g["sim-2"][m]).max()
assert d5 == 0, f"class 3 and class 5 cells (both unknown) differ by {d5}"
assert d2 > 1e-3, f"relabelling to a trained class changes nothing ({d2})"
print(f"  unknown classes: class 3 cells as 5: identical; as 2: GPP moves by up to {d2:.3f}")
PYEOF
refuses "-split_test_class 9" "no usable location" "$TMP/x.ckpt" train -data "$TMP/sim.nc" -o "$TMP/x.ckpt" $SMALL -split_test_class 9
echo "ok layouts on $NP rank(s)"
