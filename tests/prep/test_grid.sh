#!/bin/sh
# raci prep -format grid on NP ranks: gridded forcing into one daily CDF-5 grid.
# check_grid.py computes every expected value itself from the input files
# (netCDF4/numpy) and compares it with raci's output.
#  - mHM Moselle (nine NetCDF-4 files, dimensions xc/yc and x/y, five time
#    origins, 2-D lat/lon that disagree between files although the cells are
#    the same by index): refused without -prep_same_grid (one line naming
#    it); with it and pre.nc first, 1826 days 1989-01-01..1993-12-31, TA ==
#    tavg, P == pre, WS == windspeed, SW_IN == ssrd, VPD = (es(tmax) +
#    es(tmin)) / 2 - eabs (Pa) on every cell mask.nc keeps, fill on every
#    other, MAT, MAP, pre.nc's coordinates; values picked by hand; net_rad
#    reported as not used;
#  - ERA5 hourly t2m over the UK (CDF-5, latitudes descending, 744 steps):
#    31 daily means of t2m - 273.15 (rows flipped), latitudes ascending,
#    SW_IN derived (raci_derived "yes") by Hargreaves from the hourly daily
#    range; values picked by hand;
#  - Livneh Walnut Gulch 3-hourly (classic 64-bit offset) with the VIC
#    parameters' elev, -prep_units wind=m s-1 -prep_amount_stamp start: TA,
#    SW_IN, PA, WS means of 8 steps, P their sum, VPD from vapor_pressure,
#    elev, 366 local days; without those options a warning about WS's mean
#    on stdout, and the amounts stamped at the end lose 2008-12-31;
#  - files made here from the ERA5 file or from scratch: a copy with
#    longitudes 0..360 (columns rolled): the same file as the original's; a
#    daily noleap year on a curvilinear 2-D grid (tmax and tmin known by
#    standard_name and cell_methods, pr in kg m-2 s-1): calendar noleap
#    kept, 365 days to 2000-12-31, Hargreaves with the noleap day of year;
#    an ERA5-style hourly file (t2m, d2m, u10, v10, sp, tp in m and ssrd in
#    J m**-2 stamped at the end of their hour) with z and lsm in a file whose
#    rows run the other way: only the complete days, amounts summed over
#    01:00..24:00, VPD from es(d2m) and the hourly max and min, WS from u10,
#    v10, elev = z / 9.80665, fill where lsm is 0; an ERA5-Land-style file
#    (accumulated since 00 UTC) with -prep_accum day: the same totals; a
#    packed short copy (scale_factor, add_offset, some values _FillValue):
#    the daily means within packing precision, TA and the derived SW_IN
#    missing on the days with a filled hour; the noleap file with vp and a
#    missing tmx and tmn: VPD and SW_IN missing on those days;
#  - bad input: unknown units, no time axis, no day in common, a 2-D driver,
#    a 3-D static, a missing file, a file that is not NetCDF, another grid
#    shape, two calendars: one line, nothing written;
#  - a class map (MODIS IGBP names) recoded to the classes of -prep_class_codes
#    (a class no tower has to unknown, a cell without one missing); refused
#    without -prep_class_codes, or when the class is not there and no unknown;
#  - soil maps from a NetCDF-4 static file in other units (awc in cm, clay in
#    g/kg, ocs in t ha-1, wetland in percent, latitudes descending, one cell
#    filled): whc, clay, soc, wetland_frac in mm, %, kg m-2 and 1 against
#    numpy; refused: clay in kg m-2 (not a fraction), a clay of 150 %;
#  - on NP > 1 the files are the same as on 1 rank.
# usage: test_grid.sh NP
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/lib.sh"
NP=${1:?usage: test_grid.sh NP}
PY=/usr/bin/python3
HERE=$(dirname "$0")
CHECK="$HERE/check_grid.py"
MHM="$GRID/mhm-moselle-1989-1993"
ERA5="$GRID/era5-t2m-uk-2019-03/era5-2mt-2019-03-uk.cdf5.nc"
LIVF="$GRID/vic-livneh-walnut-gulch-2008/livneh_NAmerExt_15Oct2014.WalnutGulch.2008.nc"
LIVP="$GRID/vic-livneh-walnut-gulch-2008/params.WalnutGulch.MOD_IGBP.0.0625_deg.nc"

