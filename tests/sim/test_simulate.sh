#!/bin/sh
# `raci simulate` on NP ranks writes the same file as on one process (ncmpidiff),
# for the default North American grid, a 0.5-degree regional grid and a sparse,
# noisy tower set; with NP = 1 the physical checks of check_sim.py run too, and
# bad simulator options are refused.   usage: test_simulate.sh NP
. "$(dirname "$0")/../lib/common.sh"
NP=${1:?usage: test_simulate.sh NP}
HERE=$(dirname "$0")

same_run() { # label, simulate options
  label=$1; shift
  run_np 1 simulate -quiet -o "$TMP/$label-1.nc" "$@" > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "$label: 1-process run"; }
  run_np "$NP" simulate -quiet -o "$TMP/$label-n.nc" "$@" > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "$label: $NP-rank run"; }
  grep -q "$NP ranks" "$TMP/log" || { cat "$TMP/log"; fail "$label: did not run on $NP ranks"; }
  same_nc "$TMP/$label-1.nc" "$TMP/$label-n.nc" || fail "$label: 1 and $NP ranks differ"
  ncvalidator -q "$TMP/$label-n.nc" || fail "$label: ncvalidator rejects the output"
  echo "ok $label: identical on 1 and $NP ranks"
}

same_run na-1deg -sim_years 1
same_run region-0.5deg -sim_res 0.5 -sim_lon -100,-80 -sim_lat 30,50 -sim_years 1 -sim_chunk 40 -sim_seed 7
same_run towers -sim_years 1 -sim_towers 40 -sim_noise 0.5 -sim_chunk 100

# the sparse tower mask keeps targets at exactly 40 land cells, drivers everywhere
/usr/bin/python3 - "$TMP/towers-n.nc" <<'PYEOF' || fail "tower mask"
import sys, numpy as np, netCDF4
with netCDF4.Dataset(sys.argv[1]) as ds:
    land = ~np.ma.getmaskarray(ds["class"][...])
    for n in ("GPP", "RECO", "NEE", "FCH4"):
        has = ~np.ma.getmaskarray(ds[n][...]).all(axis=0)
        assert has.sum() == 40 and (has <= land).all(), (n, int(has.sum()))
    assert not np.ma.getmaskarray(ds["TA"][...])[:, land].any()
print("ok towers: targets at exactly 40 land cells, drivers at all", int(land.sum()))
PYEOF

if [ "$NP" -eq 1 ]; then
  /usr/bin/python3 "$HERE/check_sim.py" "$TMP/na-1deg-1.nc" "$RACI_SHARED_DATA/towers" || fail "physical checks"
fi

# -sim_latent: unobserved, spatially smooth multipliers of eps and R_10 (docs/SIMULATOR.md):
# 0 is the default simulation bit for bit; 0.3 leaves drivers and statics alone and scales
# each cell's GPP by one factor over time, log-sd about 0.3 over cells, smooth in space
same_run latent -sim_years 1 -sim_latent 0.3
run_np 1 simulate -quiet -o "$TMP/latent0.nc" -sim_years 1 -sim_latent 0 || fail "-sim_latent 0"
/usr/bin/python3 - "$TMP/na-1deg-1.nc" "$TMP/latent0.nc" "$TMP/latent-n.nc" <<'PYEOF' || fail "-sim_latent"
import sys, numpy as np, netCDF4
a, z, b = (netCDF4.Dataset(p) for p in sys.argv[1:4])
f = lambda d, v: np.ma.filled(d[v][:].astype(float), np.nan)
for v in a.variables:
    if a[v].ndim >= 2:
        assert np.array_equal(f(a, v), f(z, v), equal_nan=True), f"-sim_latent 0 changes {v}"
for v in ("TA", "SW_IN", "VPD", "P", "TS", "SWC", "class", "elev", "soc", "MAT", "MAP"):
    assert np.array_equal(f(a, v), f(b, v), equal_nan=True), f"-sim_latent 0.3 changes the input {v}"
