#!/bin/sh
# tools/plot_map.py on a tiny simulate/train/predict (one rank, seconds):
#  - the NEE maps (a single annual map and the --compare figure) are drawn
#    with the colour norm centred at zero: vcenter 0, zero at the middle of
#    the colour map (the norm's own value, written to the OUT.json sidecar),
#    limits on both sides of zero; GPP stays sequential;
#  - the simulated annual map with --days-like and the predicted one average
#    the same days, without the prediction's warm-up days, and so do the three
#    panels of --compare; a simulated map without --days-like does not (the
#    check can fail);
#  - labels say g C, never "g m-2"; the file's units attribute is untouched;
#  - color_norm() itself: diverging norms map 0 to 0.5 on a skewed range;
#  - coastlines drawn when gmt-gshhg-low is installed;
#  - --compare on an ensemble's prediction (NEE_spread) adds the spread over
#    the same cell-days, from zero, its range as numpy computes it;
#  - tools/plot_upscale.py (make upscale's maps) on the same prediction: NEE
#    centred at zero through plot_map's norm, GPP sequential, the annual maps'
#    range against numpy over the days every predicted cell has, borders drawn,
#    also over 2-D coordinates.
# usage: test_maps.sh
. "$(dirname "$0")/../lib/common.sh"
PY=/usr/bin/python3
MAP=tools/plot_map.py
BOX=-92,-86,38,44

"$RACI" simulate -quiet -o "$TMP/sim.nc" -sim_lon -100,-84 -sim_lat 34,46 -sim_years 1 -sim_seed 5 > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "simulate"; }
"$RACI" train -data "$TMP/sim.nc" -o "$TMP/r.ckpt" -overwrite -raci_hidden 8 -raci_slow_hidden 4 -raci_z 2 -raci_attn 4 \
  -raci_head 8 -raci_slow_days 60 -raci_blocks 2 -train_epochs 1 -train_steps 4 -train_batch 16 -split_test_box "$BOX" \
  > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "train"; }
"$RACI" predict -ckpt "$TMP/r.ckpt" -data "$TMP/sim.nc" -o "$TMP/pred.nc" > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "predict"; }

plot() { $PY "$MAP" "$@" --annual "g C m-2 yr-1" > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "plot_map.py $*"; }; }
plot "$TMP/pred.nc" NEE "$TMP/pred-nee.png" --box="$BOX"
plot "$TMP/sim.nc" NEE "$TMP/sim-nee.png" --days-like "$TMP/pred.nc"
plot "$TMP/sim.nc" NEE "$TMP/sim-nee-alldays.png"
plot "$TMP/pred.nc" GPP "$TMP/pred-gpp.png"
plot "$TMP/pred.nc" NEE "$TMP/cmp-nee.png" --compare "$TMP/sim.nc" --box="$BOX"
plot "$TMP/pred.nc" GPP "$TMP/cmp-gpp.png" --compare "$TMP/sim.nc"
for f in pred-nee sim-nee sim-nee-alldays pred-gpp cmp-nee cmp-gpp; do
  [ -s "$TMP/$f.png" ] && [ -s "$TMP/$f.json" ] || fail "$f: no PNG or no JSON sidecar"
done

$PY - "$TMP" <<'PYEOF' || fail "maps"
import json, sys, os
import netCDF4
sys.path.insert(0, "tools")
import numpy as np
import plot_map
t = sys.argv[1]
J = lambda n: json.load(open(os.path.join(t, n + ".json")))

def centred(p, what):
    q = {k: v for k, v in p.items() if k != "days"}
    assert p["diverging"] and p["vcenter"] == 0.0, (what, q)
    assert p["vmin"] < 0.0 < p["vmax"], (what, q)
    assert abs(p["zero_at"] - 0.5) < 1e-9, (what, "zero is not at the middle of the colour map", q)
    assert p["cmap"] in ("RdBu_r", "RdBu", "coolwarm", "bwr", "seismic", "PuOr", "BrBG", "PiYG", "PRGn", "RdYlBu"), (what, q)

pred, sim, alld = J("pred-nee")["panels"][0], J("sim-nee")["panels"][0], J("sim-nee-alldays")["panels"][0]
centred(pred, "predicted NEE"); centred(sim, "simulated NEE")
gpp = J("pred-gpp")["panels"][0]
assert not gpp["diverging"] and gpp["vcenter"] is None, gpp
with netCDF4.Dataset(os.path.join(t, "pred.nc")) as ds:
    nee = np.ma.masked_invalid(np.ma.asarray(ds["NEE"][...]).astype(float))
    pdays = np.asarray(ds["time"][...], float)[(~np.ma.getmaskarray(nee)).reshape(nee.shape[0], -1).any(axis=1)]
    assert ds["NEE"].units == "g m-2 d-1", ds["NEE"].units