# grid_np NAME args...: raci prep -format grid args... on $NP ranks into $O/NAME.nc (stdout in
# $O/NAME.log, nothing on stderr)
O="$TMP/grids"
mkdir -p "$O"
grid_np() {
  name=$1; shift
  run_np "$NP" prep -format grid "$@" -o "$O/$name.nc" > "$O/$name.log" 2> "$O/$name.err" ||
    { cat "$O/$name.log" "$O/$name.err"; fail "$name: raci prep -format grid $*"; }
  [ ! -s "$O/$name.err" ] || { cat "$O/$name.err"; fail "$name: output on stderr"; }
}
# grid NAME args...: grid_np, and on NP > 1 the same file as on 1 rank
grid() {
  grid_np "$@"
  if [ "$NP" -ne 1 ]; then
    name=$1; shift
    run_np 1 prep -quiet -format grid "$@" -o "$O/$name-1.nc" > "$O/$name-1.log" 2>&1 ||
      { cat "$O/$name-1.log"; fail "$name: on 1 rank"; }
    same_nc "$O/$name.nc" "$O/$name-1.nc" || fail "$name: the file on $NP ranks differs from the one on 1 rank"
    echo "ok $name: the same file on $NP ranks as on 1"
  fi
}
# logged NAME TEXT...: the stdout of NAME's run has each fixed TEXT
logged() {
  name=$1; shift
  for want in "$@"; do
    grep -qF -- "$want" "$O/$name.log" || { cat "$O/$name.log"; fail "$name: the log does not say '$want'"; }
  done
}

# ---- mHM Moselle: nine NetCDF-4 files, pre.nc's coordinates for all (-prep_same_grid)
set -- -i "$MHM/pre.nc"
for v in tavg tmax tmin eabs ssrd net_rad windspeed mask; do set -- "$@" -i "$MHM/$v.nc"; done
bad "mHM files whose coordinates disagree" "if the files are one grid with wrong coordinates in some, -prep_same_grid takes the cells by index" -format grid "$@"
grep -qF "$MHM/tmax.nc: variable tmax: its cell (y 0, x 0) is at lat 49.4614, lon 7.52938, but $MHM/pre.nc's first cell is at lat 47.7528, lon 5.52338" "$TMP/err" ||
  { cat "$TMP/err"; fail "mHM: the error does not name the cells that disagree"; }
grid mhm "$@" -prep_same_grid
logged mhm "raci prep: wrote $O/mhm.nc: 9 x 6 cells (yc, xc), 1826 days from 1989-01-01 to 1993-12-31 (standard calendar, UTC days), 9 files" \
  "raci prep: note: not used (no driver raci knows; -map NAME=QUANTITY): net_rad.nc:net_rad" \
  "raci prep: warning: cells of tmax.nc tmin.nc eabs.nc ssrd.nc windspeed.nc mask.nc taken by index (-prep_same_grid)" \
  "  VPD    fast  hPa            <- derived: es(T) - ea, es the mean of es(Tmax) and es(Tmin), ea the vapour pressure"
# and values picked by hand (VAR DAY Y X VALUE TOLERANCE): netCDF4 reads of the inputs, day 0 = 1989-01-01
$PY "$CHECK" mhm "$O/mhm.nc" "$MHM" - <<'EOF' || fail "mHM values"
TA     0    0 2  4.26                 1e-4  # tavg.nc, 1989-01-01
WS     0    0 2  3.936046838760376    1e-5  # windspeed.nc
SW_IN  0    0 2  100.02222411863256   1e-4  # ssrd.nc
VPD    0    0 2  1.0018109448893444   1e-4  # tmax 8.428637504577637, tmin 4.421987056732178, eabs 870.9323120117188 Pa
TA     500  4 3  15.78                1e-4  # 1990-05-16
SW_IN  500  4 3  354.45643383953086   1e-4
VPD    500  4 3  4.8845364436192895   1e-4  # tmax 21.04839324951172, tmin 12.500914573669434, eabs 1483.5343017578125 Pa
P      1825 8 4  55.6                 1e-4  # pre.nc, 1993-12-31
TA     1825 8 4  5.03                 1e-4
TA     0    0 0  fill                 0     # tavg.nc has a value, mask.nc none
P      1825 8 5  fill                 0
EOF

