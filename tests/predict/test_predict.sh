#!/bin/sh
# raci train, predict and eval across NP ranks on a small simulation:
#  - the loss curve of training on NP ranks matches 1 rank (relative 1e-5);
#  - predictions on NP ranks match 1 rank, and time chunks (one segment, the
#    whole record) do not change them;
#  - NEE = RECO - GPP in the predictions; fill outside land and on the first
#    W = 30 days, every later land cell-day predicted;
#  - the tiling: a driver change inside segment 0 that keeps its slow block's
#    mean reaches the days segment 0 scores after it, and no other day;
#  - raci eval's held-out RMSE equals the one raci train computed itself, and
#    its metrics equal numpy's from the two files;
#  - the same on a site file (time, site) with held-out sites;
#  - bad input: truncated checkpoint, a grid without a variable the model
#    reads, other class values, wrong-shaped predictions: one error line,
#    non-zero exit, nothing written.
# usage: test_predict.sh NP
. "$(dirname "$0")/../lib/common.sh"
NP=${1:?usage: test_predict.sh NP}
PY=/usr/bin/python3

run_np 1 simulate -quiet -o "$TMP/sim.nc" -sim_lon -100,-80 -sim_lat 34,50 -sim_years 1 -sim_seed 5 -sim_noise 0.1 > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "simulate"; }
SMALL="-raci_hidden 16 -raci_slow_hidden 8 -raci_z 4 -raci_attn 8 -raci_head 16 -raci_slow_days 120 -raci_blocks 4 -train_epochs 3 -train_steps 15 -train_batch 32 -train_lr 3e-3 -train_seed 2"
SPLIT="-split_test_box -92,-88,40,44"

# training: NP ranks against 1 rank, epoch by epoch
for np in 1 "$NP"; do
  run_np "$np" train -data "$TMP/sim.nc" -o "$TMP/r$np.ckpt" -overwrite $SMALL $SPLIT -train_report "$TMP/r$np.json" > "$TMP/train$np.log" 2>&1 || { cat "$TMP/train$np.log"; fail "train on $np ranks"; }
done
$PY - "$TMP/train1.log" "$TMP/train$NP.log" <<'EOF' || fail "loss curves differ between 1 and $NP ranks"
import sys, re
def curve(p):
    return [(float(m.group(1)), float(m.group(2))) for m in re.finditer(r"train loss (\S+)\s+val loss (\S+)", open(p).read())]
a, b = curve(sys.argv[1]), curve(sys.argv[2])
assert len(a) == len(b) == 3, (a, b)
worst = max(abs(x - y) / abs(x) for p, q in zip(a, b) for x, y in zip(p, q))
print(f"  loss curve on {sys.argv[2].split('train')[-1][:-4]} ranks vs 1: largest relative difference {worst:.2e}")
assert worst < 1e-5, worst
EOF

