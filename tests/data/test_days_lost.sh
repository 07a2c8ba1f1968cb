#!/bin/sh
# Days are never lost silently (issue 16): train and predict count, over every
# usable location, the days with drivers, those scored or predicted, those lost
# to driver gaps and to warm-up, and eval counts the observations left without
# a prediction; all checked against counts made here with numpy on a small
# simulation with holes cut by hand (one driver missing for 10 days at one
# cell: a gap, then 30 days of warm-up; every driver missing for 50 days at
# another: outside the record, then warm-up), on NP ranks and with two time
# chunks of predict.   usage: test_days_lost.sh NP
. "$(dirname "$0")/../lib/common.sh"
NP=${1:?usage: test_days_lost.sh NP}
PY=/usr/bin/python3

run_np 1 simulate -quiet -o "$TMP/sim.nc" -sim_lon -100,-90 -sim_lat 38,46 -sim_years 1 -sim_seed 3 > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "simulate"; }
$PY - "$TMP/sim.nc" "$TMP/want.txt" <<'PYEOF' || fail "cutting holes and counting"
import sys
import netCDF4
import numpy as np
W = 30
d = netCDF4.Dataset(sys.argv[1], "a")
fast = [v for v in d.variables if getattr(d[v], "raci_role", "") == "fast"]
slow = [v for v in d.variables if getattr(d[v], "raci_role", "") == "slow"]
x = np.array([np.ma.filled(d[v][:].astype(float), np.nan) for v in fast])  # (F, time, lat, lon)
land = np.all(np.isfinite(x), axis=(0, 1)) & np.all([np.isfinite(np.ma.filled(d[v][:].astype(float), np.nan)) for v in slow], axis=0)
ys, xs = np.nonzero(land)
a, b = (ys[0], xs[0]), (ys[len(ys) // 2], xs[len(xs) // 2])
x[0, 100:110, a[0], a[1]] = np.nan     # one driver missing: a gap
x[:, 200:250, b[0], b[1]] = np.nan     # every driver missing: outside the record
for k, v in enumerate(fast):
    d[v][:] = np.ma.masked_invalid(x[k])
d.close()
nt = x.shape[1]
n = np.zeros(4, int)  # with drivers, gap, warm-up, scored
for i, j in zip(ys, xs):
    have = np.isfinite(x[:, :, i, j])
    anyv, allv = have.any(axis=0), have.all(axis=0)
    run = 0
    for t in range(nt):
        if not anyv[t]:
            run = 0
            continue
        n[0] += 1
        if not allv[t]:
            n[1] += 1
            run = 0
            continue
        if run >= W:
            n[3] += 1
        else:
            n[2] += 1
        run += 1
open(sys.argv[2], "w").write(" ".join(map(str, n)) + "\n")
print(f"ok expected: {n[0]} location-days with drivers, {n[3]} scored, {n[1]} lost to gaps, {n[2]} to warm-up")
PYEOF
read -r ND NG NW NS < "$TMP/want.txt"
SMALL="-raci_hidden 8 -raci_slow_hidden 8 -raci_z 4 -raci_attn 8 -raci_head 8 -train_epochs 1 -train_steps 3 -train_batch 16"
run_np "$NP" train -data "$TMP/sim.nc" -o "$TMP/m.ckpt" $SMALL > "$TMP/train.log" 2>&1 || { cat "$TMP/train.log"; fail "train"; }
want="$ND location-days with drivers: $NS scored, $NG lost to driver gaps"
grep -q "raci train: $want (a driver missing on a day others have), $NW to warm-up" "$TMP/train.log" || { grep location-days "$TMP/train.log"; fail "train's count, want: $want, $NW to warm-up"; }
echo "ok train: $want, $NW to warm-up"
for chunk in 365 100; do
  run_np "$NP" predict -ckpt "$TMP/m.ckpt" -data "$TMP/sim.nc" -o "$TMP/p$chunk.nc" -predict_chunk_days $chunk -predict_diag_stride 0 > "$TMP/pred.log" 2>&1 || { cat "$TMP/pred.log"; fail "predict"; }
  want="$ND location-days with drivers: $NS predicted, $NG lost to driver gaps"
  grep -q "raci predict: $want (a driver missing on a day others have), $NW to warm-up" "$TMP/pred.log" || { grep location-days "$TMP/pred.log"; fail "predict's count (chunks of $chunk days), want: $want, $NW to warm-up"; }
  echo "ok predict in chunks of $chunk days: $want, $NW to warm-up"
done
# eval: the observations of the unpredicted days, counted here from the files
run_np "$NP" eval -pred "$TMP/p365.nc" -data "$TMP/sim.nc" -eval_json "$TMP/ev.json" > "$TMP/eval.log" 2>&1 || { cat "$TMP/eval.log"; fail "eval"; }
$PY - "$TMP/p365.nc" "$TMP/sim.nc" "$TMP/ev.json" <<'PYEOF' || fail "eval's count of observations without a prediction"
import json, sys
import netCDF4
import numpy as np
p, o, ev = netCDF4.Dataset(sys.argv[1]), netCDF4.Dataset(sys.argv[2]), json.load(open(sys.argv[3]))
for t, rec in ev["fluxes"].items():
    y = np.ma.filled(p[t][:].astype(float), np.nan)
    ob = np.ma.filled(o[t][:].astype(float), np.nan)
    want = int((np.isfinite(ob) & ~np.isfinite(y)).sum())
    assert rec["observed_without_prediction"] == want, (t, rec["observed_without_prediction"], want)
    print(f"ok eval {t}: {want} observations without a prediction")
PYEOF
echo "test_days_lost: ok at $NP ranks"