# ---- ERA5 hourly t2m, latitudes descending
grid era5 -i "$ERA5"
logged era5 "raci prep: wrote $O/era5.nc: 33 x 49 cells (lat, lon), 31 days from 2019-03-01 to 2019-03-31 (standard calendar, UTC days), 1 file" \
  "  TA     fast  degC           <- era5-2mt-2019-03-uk.cdf5.nc:t2m (K, 24 steps a day, mean)" \
  "  SW_IN  fast  W m-2          <- derived: Hargreaves-Samani from the daily temperature range"
$PY "$CHECK" era5 "$O/era5.nc" "$ERA5" - <<'EOF' || fail "ERA5 values"
TA  0  0  0   10.96479187011721  1e-4  # lat 50 (the input's last row), lon -10, 2019-03-01: mean of 24 t2m - 273.15
TA  30 32 48  4.586724853515648  1e-4  # lat 58 (the input's first row), lon 2, 2019-03-31
EOF

# ---- Livneh Walnut Gulch, 3-hourly local time, with the VIC parameters' elevation
grid livneh -i "$LIVF" -i "$LIVP" -prep_units "wind=m s-1" -prep_amount_stamp start
logged livneh "raci prep: wrote $O/livneh.nc: 3 x 5 cells (lat, lon), 366 days from 2008-01-01 to 2008-12-31 (standard calendar, local days), 2 files" \
  "  P      fast  mm d-1         <- livneh_NAmerExt_15Oct2014.WalnutGulch.2008.nc:prec (mm timestep-1, 8 steps a day, sum)" \
  "  WS     fast  m s-1          <- livneh_NAmerExt_15Oct2014.WalnutGulch.2008.nc:wind (m s-1, 8 steps a day, mean)" \
  "  elev   slow  m              <- params.WalnutGulch.MOD_IGBP.0.0625_deg.nc:elev (m)"
grep -q "warning: WS has a mean" "$O/livneh.log" && { cat "$O/livneh.log"; fail "livneh: a warning about WS with -prep_units"; }
$PY "$CHECK" livneh "$O/livneh.nc" "$LIVF" "$LIVP" - <<'EOF' || fail "Livneh values"
P   200 1 2  27.042749404907227  1e-4  # 8 x 3.38034368 mm on 2008-07-19
TA  0   0 0  8.35432717078406    1e-4  # mean of the 8 steps of 2008-01-01
EOF
# the file's own units (mm s-1) and stamps (amounts taken as stamped at the end of their interval)
grid_np livneh-mm -i "$LIVF" -i "$LIVP"
logged livneh-mm "raci prep: warning: WS has a mean of 0.0028" " m s-1 over the grid and span, outside any climate (0.3..25" \
  "are the units of livneh_NAmerExt_15Oct2014.WalnutGulch.2008.nc:wind (mm s-1, 8 steps a day, mean) right? (-prep_units NAME=UNITS)" \
  "365 days from 2008-01-01 to 2008-12-30" "prec 2008-01-01..2008-12-30"
echo "ok livneh: without -prep_units a warning on stdout about WS's mean; amounts stamped at the end lose 2008-12-31"

# ---- files made here
$PY "$CHECK" make "$TMP" "$ERA5" || fail "making the synthetic inputs"
# longitudes 0..360, columns rolled: the same file as the original's (the same basename, in another
# directory; era5.nc is the one on 1 rank when NP > 1)
grid_np lon360 -i "$TMP/lon360/era5-2mt-2019-03-uk.cdf5.nc"
# the same file but for the global source attribute, which names each input by its absolute path
for f in lon360 era5; do
  ncdump "$O/$f.nc" | grep -v -e '^[[:space:]]*:source = ' -e '^[[:space:]]*:history = ' -e '^netcdf ' > "$O/$f.cdl"
done
cmp -s "$O/lon360.cdl" "$O/era5.cdl" || { diff "$O/lon360.cdl" "$O/era5.cdl" | head; fail "longitudes 0..360: not the file of the original"; }
echo "ok longitudes 0..360: the same file as from the original"
# a noleap year on a 2-D lat/lon grid
grid noleap -i "$TMP/noleap.nc"
logged noleap "raci prep: wrote $O/noleap.nc: 3 x 4 cells (y, x), 365 days from 2000-01-01 to 2000-12-31 (noleap calendar, UTC days)"
$PY "$CHECK" noleap "$O/noleap.nc" "$TMP/noleap.nc" || fail "noleap values"
# ERA5 hourly: amounts stamped at the end of their hour, dew point, wind components; with z and lsm in a
# file whose rows run the other way
grid era5x -i "$TMP/era5x.nc" -i "$TMP/era5x-static.nc"
logged era5x "raci prep: wrote $O/era5x.nc: 4 x 5 cells (lat, lon), 3 days from 2019-03-01 to 2019-03-03" \
  "  SW_IN  fast  W m-2          <- era5x.nc:ssrd (J m**-2, 24 steps a day, sum)" \
  "  P      fast  mm d-1         <- era5x.nc:tp (m, 24 steps a day, sum)" \
  "ea es of the dew point" "  WS     fast  m s-1          <- derived: mean over the steps of sqrt(u^2 + v^2)" \
  "  elev   slow  m              <- era5x-static.nc:z (m**2 s**-2) / 9.80665 m s-2"
