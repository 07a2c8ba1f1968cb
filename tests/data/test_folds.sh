#!/bin/sh
# Towers on one time axis and leave-sites-out folds, across NP ranks:
#  - sites whose drivers exist only inside their own record (missing before
#    and after, and a gap inside) train and predict: predictions exist on
#    exactly the days after 30 warm-up days with drivers (segments restart after a gap), and
#    training on NP ranks gives the loss curve of 1 rank;
#  - -split_folds 5: every site is in the test set of exactly one fold, never
#    in training and test of the same fold, the folds are stratified by class
#    (each class spread evenly), the assignment is the same on 1 and NP
#    ranks, and the memory bank (functional retrieval) only holds training
#    sites;
#  - a target only some sites have (FCH4 kept at 8 sites here) has some of
#    them among the validation sites, whatever the draw gave;
#  - raci eval scores a target X against X_measured when the file has it;
#  - bad fold options are refused with one line.
# usage: test_folds.sh NP
. "$(dirname "$0")/../lib/common.sh"
NP=${1:?usage: test_folds.sh NP}
PY=/usr/bin/python3

run_np 1 simulate -quiet -o "$TMP/sim.nc" -sim_lon -100,-80 -sim_lat 34,50 -sim_years 2 -sim_seed 9 -sim_noise 0.1 > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "simulate"; }
# 40 sites (every 6th land cell) with records of their own: site k keeps
# drivers and targets on [a_k, b_k) and loses a 20-day gap inside for k % 5 == 0
$PY "$(dirname "$0")/../lib/grid_to_sites.py" "$TMP/sim.nc" "$TMP/sites.nc" 6 40 "$TMP/records.txt" || fail "making the site file"
SMALL="-raci_hidden 16 -raci_slow_hidden 8 -raci_z 4 -raci_attn 8 -raci_head 16 -raci_slow_days 120 -raci_blocks 4 -train_epochs 2 -train_steps 10 -train_batch 64 -train_lr 3e-3 -train_seed 2"

# folds: 1 rank and NP ranks
for k in 0 1 2 3 4; do
  for np in $( [ "$NP" -eq 1 ] || [ "$k" -ge 2 ] || echo 1) "$NP"; do # 1 rank too on folds 0 and 1, for the comparison
    run_np "$np" train -data "$TMP/sites.nc" -o "$TMP/f$k-$np.ckpt" $SMALL -split_folds 5 -split_fold $k -split_seed 7 -train_report "$TMP/f$k-$np.json" > "$TMP/f$k-$np.log" 2>&1 || { cat "$TMP/f$k-$np.log"; fail "train fold $k on $np ranks"; }
  done
done
$PY - "$TMP" "$NP" "$TMP/sites.nc" <<'EOF' || fail "folds"
import sys, json, re, collections, numpy as np, netCDF4
tmp, NP = sys.argv[1], int(sys.argv[2])
cls = np.asarray(netCDF4.Dataset(sys.argv[3])["class"][:])
n = len(cls)
seen = collections.Counter()
for k in range(5):
    r = json.load(open(f"{tmp}/f{k}-{NP}.json"))
    tr, va, te, bank = (set(r[x + "_locations"]) for x in ("train", "validation", "test", "bank"))
    assert not (tr & te) and not (va & te) and not (tr & va), f"fold {k}: a site in two splits"
    assert tr | va | te == set(range(n)), f"fold {k}: sites missing from every split"
    assert bank and bank <= tr, f"fold {k}: the memory bank holds non-training sites {sorted(bank - tr)}"
    m = n - len(te)  # validation: a tenth of the others, at least 3 of 10 or more (docs/DATA.md, "Splits")
    assert len(va) == min(max(round(0.1 * m), 3 if m >= 10 else 1), m - 1), f"fold {k}: {len(va)} validation sites of {m}"
    seen.update(te)
    # stratified: each class has floor or ceil of its share in every fold
    for c in set(cls.tolist()):
        m = int((cls == c).sum())
        got = sum(1 for i in te if cls[i] == c)
        assert m // 5 <= got <= -(-m // 5), f"fold {k}: class {c} has {got} of {m} sites in the test set"
    if k < 2 and NP != 1:
        q = json.load(open(f"{tmp}/f{k}-1.json"))
        for x in ("train", "validation", "test", "bank"):
            assert sorted(q[x + "_locations"]) == sorted(r[x + "_locations"]), f"fold {k}: {x} differs between 1 and {NP} ranks"
        curve = lambda p: [float(v) for v in re.findall(r"train loss (\S+)", open(p).read())]
        a, b = curve(f"{tmp}/f{k}-1.log"), curve(f"{tmp}/f{k}-{NP}.log")
        assert len(a) == len(b) == 2 and max(abs(x - y) / abs(x) for x, y in zip(a, b)) < 1e-5, (a, b)
assert sorted(seen) == list(range(n)) and max(seen.values()) == 1, "every site in exactly one test fold"
print(f"  5 folds over {n} sites: disjoint, stratified over {len(set(cls.tolist()))} classes, bank within training" + (f"; same on 1 and {NP} ranks" if NP != 1 else ""))
EOF