# the predicted map averages exactly the days with predictions (not the warm-up)
assert pred["days"] == list(pdays) and pdays[0] > 0, (pred["days"][:3], pdays[:3])
# same days in the simulated map made --days-like the prediction
assert sim["days"] == pred["days"], ("simulated and predicted maps average different days", len(sim["days"]), len(pred["days"]))
# and the check bites: all the simulation's days differ
assert alld["days"] != pred["days"] and len(alld["days"]) > len(pred["days"]), "all-days map not told apart"
c = J("cmp-nee")
s, p, d = c["panels"]
assert s["days"] == p["days"] == d["days"] == pred["days"], "compare panels on different days"
centred(s, "compare simulated NEE"); centred(d, "compare difference")
assert (s["vmin"], s["vmax"]) == (p["vmin"], p["vmax"]), "simulated and predicted not on one scale"
g = J("cmp-gpp")["panels"]
assert not g[0]["diverging"] and (g[0]["vmin"], g[0]["vmax"]) == (g[1]["vmin"], g[1]["vmax"]), g[:2]
centred(g[2], "GPP difference")
for n in ("pred-nee", "cmp-nee", "cmp-gpp"):
    assert J(n)["units"] == "g C m-2 yr-1", J(n)["units"]
# the function itself, on a skewed range like the demo's (-957..+184)
norm, rec = plot_map.color_norm([np.linspace(-957, 184, 200)], True)
assert abs(float(norm(0.0)) - 0.5) < 1e-12 and rec["vcenter"] == 0.0, rec
assert float(norm(-100.0)) < 0.5 < float(norm(100.0)), "a sink drawn on the source side"
norm, rec = plot_map.color_norm([np.linspace(-957, 184, 200)], False)
assert abs(float(norm(0.0)) - 0.5) > 0.2, "sequential norm not told apart"
assert plot_map.is_signed("NEE") and plot_map.is_signed("GPP_bias") and plot_map.is_signed("x_diff") and not plot_map.is_signed("GPP")
class V: units = "g m-2 d-1"; long_name = "gross primary productivity, carbon"
assert plot_map.units_label(V(), "GPP") == "g C m-2 d-1"
if os.path.exists("/usr/share/gmt-gshhg/binned_GSHHS_l.nc"):
    assert c["coastlines"], "gmt-gshhg-low installed but no coastlines"
    import gshhg
    segs = gshhg.segments("coast", (1,), -100, -84, 34, 46)
    pts = np.concatenate(segs)
    # the Gulf coast near Houston and Lake Michigan's shore are in; nothing outside the bins
    assert len(segs) > 0 and pts[:, 0].min() >= -110 and pts[:, 0].max() <= -80, (pts.min(0), pts.max(0))
print(f"  NEE norm centred at zero (zero at {pred['zero_at']:.2f}, limits {pred['vmin']:.0f}..{pred['vmax']:.0f}); "
      f"simulated and predicted maps over the same {len(pred['days'])} days (from day {pred['days'][0]:.0f}; "
      f"all days: {len(alld['days'])})")
PYEOF

# an ensemble's prediction: --compare adds the spread panel, over the same cell-days, from zero
$PY - "$TMP/pred.nc" "$TMP/pred-ens.nc" <<'PYEOF' || fail "making an ensemble-like prediction"
import shutil, sys
import netCDF4
import numpy as np
shutil.copy(sys.argv[1], sys.argv[2])
with netCDF4.Dataset(sys.argv[2], "a") as ds:
    v = ds["NEE"]
    s = ds.createVariable("NEE_spread", "f4", v.dimensions, fill_value=v._FillValue)
    s.units, s.long_name = v.units, "NEE spread, carbon"
    x = np.ma.asarray(v[...])
    s[:] = np.ma.masked_where(np.ma.getmaskarray(x), 0.5 + 0.1 * np.abs(x.filled(0.0)))
PYEOF
plot "$TMP/pred-ens.nc" NEE "$TMP/cmp-ens.png" --compare "$TMP/sim.nc"
$PY - "$TMP" <<'PYEOF' || fail "spread panel"
import json, os, sys
import netCDF4
import numpy as np
t = sys.argv[1]
c = json.load(open(os.path.join(t, "cmp-ens.json")))
assert [p["name"] for p in c["panels"]] == ["simulated", "predicted", "difference", "spread"], c["panels"]
sp = c["panels"][3]
assert sp["days"] == c["panels"][1]["days"] and sp["vmin"] == 0.0 and not sp["diverging"], sp
with netCDF4.Dataset(os.path.join(t, "pred-ens.nc")) as ds, netCDF4.Dataset(os.path.join(t, "sim.nc")) as sim:
    s = np.ma.filled(np.ma.asarray(ds["NEE_spread"][...]).astype(float), np.nan)
    keep = np.isfinite(s) & ~np.ma.getmaskarray(sim["NEE"][...])
    with np.errstate(all="ignore"):
        m = np.where(keep, s, 0).sum(axis=0) / keep.sum(axis=0)
