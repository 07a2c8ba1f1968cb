#!/bin/sh
# Driver availability (issue 16, DESIGN.md section 3) on NP ranks, with real
# FLUXNET2015 sites (raci prep) and a precipitation driver P added here at
# every site but one (AU-How: P absent, as at a network that measures none):
#  - training keeps AU-How (P enters as 0 with its availability flag) and says
#    which inputs have flags and where they are absent;
#  - the flag reaches the model: AU-How predicted with P absent differs from
#    AU-How with P present at its training mean (normalised 0: the same input
#    but for the flag);
#  - a model trained where every site has P, without -train_input_dropout,
#    has no flag for P: a site without P is left out with a warning (fill
#    values), not filled with 0; with -train_input_dropout every input has a
#    flag, and the site is predicted;
#  - a hole in a flagged driver (P missing for 40 days at a site that has
#    it) loses no day: the segments reading it enter P as absent, exactly as
#    at a site without P, and segments before it are predicted as without it;
#  - where every site has P, a hole shorter than 120 days is a gap (no flag)
#    and a longer one (a network's years without it) gives P a flag;
#  - predictions on NP ranks equal those on 1.
# usage: test_availability.sh NP
. "$(dirname "$0")/../lib/common.sh"
NP=${1:?usage: test_availability.sh NP}
PY=/usr/bin/python3
F15="$RACI_SHARED_DATA/towers/fluxnet2015-daily"
SITES="AU-How DE-Tha US-Ha1 FR-Pue CH-Dav US-Me2 IT-Ro1 FI-Hyy"
mkdir -p "$TMP/f15"
cp "$F15/sites.csv" "$TMP/f15/"
for s in $SITES; do
  f=$(ls "$F15"/FLX_"$s"_FLUXNET2015_DD_*.csv) || fail "no file for $s"
  head -n 700 "$f" > "$TMP/f15/$(basename "$f")"
done
"$RACI" prep -quiet -format fluxnet2015 -i "$TMP/f15" -o "$TMP/base.nc" -prep_out_of_range missing || fail "prep"
# P: a made-up daily precipitation at every site but AU-How, with the fast role;
# variants: every site has P, AU-How without P, AU-How with P at the training mean
$PY - "$TMP" <<'EOF' || fail "making the files"
import sys, shutil, numpy as np, netCDF4
t = sys.argv[1]
def ids(d):
    return ["".join(c.decode() for c in r if c not in (b"", b"\x00")) for r in d["site_id"][:].filled(b"")]
for name in ("all", "noP", "meanP"):
    shutil.copy(f"{t}/base.nc", f"{t}/{name}.nc")
    d = netCDF4.Dataset(f"{t}/{name}.nc", "a")
    ta = np.ma.filled(d["TA"][:].astype(float), np.nan)
    p = np.where(np.isfinite(ta), 2.0 + 2.0 * np.sin(0.37 * np.arange(ta.shape[0]))[:, None] + 0.05 * np.abs(ta), np.nan)
    s = ids(d).index("AU-How")
    if name != "all":
        keep = [i for i in range(p.shape[1]) if i != s]
        mean = float(np.nanmean(p[:, keep]))  # every other site trains, as in the test below
        p[:, s] = np.nan if name == "noP" else np.where(np.isfinite(ta[:, s]), mean, np.nan)
    d["P"][:] = np.ma.masked_invalid(p)
    d["P"].raci_role = "fast"
    d.close()
EOF
SMALL="-train_epochs 2 -train_steps 10 -train_batch 16 -split_val_frac 0"

# trained with AU-How lacking P: it stays, with P's flag
run_np "$NP" train -data "$TMP/noP.nc" -o "$TMP/a.ckpt" $SMALL -split_test_sites AU-How > "$TMP/a.log" 2>&1 || { cat "$TMP/a.log"; fail "train with P absent at AU-How"; }
grep -q "8 locations (7 train, 0 validation, 1 test, 0 ocean or no data, 0 unusable)" "$TMP/a.log" || { cat "$TMP/a.log"; fail "AU-How lost"; }
grep -q "availability flags (an absent input enters as 0 with its flag set), over 8 usable locations: P (absent at 1)" "$TMP/a.log" || { cat "$TMP/a.log"; fail "no availability line"; }
grep -q "warning: P is absent only at validation or test locations" "$TMP/a.log" || { cat "$TMP/a.log"; fail "no warning that P's flag is never trained"; }
echo "ok training keeps a site without P, with P's flag, and warns that the flag is not trained there"