$PY "$CHECK" era5x "$O/era5x.nc" "$TMP/era5x.nc" all "$TMP/era5x-static.nc" || fail "ERA5-style hourly values"
# ERA5-Land: accumulated since 00 UTC, the day's amount at 24:00
grid era5land -i "$TMP/era5land.nc" -prep_accum day
logged era5land "3 days from 2019-03-01 to 2019-03-03" "era5land.nc:tp (m, 24 steps a day, last step)" \
  "era5land.nc:ssrd (J m**-2, 24 steps a day, last step)"
$PY "$CHECK" era5x "$O/era5land.nc" "$TMP/era5x.nc" amounts || fail "ERA5-Land-style values: not the totals of the hourly steps"

# ---- bad input: one error line naming what, non-zero exit, nothing written (bad: tests/prep/lib.sh).
# Every rank builds the plan that refuses them and rank 0's verdict is everyone's: the mHM files above, a
# missing file and two calendars on $NP ranks; the others, the same on any number of ranks, only when
# NP is 1 (bad1), which keeps the runs on 2 and 4 ranks short.
bad1() {
  if [ "$NP" -eq 1 ]; then bad "$@"; fi
}
bad1 "unknown units" "$TMP/furlongs.nc: variable t2m (TA): units 'furlongs' are not units of TA" -format grid -i "$TMP/furlongs.nc"
bad1 "no time axis" "$TMP/notime.nc: variable t2m: no time axis" -format grid -i "$TMP/notime.nc"
bad1 "no day in common" "the files have no day in common: tas 2000-01-01..2000-12-31; pr 2001-01-01..2001-12-31" \
  -format grid -i "$TMP/ta2000.nc" -i "$TMP/pr2001.nc"
bad1 "a 2-D driver" "$TMP/twod.nc: variable foo (TA) has dimensions (lat, lon); a driver needs (time, y, x)" \
  -format grid -i "$TMP/twod.nc" -map foo=TA
bad1 "a 3-D static" "$TMP/static3.nc: variable hgt (elev) has 3 dimensions; a static map needs (y, x) or (1, y, x)" \
  -format grid -i "$TMP/static3.nc" -map hgt=elev
bad "a missing file" "$TMP/missing.nc: cannot open: no such file or not readable" \
  -format grid -i "$TMP/ta2000.nc" -i "$TMP/missing.nc"
printf 'time,t2m\n2019-03-01,280\n' > "$TMP/text.nc"
bad1 "a file that is not NetCDF" "$TMP/text.nc: not a NetCDF file" -format grid -i "$TMP/text.nc"
bad1 "another grid shape" "$TMP/pr2000wide.nc: variable pr is on a 3 x 5 grid (lat, lon), $TMP/ta2000.nc:tas on 3 x 4: raci prep does not regrid" \
  -format grid -i "$TMP/ta2000.nc" -i "$TMP/pr2000wide.nc"
bad "two calendars" "$TMP/pr2000noleap.nc: variable pr uses the noleap calendar, $TMP/ta2000.nc the standard calendar" \
  -format grid -i "$TMP/ta2000.nc" -i "$TMP/pr2000noleap.nc"

# ---- missing values: a day with a missing step or input is missing, derived drivers included.
# A packed copy of ERA5 (values set to _FillValue: TA and the Hargreaves SW_IN missing on the days
# with a filled hour; split over the ranks as era5.nc, which is compared with the file on 1 rank),
# and the noleap file with vp and a missing tmx and tmn (VPD and SW_IN missing there)
grid_np packed -i "$TMP/packed.nc"
logged packed "31 days from 2019-03-01 to 2019-03-31" "packed.nc:t2m (K, 24 steps a day, mean)"
grid_np gap -i "$TMP/noleap-gap.nc"
logged gap "365 days from 2000-01-01 to 2000-12-31 (noleap calendar" \
  "  VPD    fast  hPa            <- derived: es(T) - ea, es the mean of es(Tmax) and es(Tmin), ea the vapour pressure"
