#!/bin/sh
# CF-1.8 metadata of every kind of file raci writes (issue 18; Debian 12 has
# no CF checker, so tests/data/check_cf.py lists the requirements and checks
# each): raci simulate, train + predict (with the regime and role-share
# diagnostics), convert, prep -format grid (a 1-D grid: ERA5 UK; a 2-D grid:
# the mHM Moselle files) and prep -format fluxnet2015 (a site file); the
# checker must also refuse a file that breaks each requirement (made here by
# stripping attributes), so it cannot pass by checking nothing.
# usage: test_cf.sh NP
. "$(dirname "$0")/../lib/common.sh"
NP=${1:?usage: test_cf.sh NP}
PY=/usr/bin/python3
CHECK="$(cd "$(dirname "$0")" && pwd)/check_cf.py"
# the runs below work in $TMP: the shared data by its absolute path (the default is relative)
RACI_SHARED_DATA=$(cd "$RACI_SHARED_DATA" && pwd) || fail "no shared data at $RACI_SHARED_DATA"
export RACI_SHARED_DATA
GRID="$RACI_SHARED_DATA/gridded"
M="$GRID/mhm-moselle-1989-1993"
cd "$TMP" || fail "cd"
run_np "$NP" simulate -quiet -sim_res 1 -sim_lon -100,-90 -sim_lat 35,45 -sim_years 1 -o sim.nc > /dev/null || fail "simulate"
run_np "$NP" train -quiet -data sim.nc -o m.ckpt -train_epochs 1 -train_steps 5 -split_test_box -96,-94,38,40 > /dev/null ||
  fail "train"
run_np "$NP" predict -quiet -ckpt m.ckpt -data sim.nc -o pred.nc > /dev/null || fail "predict"
run_np "$NP" convert -data sim.nc -o conv.nc > /dev/null || fail "convert"
run_np "$NP" prep -quiet -format grid -i "$GRID/era5-t2m-uk-2019-03/era5-2mt-2019-03-uk.cdf5.nc" -o era5.nc > /dev/null ||
  fail "prep grid (ERA5)"
run_np "$NP" prep -quiet -format grid -prep_same_grid -i "$M/pre.nc" -i "$M/tavg.nc" -i "$M/mask.nc" -o moselle.nc > /dev/null ||
  fail "prep grid (Moselle)"
run_np "$NP" prep -quiet -format fluxnet2015 -i "$RACI_SHARED_DATA/towers/fluxnet2015-daily" -prep_sites DE-Tha,BE-Bra \
  -o towers.nc > /dev/null || fail "prep fluxnet2015"
ncdump -h pred.nc | grep -q "int regime(regime)" || fail "predict wrote no diagnostics (regime axis)"
$PY "$CHECK" sim.nc pred.nc conv.nc era5.nc moselle.nc towers.nc || fail "CF requirements"

# the checker refuses each broken requirement
$PY - << 'PYEOF' || fail "making broken files"
import shutil
import netCDF4
for name, src, edit in (("r1", "pred.nc", lambda d: d.setncattr("Conventions", "CF-1.6")),
                        ("r2", "pred.nc", lambda d: d["GPP"].delncattr("cell_methods")),
                        ("r3", "pred.nc", lambda d: d["lat"].delncattr("long_name")),
                        ("r4", "pred.nc", lambda d: d["lat"].delncattr("bounds")),
                        ("r6", "sim.nc", lambda d: d["TA"].setncattr("standard_name", "air_pressure")),
                        ("r7", "pred.nc", lambda d: d.setncattr("history", "raci predict -ckpt runs/m.ckpt"))):
    shutil.copy(src, f"{name}.nc")
    with netCDF4.Dataset(f"{name}.nc", "a") as d:
        edit(d)
PYEOF
$PY - << 'PYEOF' || fail "making a file without the regime coordinate"
import netCDF4
with netCDF4.Dataset("pred.nc") as s, netCDF4.Dataset("r5.nc", "w", format="NETCDF3_64BIT_DATA") as d:
    for n, dim in s.dimensions.items():
        d.createDimension(n, len(dim))
    d.setncatts({a: s.getncattr(a) for a in s.ncattrs()})
    for n, v in s.variables.items():
        if n == "regime":
            continue
        w = d.createVariable(n, v.dtype, v.dimensions, fill_value=getattr(v, "_FillValue", None))
        w.setncatts({a: v.getncattr(a) for a in v.ncattrs() if a != "_FillValue"})
        w[:] = v[:]
PYEOF
for r in 1 2 3 4 5 6 7; do
  if $PY "$CHECK" "r$r.nc" > "r$r.out" 2>&1; then fail "check_cf.py accepts a file that breaks R$r"; fi
  grep -q ": R$r: " "r$r.out" || { cat "r$r.out"; fail "check_cf.py does not name R$r"; }
done
echo "ok the checker refuses a file that breaks each of R1-R7"
echo "test_cf: ok at $NP ranks"
