#!/bin/sh
# Silent wrong results (issue 12): inputs that used to train or predict with
# exit 0 and poisoned numbers are refused with one line naming the variable,
# the location and the day, or the option; the same cells predict the same
# whatever the file's layout.  usage: test_inputs.sh NP
#  1. inf, -inf, 1e30 in a driver, a static, a target, a non-canonical
#     variable; -9999 without _FillValue; -out_of_range missing; a training
#     loss that becomes nan (parameters from a diverged checkpoint);
#  2. units: TA in K for training; VPD in Pa and clay as a fraction against
#     the units the checkpoint recorded (degree_Celsius is degC);
#  3. time axes: hourly, 5-daily, months since, an unknown calendar;
#  4. a test box on no location (other longitude convention, off the grid),
#     a validation fraction that draws no location;
#  5. predict on a file whose drivers are all missing;
#  6. predictions at the same cells of the training file, a latitude-flipped
#     copy and a sub-region copy agree to 1e-5 of the field's largest value
#     (float rounding: the batches and neighbour order differ; the original
#     code skipped the bank entry of the query's grid index, an unrelated
#     location in another layout, and differed by 10% and 1.3%).
# Every case runs (a failing one does not stop the others); the test fails
# if any did.
. "$(dirname "$0")/../lib/common.sh"
NP=${1:?usage: test_inputs.sh NP}
PY=/usr/bin/python3
HERE=$(cd "$(dirname "$0")" && pwd)
nfail=0
case_() { "$@" || nfail=$((nfail + 1)); }
# in a subshell, so that a failure (fail exits) ends only its case
check() { ( refuses "$@" ) || nfail=$((nfail + 1)); }

run_np 1 simulate -quiet -o "$TMP/sim.nc" -sim_lon -100,-94 -sim_lat 40,46 -sim_years 1 -sim_seed 5 > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "simulate"; }
$PY "$HERE/make_inputs.py" "$TMP/sim.nc" "$TMP" || fail "making the bad inputs"
SMALL="-quiet -raci_hidden 16 -raci_slow_hidden 8 -raci_z 4 -raci_attn 8 -raci_head 16 -raci_slow_days 120 -raci_blocks 4 -train_epochs 2 -train_steps 10 -train_batch 32 -train_lr 3e-3"
TRAIN="train $SMALL -o $TMP/x.ckpt -data"
run_np "$NP" train $SMALL -data "$TMP/sim.nc" -o "$TMP/a.ckpt" -split_test_box -96,-94,40,42 > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "training on the simulation"; }
PREDICT="predict -quiet -ckpt $TMP/a.ckpt -o $TMP/x.nc -data"

