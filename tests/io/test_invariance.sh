#!/bin/sh
# Rank-count invariance of read-decompose-write: `raci convert` of real grids
# (../shared/data/gridded) and of a site file on NP ranks gives the same file as
# on one process without mpirun (ncmpidiff; only `history` may differ), and the
# output is a valid CDF-5 file (ncvalidator).  usage: test_invariance.sh NP
. "$(dirname "$0")/../lib/common.sh"
NP=${1:?usage: test_invariance.sh NP}

ncgen -5 -o "$TMP/sites.nc" "$RACI_SHARED_DATA/../examples/site-input.cdl" || fail "ncgen of the example site file"

check() { # label, then convert options; $NP_ONLY: options for the NP-rank run only
  label=$1; shift
  run_np 1 convert -o "$TMP/$label-ref.nc" "$@" > "$TMP/$label-ref.log" 2>&1 || { cat "$TMP/$label-ref.log"; fail "$label: 1-process run"; }
  run_np "$NP" convert -o "$TMP/$label-np.nc" "$@" ${NP_ONLY:-} > "$TMP/$label-np.log" 2>&1 || { cat "$TMP/$label-np.log"; fail "$label: $NP-rank run"; }
  grep -q "$NP ranks" "$TMP/$label-np.log" || { cat "$TMP/$label-np.log"; fail "$label: run did not report $NP ranks"; }
  same_nc "$TMP/$label-ref.nc" "$TMP/$label-np.nc" || fail "$label: 1 and $NP ranks differ"
  ncvalidator -q "$TMP/$label-np.nc" || fail "$label: ncvalidator rejects the output"
  [ "$(ncdump -k "$TMP/$label-np.nc")" = cdf5 ] || fail "$label: output is not CDF-5"
  ls "$TMP"/*.tmp 2>/dev/null && fail "$label: temporary file left"
  echo "ok $label ($NP ranks)"
}

SE="$GRID/bcsd-obs-1999-se-us/bcsd_obs_1999.nc"
WG="$GRID/vic-livneh-walnut-gulch-2008/livneh_NAmerExt_15Oct2014.WalnutGulch.2008.nc"
ERA="$GRID/era5-t2m-uk-2019-03/era5-2mt-2019-03-uk.cdf5.nc"

check se-us        -data "$SE" -fast pr,tas
check se-us-chunks -data "$SE" -fast pr -target tas -convert_chunk 5 -grid_halo 2
NP_ONLY="-da_processors_x 1 -da_processors_y $NP"
check se-us-strips -data "$SE" -fast pr,tas
NP_ONLY=""
check walnut-gulch -data "$WG" -fast temp,shortwave,vapor_pressure,prec -slow mask -convert_chunk 1000
check era5-uk      -data "$ERA" -fast t2m -convert_chunk 200
check sites        -data "$TMP/sites.nc" -fast TA,SW_IN -slow class -target FCH4,FCH4_gapfilled
echo "test_invariance: ok at $NP ranks"