# trained with dropout where every site has P: every input gets a flag; the flag reaches the model
run_np "$NP" train -data "$TMP/all.nc" -o "$TMP/d.ckpt" $SMALL -split_test_sites AU-How -train_input_dropout 0.3 > "$TMP/d.log" 2>&1 || { cat "$TMP/d.log"; fail "train with -train_input_dropout"; }
grep -q "over 8 usable locations: TA, SW_IN, VPD, P, MAT, elev$" "$TMP/d.log" || { cat "$TMP/d.log"; fail "-train_input_dropout: not every input flagged"; }
for v in noP meanP; do
  run_np "$NP" predict -ckpt "$TMP/d.ckpt" -data "$TMP/$v.nc" -o "$TMP/p-$v.nc" -predict_diag_stride 0 > "$TMP/p.log" 2>&1 || { cat "$TMP/p.log"; fail "predict $v"; }
done
grep -q "availability flags .*P" "$TMP/p.log" || { cat "$TMP/p.log"; fail "predict: no availability line"; }
$PY - "$TMP" <<'EOF' || fail "the flag does not reach the model"
import sys, numpy as np, netCDF4
t = sys.argv[1]
d = netCDF4.Dataset(f"{t}/noP.nc")
s = ["".join(c.decode() for c in r if c not in (b"", b"\x00")) for r in d["site_id"][:].filled(b"")].index("AU-How")
a, b = (np.ma.filled(netCDF4.Dataset(f"{t}/p-{v}.nc")["GPP"][:].astype(float), np.nan) for v in ("noP", "meanP"))
m = np.isfinite(a[:, s]) & np.isfinite(b[:, s])
assert m.sum() > 100, m.sum()
diff = np.abs(a[m, s] - b[m, s]).max()
assert diff > 1e-4, f"AU-How without P and with P at its mean predict alike ({diff})"
other = [i for i in range(a.shape[1]) if i != s]
same = np.nanmax(np.abs(a[:, other] - b[:, other]))
assert same == 0, f"other sites changed ({same})"
print(f"ok the flag reaches the model: AU-How with P absent and with P at its mean differ by up to {diff:.4f} in GPP; other sites identical")
EOF

# a hole in a flagged driver (P missing for 40 days at DE-Tha, present before and after): no day is
# lost; each segment reading a day of the hole enters P as absent (0, its flag set), exactly as at a
# site without P, and segments before the hole are predicted as without it (model a: P flagged)
$PY - "$TMP" <<'EOF' || fail "making the files with a hole in P"
import sys, shutil, json, netCDF4, numpy as np
t = sys.argv[1]
for name in ("hole", "noPTha"):
    shutil.copy(f"{t}/noP.nc", f"{t}/{name}.nc")
    d = netCDF4.Dataset(f"{t}/{name}.nc", "a")
    s = ["".join(c.decode() for c in r if c not in (b"", b"\x00")) for r in d["site_id"][:].filled(b"")].index("DE-Tha")
    p = np.ma.filled(d["P"][:].astype(float), np.nan)
    days = np.nonzero(np.isfinite(p[:, s]))[0]
    h0 = int(days[0]) + 500
    h0 += (-h0) % 90 + 45 # inside a segment's scored part, far from the record's ends
    if name == "hole":
        p[h0:h0 + 40, s] = np.nan
    else:
        p[:, s] = np.nan
    d["P"][:] = np.ma.masked_invalid(p)
    d.close()
json.dump({"site": s, "h0": h0, "h1": h0 + 40}, open(f"{t}/hole.json", "w"))
EOF
run_np "$NP" train -data "$TMP/hole.nc" -o "$TMP/h.ckpt" $SMALL -split_test_sites AU-How > "$TMP/h.log" 2>&1 || { cat "$TMP/h.log"; fail "train with a hole in P"; }
[ "$(grep 'location-days with drivers' "$TMP/h.log")" = "$(grep 'location-days with drivers' "$TMP/a.log")" ] || { grep 'location-days' "$TMP/a.log" "$TMP/h.log"; fail "the hole in a flagged driver costs training days"; }
for v in noP hole noPTha; do
  run_np "$NP" predict -ckpt "$TMP/a.ckpt" -data "$TMP/$v.nc" -o "$TMP/q-$v.nc" -predict_diag_stride 0 > "$TMP/q.log" 2>&1 || { cat "$TMP/q.log"; fail "predict $v"; }