# 1. values
check "inf in a driver" "'TA' is inf at lon -97.5, lat 42.5 (cell x 2, y 2) on 2001-02-10" "$TMP/x.ckpt" $TRAIN "$TMP/inf_driver.nc"
check "-inf in a static" "'elev' is -inf at lon -95.5, lat 41.5 (cell x 4, y 1)" "$TMP/x.ckpt" $TRAIN "$TMP/ninf_static.nc"
check "1e30 in a target" "'GPP' is 1e+30 at lon -99.5, lat 40.5 .* on 2001-04-11.* physical range of GPP, -10..60 g m-2 d-1" "$TMP/x.ckpt" $TRAIN "$TMP/huge_target.nc"
check "1e30 in a non-canonical static" "'sand' is 1e+30 at lon -96.5, lat 43.5 .*beyond 1e15" "$TMP/x.ckpt" $TRAIN "$TMP/huge_noncanonical.nc"
check "inf in a non-canonical static" "'peat_depth' is inf at lon -96.5, lat 43.5" "$TMP/x.ckpt" $TRAIN "$TMP/nan_noncanonical.nc"
check "a clay content of 300 %" "'clay' is 300 at lon -96.5, lat 43.5 .*physical range of clay, 0..100 %" "$TMP/x.ckpt" $TRAIN "$TMP/clay_range.nc"
check "-9999 without _FillValue" "'TA' is -9999 at lon -98.5, lat 45.5 (cell x 1, y 5) on 2001-07-20.*_FillValue" "$TMP/x.ckpt" $TRAIN "$TMP/m9999_nofill.nc"
check "inf in a driver, predict" "'TA' is inf at lon -97.5, lat 42.5" "$TMP/x.nc" $PREDICT "$TMP/inf_driver.nc"
check "-out_of_range bad" "out_of_range skip: use error or missing" "$TMP/x.ckpt" $TRAIN "$TMP/sim.nc" -out_of_range skip
oor_missing() {
  run_np "$NP" train $SMALL -data "$TMP/m9999_nofill.nc" -o "$TMP/oor.ckpt" -out_of_range missing > "$TMP/oor.log" 2>&1 || { cat "$TMP/oor.log"; echo "FAIL: -out_of_range missing: training failed"; return 1; }
  grep -q "1 value of 'TA' outside the physical range -70..60 degC set missing (-out_of_range missing); the first: -9999 at lon -98.5, lat 45.5" "$TMP/oor.log" || { cat "$TMP/oor.log"; echo "FAIL: -out_of_range missing: no report line"; return 1; }
  # the normalisation is that of the data without the marker
  $PY - "$TMP/oor.ckpt" "$HERE/../train" <<'EOF' || { echo "FAIL: -out_of_range missing: normalisation"; return 1; }
import sys, numpy as np
sys.path.insert(0, sys.argv[2])
import ckpt
norm = ckpt.norm(ckpt.read(sys.argv[1])["norm"])
ta_mean, ta_sd = norm["fmean"][0], norm["fstd"][0]
assert np.all(np.isfinite(norm["fmean"])) and np.all(np.isfinite(norm["fstd"])) and -30 < ta_mean < 40 and 1 < ta_sd < 30, (ta_mean, ta_sd)
print(f"ok -out_of_range missing: TA normalised with mean {ta_mean:.2f} degC, sd {ta_sd:.2f}")
EOF
}
case_ oor_missing
# a training loss that becomes nan: parameters from a checkpoint whose parameters are nan
$PY - "$TMP/a.ckpt" "$TMP/nan.ckpt" "$HERE/../train" <<'EOF' || fail "making a nan checkpoint"
import sys, numpy as np
sys.path.insert(0, sys.argv[3])
import ckpt
sec = ckpt.read(sys.argv[1])
n = len(ckpt.floats(sec["params"]))
sec["params"] = sec["params"][:8] + np.full(n, np.nan, "<f4").tobytes()
ckpt.write(sys.argv[2], sec)
EOF
check "non-finite training loss" "training loss is nan at step 1 of epoch 1" "$TMP/x.ckpt" $TRAIN "$TMP/sim.nc" -init_from "$TMP/nan.ckpt"

# 2. units
check "TA in K for training" "'TA' is in 'K'; raci expects TA in 'degC'" "$TMP/x.ckpt" $TRAIN "$TMP/ta_kelvin.nc"
check "VPD in Pa for a model in hPa" "'VPD' is in units 'Pa', but the model of .* was trained with 'hPa'" "$TMP/x.nc" $PREDICT "$TMP/vpd_pa.nc"
check "clay as a fraction for a model in %" "'clay' is in units '1', but the model of .* was trained with '%'" "$TMP/x.nc" $PREDICT "$TMP/clay_fraction.nc"
case_ run_np "$NP" $PREDICT "$TMP/ta_degree_celsius.nc" -o "$TMP/degc.nc" > "$TMP/log" 2>&1 || { cat "$TMP/log"; echo "FAIL: TA in degree_Celsius refused"; }
[ -s "$TMP/degc.nc" ] && echo "ok TA in degree_Celsius is degC"