missing=""
$PY "$CHECK" packed "$O/packed.nc" "$TMP/packed.nc" "$ERA5" || missing="$missing packed"
$PY "$CHECK" noleap "$O/gap.nc" "$TMP/noleap-gap.nc" || missing="$missing noleap-gap"
[ -z "$missing" ] || fail "missing values:$missing"

# ---- a vegetation class map (MODIS IGBP names, codes 1..16) recoded to the classes of the training file
# given by -prep_class_codes (a site file with IGBP abbreviations and unknown): ENF, OSH, GRA, CRO by name,
# barren (no tower has it) to unknown with a note, a cell without a class missing
$PY - "$TMP" << 'PYEOF' || fail "making the class files"
import sys
import netCDF4
import numpy as np
d = sys.argv[1]
with netCDF4.Dataset(f"{d}/codes.nc", "w", format="NETCDF3_64BIT_DATA") as o:
    o.createDimension("site", 2)
    c = o.createVariable("class", "i1", ("site",))
    c.flag_values = np.arange(6, dtype="i1")
    c.flag_meanings = "CRO DBF ENF GRA OSH unknown"
    c.raci_role = "slow"
    c[:] = [0, 1]
with netCDF4.Dataset(f"{d}/ta2000.nc") as src, netCDF4.Dataset(f"{d}/lc.nc", "w", format="NETCDF4") as o:
    ny, nx = len(src.dimensions["lat"]), len(src.dimensions["lon"])
    for n in ("lat", "lon"):
        o.createDimension(n, len(src.dimensions[n]))
        v = o.createVariable(n, "f8", (n,))
        v[:], v.units = src[n][:], src[n].units
    lc = o.createVariable("LC_Type1", "u1", ("lat", "lon"), fill_value=255)
    lc.flag_values = np.array([1, 7, 10, 12, 16], dtype="u1")
    lc.flag_meanings = "evergreen_needleleaf_forest open_shrublands grasslands croplands barren"
    codes = np.array([1, 7, 10, 12, 16, 255, 10, 7, 12, 1, 16, 10] * 4, dtype="u1")[: ny * nx]
    lc[:] = codes.reshape(ny, nx)
PYEOF
grid_np lc -i "$TMP/ta2000.nc" -i "$TMP/lc.nc" -prep_class_codes "$TMP/codes.nc"
logged lc "classes of the class map that no class of $TMP/codes.nc matches, written as unknown: barren"
$PY - "$O/lc.nc" "$TMP/lc.nc" << 'PYEOF' || fail "class map recoded"
import sys
import netCDF4
import numpy as np
want = {1: 2, 7: 4, 10: 3, 12: 0, 16: 5}  # ENF, OSH, GRA, CRO, barren -> unknown (codes.nc's flag_values)
with netCDF4.Dataset(sys.argv[1]) as o, netCDF4.Dataset(sys.argv[2]) as i:
    got, src = o["class"], np.ma.filled(i["LC_Type1"][:].astype(int), 255)
    assert got.dtype == np.int8 and list(got.flag_values) == list(range(6)), (got.dtype, got.flag_values)
    assert got.flag_meanings == "CRO DBF ENF GRA OSH unknown" and got.raci_role == "slow"
    g = np.ma.filled(got[:].astype(int), -1)
    for (y, x), v in np.ndenumerate(src):
        assert g[y, x] == want.get(v, -1), (y, x, v, g[y, x])
print(f"ok class map: {src.size} cells recoded by name to the training file's codes, barren to unknown, none missing")
PYEOF
bad1 "a class map without -prep_class_codes" "variable LC_Type1 is a class map: give -prep_class_codes FILE" \
  -format grid -i "$TMP/ta2000.nc" -i "$TMP/lc.nc"
$PY - "$TMP" << 'PYEOF' || fail "making codes without unknown"
import sys
import netCDF4
import numpy as np
with netCDF4.Dataset(f"{sys.argv[1]}/codes2.nc", "w", format="NETCDF3_64BIT_DATA") as o:
    o.createDimension("site", 1)
    c = o.createVariable("class", "i1", ("site",))
    c.flag_values, c.flag_meanings = np.arange(5, dtype="i1"), "CRO DBF ENF GRA OSH"