g0, g3 = f(a, "GPP"), f(b, "GPP")
m = g0 > 0.5
lr = np.where(m, np.log(np.where(m, g3 / np.where(m, g0, 1), 1)), np.nan)
with np.errstate(all="ignore"):
    cell = np.nanmean(lr, axis=0)
    spread_t = np.nanmax(np.nanstd(lr, axis=0))
assert spread_t < 1e-5, f"the factor changes over time ({spread_t})"
sd = np.nanstd(cell)
x, y = cell[:, :-1], cell[:, 1:]
k = np.isfinite(x) & np.isfinite(y)
r = np.corrcoef(x[k], y[k])[0, 1]
assert 0.2 < sd < 0.4 and r > 0.7, (sd, r)
assert "latent 0.3" in b.raci_simulation
print(f"ok -sim_latent: 0 is the default simulation; 0.3 scales GPP by one factor per cell (log-sd {sd:.2f}, neighbour correlation {r:.2f}), inputs unchanged")
PYEOF

# -sim_local: point weather as a tower records it (docs/SIMULATOR.md): 0 is the default simulation
# bit for bit; 1 leaves the statics alone, changes the drivers by anomalies that differ from cell
# to cell (the differences from the smooth forcing are uncorrelated between neighbours, while the
# drivers themselves are smooth), and the fluxes follow the point's own weather
same_run local -sim_years 1 -sim_local 1
run_np 1 simulate -quiet -o "$TMP/local0.nc" -sim_years 1 -sim_local 0 || fail "-sim_local 0"
/usr/bin/python3 - "$TMP/na-1deg-1.nc" "$TMP/local0.nc" "$TMP/local-n.nc" <<'PYEOF' || fail "-sim_local"
import sys, numpy as np, netCDF4
a, z, b = (netCDF4.Dataset(p) for p in sys.argv[1:4])
f = lambda d, v: np.ma.filled(d[v][:].astype(float), np.nan)
for v in a.variables:
    if a[v].ndim >= 2:
        assert np.array_equal(f(a, v), f(z, v), equal_nan=True), f"-sim_local 0 changes {v}"
for v in ("class", "elev", "clay", "soc", "whc", "wetland_frac", "MAT", "MAP"):
    assert np.array_equal(f(a, v), f(b, v), equal_nan=True), f"-sim_local 1 changes the static {v}"
def nbr_corr(x):  # correlation of east-west neighbours, pooled over days
    p, q = x[:, :, :-1].ravel(), x[:, :, 1:].ravel()
    k = np.isfinite(p) & np.isfinite(q)
    return np.corrcoef(p[k], q[k])[0, 1]
ta0, ta1 = f(a, "TA")[60:], f(b, "TA")[60:]
d = ta1 - ta0
rd, rs = nbr_corr(d - np.nanmean(d, axis=0)), nbr_corr(ta0 - np.nanmean(ta0, axis=0))
sd = np.nanstd(d)
assert sd > 1.0 and abs(rd) < 0.1 and rs > 0.8, (sd, rd, rs)
g0, g1 = f(a, "GPP"), f(b, "GPP")
assert np.nanmean(np.abs(g1 - g0)) > 0.05, "GPP does not follow the point weather"
assert "local 1" in b.raci_simulation
print(f"ok -sim_local: 0 is the default simulation; 1 changes TA by {sd:.2f} degC sd, neighbour correlation of the change {rd:.3f} (of the anomalies {rs:.2f}), statics unchanged, GPP follows")
PYEOF

# bad options: one line, non-zero exit, no file
for bad in "-sim_res 0.3" "-sim_lat 50,40" "-sim_mask $TMP/none.nc" "-sim_years 0"; do
  if run_np "$NP" simulate -quiet -o "$TMP/bad.nc" $bad > "$TMP/out" 2> "$TMP/err"; then fail "simulate $bad succeeded"; fi
  [ "$(grep -c '^raci: error:' "$TMP/err")" -eq 1 ] || { cat "$TMP/err"; fail "simulate $bad: not one error line"; }
  [ ! -e "$TMP/bad.nc" ] && ! ls "$TMP"/bad.nc.*.tmp > /dev/null 2>&1 || fail "simulate $bad left a file"
  echo "ok refuses $bad: $(cat "$TMP/err")"
done
echo "test_simulate: ok at $NP ranks"
