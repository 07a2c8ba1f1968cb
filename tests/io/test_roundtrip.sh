#!/bin/sh
# Round trip: a file written on N ranks is read back on M ranks. `raci convert`
# on N ranks writes B from a real grid; B's values equal the input's wherever the
# input has a value and are missing exactly where it is missing (checked with
# netCDF-C through python3-netCDF4, independent of PnetCDF); `raci convert` of B
# on M ranks, with roles now from B's raci_role attributes, reproduces B.
# usage: test_roundtrip.sh N M
. "$(dirname "$0")/../lib/common.sh"
N=${1:?usage: test_roundtrip.sh N M}
M=${2:?usage: test_roundtrip.sh N M}
PY=/usr/bin/python3
HERE=$(dirname "$0")

trip() { # label, input, vars, convert options
  label=$1 in=$2 vars=$3; shift 3
  run_np "$N" convert -data "$in" -o "$TMP/$label-b.nc" "$@" > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "$label: write on $N ranks"; }
  $PY "$HERE/compare_values.py" "$in" "$TMP/$label-b.nc" $vars || fail "$label: values written on $N ranks differ from the input"
  run_np "$M" convert -data "$TMP/$label-b.nc" -o "$TMP/$label-c.nc" > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "$label: read back on $M ranks"; }
  same_nc "$TMP/$label-b.nc" "$TMP/$label-c.nc" || fail "$label: written on $N, rewritten on $M ranks: files differ"
  echo "ok $label ($N -> $M ranks)"
}

ncgen -5 -o "$TMP/sites.nc" "$RACI_SHARED_DATA/../examples/site-input.cdl" || fail "ncgen of the example site file"
trip se-us "$GRID/bcsd-obs-1999-se-us/bcsd_obs_1999.nc" "pr tas" -fast pr,tas
trip walnut-gulch "$GRID/vic-livneh-walnut-gulch-2008/livneh_NAmerExt_15Oct2014.WalnutGulch.2008.nc" "temp prec mask" -fast temp,prec -slow mask
trip sites "$TMP/sites.nc" "TA SW_IN class FCH4_gapfilled" -fast TA,SW_IN -slow class -target FCH4_gapfilled
echo "test_roundtrip: ok ($N -> $M ranks)"