# 3. time axes
check "hourly" "time step is 1 hour (2001-01-01 to 2001-01-01 01:00.*raci needs daily data" "$TMP/x.ckpt" $TRAIN "$TMP/hourly.nc"
check "5-daily" "time step is 5 days" "$TMP/x.ckpt" $TRAIN "$TMP/fivedaily.nc"
check "5-daily, predict" "time step is 5 days" "$TMP/x.nc" $PREDICT "$TMP/fivedaily.nc"
check "months since" "units 'months since 2001-01-01': months and years have no fixed length" "$TMP/x.ckpt" $TRAIN "$TMP/months.nc"
check "unknown calendar" "calendar 'lunar', which raci does not know" "$TMP/x.ckpt" $TRAIN "$TMP/lunar.nc"

# 4. splits
check "test box in 0..360 longitudes" "split_test_box 262,264,40,42 selects no usable location of .*span lon -99.5..-94.5, lat 40.5..45.5 (the box uses the other longitude convention" "$TMP/x.ckpt" $TRAIN "$TMP/sim.nc" -split_test_box 262,264,40,42
check "test box off the grid" "split_test_box 0,10,0,10 selects no usable location" "$TMP/x.ckpt" $TRAIN "$TMP/sim.nc" -split_test_box 0,10,0,10
check "second test box empty" "split_test_box 0,10,0,10 selects no usable location" "$TMP/x.ckpt" $TRAIN "$TMP/sim.nc" -split_test_box -96,-94,40,42,0,10,0,10
check "no validation location" "split_val_frac 0.001 selects no validation location" "$TMP/x.ckpt" $TRAIN "$TMP/sim.nc" -split_val_frac 0.001

# 5. nothing to predict
check "predict, every driver missing" "'TA' is entirely missing" "$TMP/x.nc" $PREDICT "$TMP/no_drivers.nc"

# 6. the same cells in other layouts
for f in sim flipped subregion; do
  case_ run_np "$NP" $PREDICT "$TMP/$f.nc" -o "$TMP/p_$f.nc" > "$TMP/log" 2>&1 || { cat "$TMP/log"; echo "FAIL: predict $f"; }
done
case_ $PY - "$TMP/p_sim.nc" "$TMP/p_flipped.nc" "$TMP/p_subregion.nc" <<'EOF'
import sys, numpy as np, netCDF4

def load(p):
    with netCDF4.Dataset(p) as d:
        lat, lon = d["lat"][:], d["lon"][:]
        return {t: {(round(float(la), 4), round(float(lo), 4)): np.ma.filled(d[t][:, j, i].astype(float), np.nan) for j, la in enumerate(lat) for i, lo in enumerate(lon)} for t in ("GPP", "RECO", "NEE", "FCH4")}

ref, bad = load(sys.argv[1]), 0
for p in sys.argv[2:]:
    other, worst, n = load(p), 0.0, 0
    for t in ref:
        scale = np.nanmax(np.abs(np.stack(list(ref[t].values()))))
        lats, lons = sorted({k[0] for k in other[t]}), sorted({k[1] for k in other[t]})
        for k, v in other[t].items():
            if "subregion" in p and (k[0] in (lats[0], lats[-1]) or k[1] in (lons[0], lons[-1])):
                continue  # the sub-region's edge cells lose geographic neighbours
            a = ref[t][k]
            assert np.array_equal(np.isnan(a), np.isnan(v)), (p, t, k, "other days predicted")
            worst, n = max(worst, np.nanmax(np.abs(a - v)) / scale), n + 1
    print(f"{'ok' if worst <= 1e-5 else 'FAIL'} {p.split('/')[-1]}: {n // 4} cells, largest difference {worst:.3g} of the field's largest value")
    bad += int(worst > 1e-5)
sys.exit(1 if bad else 0)
EOF

[ "$nfail" -eq 0 ] || fail "$nfail case(s) failed"
echo "test_inputs: ok at $NP ranks"