PYEOF
bad1 "a class the training file lacks" "class barren (code 16) of LC_Type1 is not among the classes of $TMP/codes2.nc (5)" \
  -format grid -i "$TMP/ta2000.nc" -i "$TMP/lc.nc" -prep_class_codes "$TMP/codes2.nc"

# ---- soil maps from a static file: other names and units, rows the other way, one cell without a value
$PY - "$TMP" << 'PYEOF' || fail "making the soil files"
import sys
import netCDF4
import numpy as np
d = sys.argv[1]
with netCDF4.Dataset(f"{d}/ta2000.nc") as src:
    lat, lon = src["lat"][:], src["lon"][:]
    latu, lonu = src["lat"].units, src["lon"].units
ny, nx = len(lat), len(lon)
rng = np.random.default_rng(7)
for name, clay_units, clay_scale in (("soil", "g/kg", 10.0), ("soil-badunits", "kg m-2", 1.0), ("soil-range", "%", 1.0)):
    with netCDF4.Dataset(f"{d}/{name}.nc", "w", format="NETCDF4") as o:
        for n, v, u in (("latitude", lat[::-1], latu), ("longitude", lon, lonu)):
            o.createDimension(n, len(v))
            c = o.createVariable(n, "f8", (n,))
            c[:], c.units = v, u
        dims = ("latitude", "longitude")
        awc = o.createVariable("awc", "f4", dims, fill_value=-1.0)
        awc.units = "cm"
        awc[:] = rng.uniform(5, 30, (ny, nx))
        awc[0, 0] = np.ma.masked
        clay = o.createVariable("t_clay", "f4", dims)
        clay.units = clay_units
        clay[:] = rng.uniform(5, 60, (ny, nx)) * clay_scale
        if name == "soil-range":
            clay[1, 2] = 150
        ocs = o.createVariable("ocs", "f4", dims)
        ocs.units = "t ha-1"
        ocs[:] = rng.uniform(20, 400, (ny, nx))
        wet = o.createVariable("wetland", "f4", dims)
        wet.units = "%"
        wet[:] = rng.uniform(0, 100, (ny, nx))
PYEOF
grid soil -i "$TMP/ta2000.nc" -i "$TMP/soil.nc"
logged soil "  whc    slow  mm             <- soil.nc:awc (cm)" "  clay   slow  %              <- soil.nc:t_clay (g/kg)" \
  "  soc    slow  kg m-2         <- soil.nc:ocs (t ha-1)" "  wetland_frac slow  1              <- soil.nc:wetland (%)"
$PY - "$O/soil.nc" "$TMP/soil.nc" << 'PYEOF' || fail "soil maps"
import sys
import netCDF4
import numpy as np
with netCDF4.Dataset(sys.argv[1]) as o, netCDF4.Dataset(sys.argv[2]) as i:
    want = {"whc": i["awc"][::-1] * 10.0, "clay": i["t_clay"][::-1] / 10.0, "soc": i["ocs"][::-1] / 10.0,
            "wetland_frac": i["wetland"][::-1] / 100.0}
    units = {"whc": "mm", "clay": "%", "soc": "kg m-2", "wetland_frac": "1"}
    for name, w in want.items():
        g = o[name]
        assert g.units == units[name] and g.raci_role == "slow" and g.dimensions == ("lat", "lon"), (name, g)
        got = g[:]
        assert np.array_equal(np.ma.getmaskarray(got), np.ma.getmaskarray(w)), (name, got, w)
        assert np.ma.allclose(got, w, rtol=1e-6, atol=0), (name, got, w)
    assert np.ma.is_masked(o["whc"][-1, 0]) and o["soc"].standard_name == "soil_mass_content_of_carbon"
print("ok soil maps: whc, clay, soc, wetland_frac converted from cm, g/kg, t ha-1 and % on every cell, rows flipped")
PYEOF
bad1 "clay in units of a stock" "$TMP/soil-badunits.nc: variable t_clay (clay): units 'kg m-2' are not units of clay" \
  -format grid -i "$TMP/ta2000.nc" -i "$TMP/soil-badunits.nc"
bad1 "a clay content of 150 %" "clay 150 % at lat" -format grid -i "$TMP/ta2000.nc" -i "$TMP/soil-range.nc"
echo "test_grid: ok at $NP ranks"