# predictions: the record (365 days) is tiled into 4 segments of 30 + 90 days
# (docs/MODEL.md section 1); 1 rank and NP ranks, each with the whole record
# in one chunk and with chunks of one segment (-predict_chunk_days 50 rounds
# to one segment)
run_np 1 predict -ckpt "$TMP/r1.ckpt" -data "$TMP/sim.nc" -o "$TMP/p1.nc" -quiet -predict_chunk_days 36600 || fail "predict on 1 rank"
run_np 1 predict -ckpt "$TMP/r1.ckpt" -data "$TMP/sim.nc" -o "$TMP/p1s.nc" -quiet -predict_chunk_days 90 || fail "predict on 1 rank in chunks"
run_np "$NP" predict -ckpt "$TMP/r1.ckpt" -data "$TMP/sim.nc" -o "$TMP/pw.nc" -quiet -predict_chunk_days 400 || fail "predict on $NP ranks"
run_np "$NP" predict -ckpt "$TMP/r1.ckpt" -data "$TMP/sim.nc" -o "$TMP/pn.nc" -predict_chunk_days 50 > "$TMP/pred.log" 2>&1 || { cat "$TMP/pred.log"; fail "predict on $NP ranks in chunks"; }
grep -q "4 segment(s) of 30 + 90 days in 4 chunk(s)" "$TMP/pred.log" && grep -q "chunk 4/4 (days 300-364)" "$TMP/pred.log" || { cat "$TMP/pred.log"; fail "no progress per chunk of one segment"; }
# with whole rows per rank (8 or more each: 16 rows on 2 ranks), rows are cut
# by land cells, so ranks differ by at most about one 20-cell row
set -- $(sed -n 's/.*usable locations per rank: min \([0-9]*\), max \([0-9]*\).*/\1 \2/p' "$TMP/pred.log")
[ $# -eq 2 ] || { cat "$TMP/pred.log"; fail "no count of locations per rank"; }
if [ "$NP" -eq 2 ]; then
  [ $(($2 - $1)) -le 20 ] || { cat "$TMP/pred.log"; fail "unbalanced decomposition: $*"; }
fi
echo "  land cells per rank on $NP ranks: min $1, max $2"
ls "$TMP"/*.tmp > /dev/null 2>&1 && fail "temporary file left"
$PY - "$NP" "$TMP/p1.nc" "$TMP/p1s.nc" "$TMP/pw.nc" "$TMP/pn.nc" "$TMP/sim.nc" <<'EOF' || fail "predictions"
import sys, numpy as np, netCDF4
np_ = sys.argv[1]
p1, p1s, pw, pn, s = (netCDF4.Dataset(p) for p in sys.argv[2:7])
def val(d, v): return np.ma.filled(d[v][:].astype(float), np.nan)
# chunks of one segment against one chunk (1 rank, NP ranks), NP ranks against 1 rank
for (a, b, what) in ((p1, p1s, "1 rank, chunks of one segment vs one chunk"),
                     (pw, pn, f"{np_} ranks, chunks of one segment vs one chunk"),
                     (p1, pw, f"{np_} ranks vs 1 rank"), (p1, pn, f"{np_} ranks in chunks vs 1 rank in one")):
    worst = 0
    for v in ("GPP", "RECO", "NEE", "FCH4", "regime_embedding", "share_fast", "share_slow"):
        x, y = val(a, v), val(b, v)
        assert np.array_equal(np.isnan(x), np.isnan(y)), (what, v)
        rel = np.nanmax(np.abs(x - y)) / max(np.nanmax(np.abs(x)), 1e-30)
        assert rel < 1e-5, (what, v, rel)
        worst = max(worst, rel)
    print(f"  {what}: largest relative difference {worst:.1e}")
g, r, n = (val(p1, v) for v in ("GPP", "RECO", "NEE"))
assert np.nanmax(np.abs(n - (r - g))) < 1e-5 * np.nanmax(np.abs(r)), "NEE != RECO - GPP"
assert np.nanmin(g) >= 0 and np.nanmin(r) >= 0
land = ~np.ma.getmaskarray(s["TA"][0])
# days 0 .. W-1 are fill; every later day of every land cell is scored (no gaps in a simulation)
assert np.all(np.isnan(g[:30])), "predictions before W = 30 days of warm-up"
assert np.array_equal(~np.isnan(g[30:]), np.broadcast_to(land, g[30:].shape)), "not every land cell-day from day 30 predicted"
fs, ss = (val(p1, v) for v in ("share_fast", "share_slow"))
assert np.allclose((fs + ss)[land], 1, atol=1e-5) and np.nanmin(fs) >= 0
assert p1["GPP"].units == s["GPP"].units and p1.Conventions == "CF-1.8"
print(f"  NEE = RECO - GPP; days 0-29 fill, every land cell predicted from day 30 on; {land.sum()} land cells")
EOF

# the tiling (segment n covers days 90n .. 90n + 119 and scores 90n + 30 ..
# 90n + 119): TA raised on day 85 and lowered as much on day 86, so the mean of
# their slow block (days 60-89) stays the same. Segment 0 (days 0-119) sees
# both days; segment 1 (days 90-209) and the later ones see neither, only the
# unchanged block mean. So the predictions of days 0-84 stay the same, some of
# days 85-119 change, and days 120-364 stay the same (to the float rounding of
# the block sum).
$PY - "$TMP/sim.nc" "$TMP/kick.nc" <<'EOF'
import sys, netCDF4
src = netCDF4.Dataset(sys.argv[1])
with netCDF4.Dataset(sys.argv[2], "w", format="NETCDF3_64BIT_DATA") as d:
    d.setncatts({a: src.getncattr(a) for a in src.ncattrs()})
    for n, dim in src.dimensions.items(): d.createDimension(n, len(dim))
    for n, v in src.variables.items():
        w = d.createVariable(n, v.dtype, v.dimensions, fill_value=getattr(v, "_FillValue", None))
        w.setncatts({a: v.getncattr(a) for a in v.ncattrs() if a != "_FillValue"})
        x = v[:]
        if n == "TA":
            x[85] += 3.0
            x[86] -= 3.0
        w[:] = x
EOF
run_np "$NP" predict -quiet -ckpt "$TMP/r1.ckpt" -data "$TMP/kick.nc" -o "$TMP/pk.nc" -predict_chunk_days 400 -predict_diag_stride 0 || fail "predict on the changed drivers"
$PY - "$TMP/pw.nc" "$TMP/pk.nc" <<'EOF' || fail "the tiling"
import sys, numpy as np, netCDF4
a, b = (np.ma.filled(netCDF4.Dataset(p)["GPP"][:].astype(float), np.nan) for p in sys.argv[1:3])
d = np.abs(a - b) / np.nanmax(np.abs(a))
before, seg0, after = np.nanmax(d[30:85]), np.nanmax(d[85:120]), np.nanmax(d[120:])
print(f"  tiling: TA changed on days 85-86 moves days 30-84 by {before:.1e}, 85-119 by {seg0:.1e}, 120-364 by {after:.1e}")
assert before == 0, before
assert seg0 > 1e-3, seg0
assert after < 1e-5, after
EOF

# eval: the held-out RMSE of raci train, and numpy's metrics from the files
run_np "$NP" eval -pred "$TMP/p1.nc" -data "$TMP/sim.nc" $SPLIT -eval_json "$TMP/ev.json" > "$TMP/eval.log" 2>&1 || { cat "$TMP/eval.log"; fail "eval"; }
grep -q "GPP .*pooled" "$TMP/eval.log" || { cat "$TMP/eval.log"; fail "eval table"; }
$PY - "$TMP/ev.json" "$TMP/r1.json" "$TMP/p1.nc" "$TMP/sim.nc" <<'EOF' || fail "eval metrics"
import sys, json, numpy as np, netCDF4
ev, tr = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
p, s = netCDF4.Dataset(sys.argv[3]), netCDF4.Dataset(sys.argv[4])
lon, lat = s["lon"][:], s["lat"][:]
box = ((lat >= 40) & (lat <= 44))[:, None] & ((lon >= -92) & (lon <= -88))[None, :]
for t in ("GPP", "RECO", "NEE", "FCH4"):
    m = ev["fluxes"][t]["pooled"]
    assert abs(m["rmse"] - tr["test"]["rmse_" + t]) <= 1e-4 * tr["test"]["rmse_" + t], (t, m["rmse"], tr["test"]["rmse_" + t])
    x, o = (np.ma.filled(d[t][:].astype(float), np.nan)[:, box] for d in (p, s))
    ok = ~np.isnan(x) & ~np.isnan(o)
    x, o = x[ok], o[ok]
    want = {"n": x.size, "rmse": np.sqrt(np.mean((x - o) ** 2)), "bias": np.mean(x - o)}
    if np.std(o) > 0:
        want["nse"] = 1 - np.sum((x - o) ** 2) / np.sum((o - o.mean()) ** 2)
        want["r2"] = np.corrcoef(x, o)[0, 1] ** 2
        want["nrmse"] = want["rmse"] / np.mean(np.abs(o))
    for k, v in want.items():
        assert abs(m[k] - v) <= 1e-4 * max(abs(v), 1e-3), (t, k, m[k], v)
    locs = ev["fluxes"][t]["locations"]
    assert len(locs) == int(box.sum()) and sum(l["metrics"]["n"] for l in locs) == x.size
print("  eval: held-out RMSE as raci train reported; metrics as numpy computes them")
EOF

# sites: the same grid as a tower file (every 7th land cell), three sites held out
$PY "$(dirname "$0")/../lib/grid_to_sites.py" "$TMP/sim.nc" "$TMP/sites.nc" 7 || fail "making the site file"
run_np "$NP" train -quiet -data "$TMP/sites.nc" -o "$TMP/s.ckpt" $SMALL -split_test_sites S001,S010,S020 -train_report "$TMP/s.json" > "$TMP/s.log" 2>&1 || { cat "$TMP/s.log"; fail "train on sites"; }
run_np "$NP" predict -quiet -ckpt "$TMP/s.ckpt" -data "$TMP/sites.nc" -o "$TMP/ps.nc" -predict_chunk_days 100 || fail "predict on sites"
run_np 1 predict -quiet -ckpt "$TMP/s.ckpt" -data "$TMP/sites.nc" -o "$TMP/ps1.nc" || fail "predict on sites, 1 rank"
run_np "$NP" eval -pred "$TMP/ps.nc" -data "$TMP/sites.nc" -split_test_sites S001,S010,S020 -eval_json "$TMP/evs.json" > "$TMP/evs.log" 2>&1 || { cat "$TMP/evs.log"; fail "eval on sites"; }
grep -q "site S010" "$TMP/evs.log" || { cat "$TMP/evs.log"; fail "no per-site rows"; }
$PY - "$TMP/evs.json" "$TMP/s.json" "$TMP/ps.nc" "$TMP/ps1.nc" <<'EOF' || fail "sites"
import sys, json, numpy as np, netCDF4
ev, tr = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
for t in ("GPP", "NEE"):
    a, b = ev["fluxes"][t]["pooled"]["rmse"], tr["test"]["rmse_" + t]
    assert abs(a - b) <= 1e-4 * b, (t, a, b)
    assert sorted(l["id"] for l in ev["fluxes"][t]["locations"]) == ["S001", "S010", "S020"]
x, y = (np.ma.filled(netCDF4.Dataset(p)["GPP"][:].astype(float), np.nan) for p in sys.argv[3:5])
assert x.shape[1] == y.shape[1] and np.nanmax(np.abs(x - y)) <= 1e-5 * np.nanmax(np.abs(y))
assert netCDF4.Dataset(sys.argv[3])["share_fast"].dimensions == ("site",)
print(f"  sites: {x.shape[1]} sites predicted; held-out RMSE of eval equals raci train's")
EOF

# bad input: one error line, non-zero exit, nothing written
bad() { # label, expected message part, raci args...
  label=$1 want=$2
  shift 2
  refuses "$label" "$want" "$TMP/bad.nc" "$@"
}
head -c 5000 "$TMP/r1.ckpt" > "$TMP/trunc.ckpt"
bad "a truncated checkpoint" "trunc.ckpt" predict -ckpt "$TMP/trunc.ckpt" -data "$TMP/sim.nc" -o "$TMP/bad.nc"
$PY - "$TMP/sim.nc" "$TMP/noswc.nc" "$TMP/cls.nc" <<'EOF'
import sys, netCDF4
src = netCDF4.Dataset(sys.argv[1])
for out, mode in ((sys.argv[2], "drop"), (sys.argv[3], "classes")):
    with netCDF4.Dataset(out, "w", format="NETCDF3_64BIT_DATA") as d:
        for n, dim in src.dimensions.items(): d.createDimension(n, len(dim))
        for n, v in src.variables.items():
            if mode == "drop" and n == "SWC": continue
            w = d.createVariable(n, v.dtype, v.dimensions, fill_value=getattr(v, "_FillValue", None))
            for a in v.ncattrs():
                if a == "_FillValue": continue
                val = v.getncattr(a)
                if mode == "classes" and n == "class" and a == "flag_values": val = val[:-1]
                w.setncattr(a, val)
            w[:] = v[:]
EOF
bad "a grid without a fast driver" "no variable 'SWC'" predict -ckpt "$TMP/r1.ckpt" -data "$TMP/noswc.nc" -o "$TMP/bad.nc"
bad "other class values" "other classes" predict -ckpt "$TMP/r1.ckpt" -data "$TMP/cls.nc" -o "$TMP/bad.nc"
run_np 1 simulate -quiet -o "$TMP/other.nc" -sim_lon -100,-90 -sim_lat 35,50 -sim_years 1 -sim_seed 5 > /dev/null 2>&1 || fail "simulate"
bad "predictions of another grid" "evaluate predictions on the file they were made for" eval -pred "$TMP/p1.nc" -data "$TMP/other.nc" -eval_json "$TMP/bad.nc"
bad "a checkpoint that is not one" "not a raci checkpoint" predict -ckpt "$TMP/sim.nc" -data "$TMP/sim.nc" -o "$TMP/bad.nc"
echo "test_predict: ok at $NP ranks"