done
$PY - "$TMP" <<'EOF' || fail "a hole in a flagged driver"
import sys, json, netCDF4, numpy as np
t = sys.argv[1]
h = json.load(open(f"{t}/hole.json"))
s, h0, h1 = h["site"], h["h0"], h["h1"]
a, b, c = (np.ma.filled(netCDF4.Dataset(f"{t}/q-{v}.nc")["GPP"][:, s].astype(float), np.nan) for v in ("noP", "hole", "noPTha"))
assert np.array_equal(np.isnan(a), np.isnan(b)), "days predicted differ with the hole"
W, Sc = 30, 90
n = np.arange(len(a))
seg = np.where(n >= W, (n - W) // Sc, -1)             # the tiling segment that scores day d
start = seg * Sc                                      # its first day; it reads [start, start + W + Sc)
reads_hole = (seg >= 0) & (start < h1) & (start + W + Sc > h0)
before = (seg >= 0) & (start + W + Sc <= h0)
ok = np.isfinite(a)
assert (reads_hole & ok).sum() >= 60 and (before & ok).sum() >= 200, ((reads_hole & ok).sum(), (before & ok).sum())
d1 = np.abs(b[reads_hole & ok] - c[reads_hole & ok]).max()
d2 = np.abs(b[before & ok] - a[before & ok]).max()
d3 = np.abs(b[reads_hole & ok] - a[reads_hole & ok]).max()
scale = np.nanmax(np.abs(a))
assert d1 <= 1e-5 * scale and d2 <= 1e-5 * scale, (d1, d2)
assert d3 > 1e-4, d3
print(f"ok a 40-day hole in P at DE-Tha: no day lost; the {(reads_hole & ok).sum()} days of segments reading it predicted as without P (largest difference {d1:.1e}), the {(before & ok).sum()} days before as with P ({d2:.1e})")
EOF

# the flag rule for holes: where every site has P, a 40-day hole at DE-Tha is a gap (no flag, days lost);
# a 150-day hole (at least 120 days: a network's years without P) gives P a flag and loses no day
$PY - "$TMP" <<'EOF' || fail "making the files with short and long holes"
import sys, shutil, netCDF4, numpy as np
t = sys.argv[1]
for name, n in (("short", 40), ("long", 150)):
    shutil.copy(f"{t}/all.nc", f"{t}/{name}.nc")
    d = netCDF4.Dataset(f"{t}/{name}.nc", "a")
    s = ["".join(c.decode() for c in r if c not in (b"", b"\x00")) for r in d["site_id"][:].filled(b"")].index("DE-Tha")
    p = np.ma.filled(d["P"][:].astype(float), np.nan)
    h0 = int(np.nonzero(np.isfinite(p[:, s]))[0][0]) + 300
    p[h0:h0 + n, s] = np.nan
    d["P"][:] = np.ma.masked_invalid(p)
    d.close()
EOF
for v in short long; do
  run_np "$NP" train -data "$TMP/$v.nc" -o "$TMP/$v.ckpt" $SMALL -split_test_sites AU-How > "$TMP/$v.log" 2>&1 || { cat "$TMP/$v.log"; fail "train with a $v hole in P"; }
done
grep -q "availability flags" "$TMP/short.log" && { cat "$TMP/short.log"; fail "a 40-day hole flagged P"; }
grep -q "lost to driver gaps" "$TMP/short.log" && ! grep -q " 0 lost to driver gaps" "$TMP/short.log" || { grep location-days "$TMP/short.log"; fail "a 40-day hole in an unflagged driver is not a gap"; }
grep -q "over 8 usable locations: P (missing for long stretches)$" "$TMP/long.log" || { cat "$TMP/long.log"; fail "a 150-day hole did not flag P"; }
grep -q " 0 lost to driver gaps" "$TMP/long.log" || { grep location-days "$TMP/long.log"; fail "a 150-day hole in a flagged driver lost days"; }
echo "ok a 40-day hole in P is a gap (no flag); a 150-day hole flags P and loses no day"

# a model without a flag for P: a site without P is left out, with a warning
run_np "$NP" train -data "$TMP/all.nc" -o "$TMP/n.ckpt" $SMALL -split_test_sites AU-How > "$TMP/n.log" 2>&1 || { cat "$TMP/n.log"; fail "train where every site has P"; }
grep -q "availability flags" "$TMP/n.log" && { cat "$TMP/n.log"; fail "flags without anything absent"; }
run_np "$NP" predict -ckpt "$TMP/n.ckpt" -data "$TMP/noP.nc" -o "$TMP/p-n.nc" -predict_diag_stride 0 > "$TMP/p.log" 2>&1 || { cat "$TMP/p.log"; fail "predict without a flag for P"; }
grep -q "warning: 1 locations of $TMP/noP.nc have no P at all, and the model has no availability flag for it: they are left out" "$TMP/p.log" || { cat "$TMP/p.log"; fail "no warning for the site left out"; }
$PY - "$TMP" <<'EOF' || fail "the site without P was predicted"
import sys, numpy as np, netCDF4
t = sys.argv[1]
d = netCDF4.Dataset(f"{t}/noP.nc")
s = ["".join(c.decode() for c in r if c not in (b"", b"\x00")) for r in d["site_id"][:].filled(b"")].index("AU-How")
g = np.ma.filled(netCDF4.Dataset(f"{t}/p-n.nc")["GPP"][:].astype(float), np.nan)
assert np.isnan(g[:, s]).all(), "AU-How has predictions"
assert np.isfinite(g).sum() > 1000
print("ok a model without P's flag leaves AU-How out (fill values), the others predicted")
EOF
if [ "$NP" -ne 1 ]; then
  run_np 1 predict -quiet -ckpt "$TMP/d.ckpt" -data "$TMP/noP.nc" -o "$TMP/p1.nc" -predict_diag_stride 0 || fail "predict on 1 rank"
  $PY - "$TMP/p-noP.nc" "$TMP/p1.nc" "$NP" <<'EOF' || fail "predictions on $NP ranks and 1 rank differ"
import sys, numpy as np, netCDF4
a, b = (np.ma.filled(netCDF4.Dataset(p)["GPP"][:].astype(float), np.nan) for p in sys.argv[1:3])
assert np.array_equal(np.isnan(a), np.isnan(b))
rel = np.nanmax(np.abs(a - b)) / np.nanmax(np.abs(a))
assert rel < 1e-5, rel  # batches differ by rank: float rounding only (as tests/predict/test_predict.sh)
print(f"ok predictions with an absent driver on {sys.argv[3]} ranks as on 1: largest relative difference {rel:.1e}")
EOF
fi
# a site without any observed target (CH-Dav's fluxes removed) is in no split: not trained on,
# not validated on, not in the memory bank
$PY - "$TMP" <<'EOF' || fail "making the file without CH-Dav's fluxes"
import sys, shutil, netCDF4
t = sys.argv[1]
shutil.copy(f"{t}/all.nc", f"{t}/notgt.nc")
d = netCDF4.Dataset(f"{t}/notgt.nc", "a")
s = ["".join(c.decode() for c in r if c not in (b"", b"\x00")) for r in d["site_id"][:].filled(b"")].index("CH-Dav")
for v in ("GPP", "RECO", "NEE"):
    d[v][:, s] = netCDF4.default_fillvals["f4"] if "_FillValue" not in d[v].ncattrs() else d[v]._FillValue
d.close()
EOF
run_np "$NP" train -data "$TMP/notgt.nc" -o "$TMP/t.ckpt" $SMALL -split_test_sites AU-How -train_report "$TMP/t.json" > "$TMP/t.log" 2>&1 || { cat "$TMP/t.log"; fail "train with a site without targets"; }
grep -q "1 usable locations outside the test set have no observed target: not in training, validation or the memory bank" "$TMP/t.log" || { cat "$TMP/t.log"; fail "no line for the site without targets"; }
grep -q "8 locations (6 train, 0 validation, 1 test, 0 ocean or no data, 0 unusable)" "$TMP/t.log" || { cat "$TMP/t.log"; fail "the site without targets is counted in a split"; }
$PY - "$TMP/t.json" <<'EOF' || fail "the memory bank holds the site without targets"
import sys, json
r = json.load(open(sys.argv[1]))
assert r["bank_locations"] == r["train_locations"] and len(r["train_locations"]) == 6, r
assert 1 not in r["train_locations"] + r["validation_locations"] + r["bank_locations"], r  # CH-Dav is site 1 of 8
print("ok a site without observed targets is in no split and not in the memory bank (6 of 6 training sites)")
EOF
echo "test_availability: ok at $NP ranks"