m = m[keep.any(axis=0)]
assert abs(sp["data_max"] - m.max()) < 1e-5 * m.max() and abs(sp["data_min"] - m.min()) < 1e-5 * m.max(), (sp, m.min(), m.max())
print(f"  --compare on an ensemble's prediction: spread panel from 0, {m.min():.2f}..{m.max():.2f} as numpy, same days")
PYEOF

mkdir -p "$TMP/up"
$PY tools/plot_upscale.py "$TMP/pred.nc" "$TMP/up" --fluxes GPP,NEE > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "plot_upscale.py"; }
for f in gpp nee; do [ -s "$TMP/up/$f-annual.png" ] && [ -s "$TMP/up/$f-annual.json" ] || fail "plot_upscale: no $f PNG or JSON"; done
$PY - "$TMP" <<'PYEOF' || fail "plot_upscale maps"
import json, os, sys
import netCDF4
import numpy as np
t = sys.argv[1]
with netCDF4.Dataset(os.path.join(t, "pred.nc")) as ds:
    for flux in ("GPP", "NEE"):
        j = json.load(open(os.path.join(t, "up", flux.lower() + "-annual.json")))
        v = np.ma.filled(np.ma.asarray(ds[flux][...]).astype(float), np.nan)
        cells = np.isfinite(v).any(axis=0)
        days = np.isfinite(v[:, cells]).all(axis=1)
        m = np.nanmean(v[days][:, cells], axis=0) * 365.25
        assert j["days"] == int(days.sum()) and 0 < j["days"] < v.shape[0], (flux, j["days"], int(days.sum()))
        n = j["norm"]
        assert abs(n["data_min"] - m.min()) < 1e-6 * abs(m).max() and abs(n["data_max"] - m.max()) < 1e-6 * abs(m).max(), (flux, n, m.min(), m.max())
        assert j["units"] == "g C m-2 yr-1"
        if flux == "NEE":
            assert n["diverging"] and n["vcenter"] == 0.0 and abs(n["zero_at"] - 0.5) < 1e-9 and n["vmin"] == -n["vmax"], n
        else:
            assert not n["diverging"], n
        if os.path.exists("/usr/share/gmt-gshhg/binned_GSHHS_l.nc"):
            assert j["overlay_segments"] > 0, "gmt-gshhg-low installed but no coastline or border over the upscaled map"
print(f"  plot_upscale: annual maps over {j['days']} days match numpy; NEE centred at zero")
PYEOF
# a projected grid (2-D lat/lon, skewed cells, as the Moselle domain): borders over its extent
$PY - "$TMP/pred2d.nc" <<'PYEOF' || fail "making the 2-D prediction"
import sys
import netCDF4
import numpy as np
with netCDF4.Dataset(sys.argv[1], "w") as o:
    for n, k in (("time", 40), ("y", 6), ("x", 5)):
        o.createDimension(n, k)
    j, i = np.meshgrid(np.arange(6), np.arange(5), indexing="ij")
    lat, lon = o.createVariable("lat", "f8", ("y", "x")), o.createVariable("lon", "f8", ("y", "x"))
    lat[:], lon[:] = 47.8 + 0.3 * j + 0.02 * i, 5.5 + 0.35 * i - 0.03 * j
    v = o.createVariable("NEE", "f4", ("time", "y", "x"), fill_value=-9999.0)
    v[:] = np.linspace(-2, 0.5, 40 * 30).reshape(40, 6, 5)
    v[:5] = np.ma.masked
PYEOF
mkdir -p "$TMP/up2d"
$PY tools/plot_upscale.py "$TMP/pred2d.nc" "$TMP/up2d" --fluxes NEE > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "plot_upscale.py on 2-D coordinates"; }
$PY - "$TMP/up2d/nee-annual.json" <<'PYEOF' || fail "plot_upscale on 2-D coordinates"
import json, os, sys
j = json.load(open(sys.argv[1]))
assert j["days"] == 35 and j["norm"]["zero_at"] == 0.5, j
if os.path.exists("/usr/share/gmt-gshhg/binned_GSHHS_l.nc"):
    assert j["overlay_segments"] > 0, "no borders over 2-D coordinates (France, Luxembourg, Germany)"
print(f"  plot_upscale: 2-D coordinates drawn with {j['overlay_segments']} border segments over 35 days")
PYEOF
echo "maps: ok"
