#!/bin/sh
# `raci info` on every file in ../shared/data/gridded: classic, 64-bit-offset and
# CDF-5 files are described (dimensions and variables as ncdump -h lists them,
# missing fractions as netCDF-C computes them); NetCDF-4 files get one clear error
# naming `nccopy -k cdf5`.  usage: test_info.sh NP
. "$(dirname "$0")/../lib/common.sh"
NP=${1:?usage: test_info.sh NP}
PY=/usr/bin/python3
nclassic=0; nhdf5=0
for f in "$GRID"/*/*.nc; do
  kind=$(ncdump -k "$f")
  case "$kind" in
  classic|"64-bit offset"|cdf5)
    run_np "$NP" info "$f" > "$TMP/info" 2> "$TMP/err" || { cat "$TMP/err"; fail "info $f exits non-zero"; }
    # every variable and dimension that ncdump lists, with its dimensions
    ncdump -h "$f" | sed -n 's/^\t[a-z0-9]* \([A-Za-z0-9_]*\)(\(.*\)) ;$/\1 (\2)/p' | tr -d ' ' | sed 's/(/ (/' > "$TMP/want"
    awk '/^variables:/{v=1;next} v && $1!="name"{print $1" "$2}' "$TMP/info" > "$TMP/got"
    sort "$TMP/want" > "$TMP/want.s"; sort "$TMP/got" > "$TMP/got.s"
    cmp -s "$TMP/want.s" "$TMP/got.s" || { diff "$TMP/want.s" "$TMP/got.s"; fail "info $f: variables differ from ncdump -h"; }
    ndims=$(ncdump -h "$f" | awk '/^dimensions:/{d=1;next} /^variables:/{d=0} d' | grep -c '=')
    [ "$(grep '^dimensions:' "$TMP/info" | tr ',' '\n' | grep -c '=')" -eq "$ndims" ] || fail "info $f: dimension count"
    # missing fractions against netCDF-C (masked values of each numeric variable)
    $PY - "$f" "$TMP/info" <<'PYEOF' || fail "info $f: missing fractions"
import sys, numpy as np, netCDF4
path, info = sys.argv[1], sys.argv[2]
rows = {}
seen = False
for line in open(info):
    if line.startswith("variables:"):
        seen = True
        continue
    p = line.split()
    if seen and p and p[0] != "name" and p[-1].endswith("%"):
        rows[p[0]] = float(p[-1][:-1])
bad = 0
with netCDF4.Dataset(path) as ds:
    for name, v in ds.variables.items():
        if v.dtype.kind in "SU" or name not in rows:
            continue
        a = np.ma.masked_invalid(np.ma.asarray(v[...]).astype(float))
        frac = 100.0 * np.ma.getmaskarray(a).sum() / max(a.size, 1)
        if abs(frac - rows[name]) > 5e-5:
            print(f"{name}: raci {rows[name]}% netCDF-C {frac:.6f}%")
            bad += 1
sys.exit(1 if bad else 0)
PYEOF
    nclassic=$((nclassic + 1)); echo "ok info $(basename "$f") ($kind)" ;;
  *)
    if run_np "$NP" info "$f" > "$TMP/info" 2> "$TMP/err"; then fail "info $f (NetCDF-4) exits 0"; fi
    [ "$(grep -c '^raci: error:' "$TMP/err")" -eq 1 ] || { cat "$TMP/err"; fail "info $f: not one error line"; }
    grep -q 'nccopy -k cdf5' "$TMP/err" || { cat "$TMP/err"; fail "info $f: message does not name nccopy -k cdf5"; }
    nhdf5=$((nhdf5 + 1)); echo "ok info $(basename "$f") ($kind): $(cat "$TMP/err")" ;;
  esac
done
[ $nclassic -ge 6 ] && [ $nhdf5 -ge 7 ] || fail "expected at least 6 classic and 7 NetCDF-4 files, saw $nclassic and $nhdf5"
# the time span of a real file, computed by hand: 2928 3-hourly steps of 2008
run_np "$NP" info "$GRID/vic-livneh-walnut-gulch-2008/livneh_NAmerExt_15Oct2014.WalnutGulch.2008.nc" | grep -q '^time: 2008-01-01 to 2008-12-31 21:00, 2928 steps' || fail "Walnut Gulch time span"
echo "test_info: ok ($nclassic classic, $nhdf5 NetCDF-4 files, $NP ranks)"