# a target only some sites have: FCH4 kept at 8 sites; validation holds some of them in every fold
$PY - "$TMP/sites.nc" "$TMP/ch4.nc" <<'EOF' || fail "making the FCH4 file"
import shutil, sys, netCDF4, numpy as np
shutil.copy(sys.argv[1], sys.argv[2])
d = netCDF4.Dataset(sys.argv[2], "a")
v = np.ma.filled(d["FCH4"][:].astype(float), np.nan)
v[:, 8:] = np.nan
d["FCH4"][:] = np.ma.masked_invalid(v)
d.close()
EOF
for k in 0 1; do
  run_np "$NP" train -data "$TMP/ch4.nc" -o "$TMP/c$k.ckpt" $SMALL -train_epochs 1 -split_folds 5 -split_fold $k -split_seed 7 -train_report "$TMP/c$k.json" > "$TMP/c$k.log" 2>&1 || { cat "$TMP/c$k.log"; fail "train with FCH4 at 8 sites, fold $k"; }
  $PY - "$TMP/c$k.json" <<'EOF' || fail "fold $k: no FCH4 site validates"
import json, sys
r = json.load(open(sys.argv[1]))
ch4 = set(range(8)) - set(r["test_locations"])
va = set(r["validation_locations"]) & ch4
assert va and (set(r["train_locations"]) & ch4), (sorted(ch4), r["validation_locations"])
assert r["validation"]["n_FCH4"] > 0, r["validation"]
print(f"  FCH4 at {len(ch4)} non-test sites: {len(va)} of them validate ({r['validation']['n_FCH4']:.0f} values)")
EOF
done

# predictions exist exactly on the days with W = 30 present days before them (segments restart after a gap)
run_np "$NP" predict -quiet -ckpt "$TMP/f0-$NP.ckpt" -data "$TMP/sites.nc" -o "$TMP/p.nc" -predict_chunk_days 90 || fail "predict"
$PY - "$TMP/p.nc" "$TMP/records.txt" <<'EOF' || fail "prediction days"
import sys, numpy as np, netCDF4
g = np.ma.getmaskarray(netCDF4.Dataset(sys.argv[1])["GPP"][:])
nt = g.shape[0]
for k, line in enumerate(open(sys.argv[2])):
    a, b, g0, g1 = map(int, line.split())
    ok = np.zeros(nt, bool)
    run = 0
    for d in range(nt):
        present = a <= d < b and not (g0 <= d < g1)
        run = run + 1 if present else 0
        ok[d] = run >= 31  # W = 30 days of drivers before the day, and the day itself
    assert (~g[:, k] == ok).all(), f"site {k}: predicted on {np.flatnonzero(~g[:, k])[:5]}..., expected {np.flatnonzero(ok)[:5]}..."
print(f"  predictions on exactly the days after a 30-day warm-up inside each site's record ({g.shape[1]} sites)")
EOF

# eval scores X_measured when present: perturb GPP, keep the truth (on fewer days) as GPP_measured
$PY - "$TMP/sites.nc" "$TMP/meas.nc" "$TMP/mask.nc" <<'EOF' || fail "making the measured-target files"
import sys, shutil, numpy as np, netCDF4
shutil.copy(sys.argv[1], sys.argv[2]); shutil.copy(sys.argv[1], sys.argv[3])
with netCDF4.Dataset(sys.argv[2], "a") as d:
    g = d["GPP"][:]
    keep = (np.arange(g.shape[0])[:, None] + np.arange(g.shape[1])[None, :]) % 3 != 0
    m = d.createVariable("GPP_measured", "f4", ("time", "site"), fill_value=np.float32(-9999))
    m.units = d["GPP"].units
    m[:] = np.ma.masked_where(~keep, g)
    d["GPP"][:] = g * 1.5 + 1
with netCDF4.Dataset(sys.argv[3], "a") as d:
    g = d["GPP"][:]
    d["GPP"][:] = np.ma.masked_where(~keep, g)
EOF
run_np "$NP" eval -pred "$TMP/p.nc" -data "$TMP/meas.nc" -split_folds 5 -split_fold 0 -split_seed 7 -eval_json "$TMP/e1.json" > "$TMP/e1.log" 2>&1 || { cat "$TMP/e1.log"; fail "eval with GPP_measured"; }
run_np "$NP" eval -pred "$TMP/p.nc" -data "$TMP/mask.nc" -split_folds 5 -split_fold 0 -split_seed 7 -eval_json "$TMP/e2.json" > "$TMP/e2.log" 2>&1 || { cat "$TMP/e2.log"; fail "eval on masked GPP"; }
$PY - "$TMP/e1.json" "$TMP/e2.json" <<'EOF' || fail "eval does not score X_measured"
import sys, json
a, b = (json.load(open(p)) for p in sys.argv[1:])
pa, pb = a["fluxes"]["GPP"]["pooled"], b["fluxes"]["GPP"]["pooled"]
assert pa == pb, (pa, pb)
print(f"  eval scored GPP_measured: pooled RMSE {pa['rmse']:.4g} over {pa['n']} values, as on the masked file")
EOF

# bad fold options
refuses "-split_fold 5 of 5" "split_fold" "$TMP/x.ckpt" train -data "$TMP/sites.nc" -o "$TMP/x.ckpt" $SMALL -split_folds 5 -split_fold 5
refuses "-split_folds 1" "split_folds" "$TMP/x.ckpt" train -data "$TMP/sites.nc" -o "$TMP/x.ckpt" $SMALL -split_folds 1
refuses "folds on a grid" "needs a site file" "$TMP/x.ckpt" train -data "$TMP/sim.nc" -o "$TMP/x.ckpt" $SMALL -split_folds 5
refuses "an unknown -split_strata" "no variable 'biome'" "$TMP/x.ckpt" train -data "$TMP/sites.nc" -o "$TMP/x.ckpt" $SMALL -split_folds 5 -split_strata biome
echo "test_folds: ok at $NP ranks"
