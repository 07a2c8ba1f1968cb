#!/bin/sh
# raci prep on NP ranks, on slices of the real tower CSVs (the first lines of
# three sites per product, copied to a scratch directory) and on the whole
# real directories:
#  - every value, the daily axis, missing days outside each record, site
#    metadata, classes and climate normals as check_prep.py reads them from
#    the original CSVs (FLUXNET-CH4 measured and gap-filled targets, NEE in
#    g C m-2 d-1, BE-Bra's extra columns, FluxDataKit's NA and -9999);
#  - the same file on NP ranks as on 1, and with \r\n line ends;
#  - bad input: one error line naming the file and line (or column), a
#    non-zero exit and no output; -prep_out_of_range missing instead;
#  - both real directories with -prep_out_of_range missing: 13 and 20 sites,
#    readable by raci info, and raci train starts on them.
# usage: test_prep.sh NP
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/lib.sh"
NP=${1:?usage: test_prep.sh NP}
PY=/usr/bin/python3
HERE=$(dirname "$0")
CH4="$RACI_SHARED_DATA/towers/fluxnet-ch4-daily"
FDK="$RACI_SHARED_DATA/towers/fluxdatakit-daily"

# slice DIR SRC NLINES SITE...: the first NLINES lines of each site's file
slice() {
  dir=$1 src=$2 n=$3; shift 3
  mkdir -p "$dir"
  for s in "$@"; do
    f=$(ls "$src"/FLX_"$s"_*.csv) || fail "no file for $s in $src"
    head -n "$n" "$f" > "$dir/$(basename "$f")"
  done
}
mkdir -p "$TMP/ch4" "$TMP/fdk"
slice "$TMP/ch4" "$CH4" 120 FI-Lom DE-Hte BW-Gum
cp "$CH4"/FLX_AA-Flx_CH4-META_*.csv "$TMP/ch4/"
slice "$TMP/fdk" "$FDK" 120 BE-Bra US-Wkg
slice "$TMP/fdk" "$FDK" 373 DE-Gri # all of it: PA_F is -9999 in its last days
cp "$FDK"/rsofun_drivers_*.csv "$TMP/fdk/"
CH4_SITES="FI-Lom:120 DE-Hte:120 BW-Gum:120"
FDK_SITES="BE-Bra:120 US-Wkg:120 DE-Gri:373"

# good runs against the CSVs, and against 1 rank
run_np "$NP" prep -format fluxnet-ch4 -i "$TMP/ch4" -o "$TMP/ch4.nc" > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "prep fluxnet-ch4"; }
grep -q "3 sites, 4502 days from 2006-01-01 to 2018-04-29" "$TMP/log" || { cat "$TMP/log"; fail "no summary"; }
# BW-Gum's row: record, rows, days with measured FCH4 (column 5) counted here
n=$(awk -F, 'NR > 1 && $5 != "-9999"' "$TMP"/ch4/FLX_BW-Gum_*.csv | wc -l)
grep -Eq "^ +BW-Gum +2018-01-01 2018-04-29 +119 +$n\$" "$TMP/log" || { cat "$TMP/log"; fail "summary of BW-Gum ($n measured FCH4)"; }
$PY "$HERE/check_prep.py" ch4 "$TMP/ch4.nc" "$CH4" $CH4_SITES || fail "fluxnet-ch4 values"
run_np "$NP" prep -quiet -format fluxnet-ch4 -i "$TMP/ch4" -o "$TMP/ch4g.nc" -prep_use_gapfilled > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "prep -prep_use_gapfilled"; }
[ -s "$TMP/log" ] && { cat "$TMP/log"; fail "-quiet prints"; }
$PY "$HERE/check_prep.py" ch4-gapfilled "$TMP/ch4g.nc" "$CH4" $CH4_SITES || fail "fluxnet-ch4 values, gap-filled target"
run_np "$NP" prep -quiet -format fluxdatakit -i "$TMP/fdk" -o "$TMP/fdk.nc" || fail "prep fluxdatakit"
$PY "$HERE/check_prep.py" fdk "$TMP/fdk.nc" "$FDK" $FDK_SITES || fail "fluxdatakit values"
# a subset of sites keeps every class of the table
run_np "$NP" prep -quiet -format fluxdatakit -i "$TMP/fdk" -o "$TMP/fdk2.nc" -prep_sites US-Wkg,DE-Gri || fail "prep -prep_sites"
$PY "$HERE/check_prep.py" fdk "$TMP/fdk2.nc" "$FDK" US-Wkg:120 DE-Gri:373 || fail "fluxdatakit values, two sites"
if [ "$NP" -ne 1 ]; then
  run_np 1 prep -quiet -format fluxnet-ch4 -i "$TMP/ch4" -o "$TMP/ch4-1.nc" || fail "prep on 1 rank"
  same_nc "$TMP/ch4.nc" "$TMP/ch4-1.nc" || fail "files on $NP ranks and 1 rank differ"
  echo "ok same file on $NP ranks as on 1"
fi
# \r\n line ends read as \n
mkdir "$TMP/crlf"
for f in "$TMP"/ch4/*.csv; do sed 's/$/\r/' "$f" > "$TMP/crlf/$(basename "$f")"; done
run_np "$NP" prep -quiet -format fluxnet-ch4 -i "$TMP/crlf" -o "$TMP/crlf.nc" || fail "prep on \\r\\n files"
same_nc "$TMP/ch4.nc" "$TMP/crlf.nc" || fail "\\r\\n line ends change the file"
echo "ok CRLF line ends give the same file"
ls "$TMP"/*.tmp > /dev/null 2>&1 && fail "temporary file left"

# bad input: one error line naming what, non-zero exit, nothing written (bad: tests/prep/lib.sh)
# edit NAME SCRIPT: a fresh copy of the fluxnet-ch4 slice with FI-Lom's file run through sed SCRIPT
edit() {
  rm -rf "$TMP/$1"
  cp -r "$TMP/ch4" "$TMP/$1"
  sed -i "$2" "$TMP/$1"/FLX_FI-Lom_*.csv
}
LOM=$(basename "$(ls "$TMP"/ch4/FLX_FI-Lom_*.csv)")
edit short '50s/,[^,]*$//'
bad "a row with a missing field" "$LOM:50: 40 fields, the header has 41" -format fluxnet-ch4 -i "$TMP/short"
edit word '60s/^\([0-9]*\),[^,]*,/\1,abc,/'
bad "a field that is not a number" "$LOM:60: column 'NEE': 'abc' is not a number" -format fluxnet-ch4 -i "$TMP/word"
edit foo '1s/$/,FOO/; 2,$s/$/,1/'
bad "an unknown column" "$LOM: unknown column 'FOO' for format fluxnet-ch4" -format fluxnet-ch4 -i "$TMP/foo"
edit dup '30p'
bad "a repeated date" "$LOM:31: date 20060129 repeats (line 30)" -format fluxnet-ch4 -i "$TMP/dup"
edit back '40{h;d}; 41G'
bad "a date going backwards" "$LOM:41: date 20060208 goes backwards (after 20060209 on line 40)" -format fluxnet-ch4 -i "$TMP/back"
edit month '45s/^20060213/20061313/'
bad "a date that does not parse" "$LOM:45: TIMESTAMP '20061313' is not a date YYYYMMDD" -format fluxnet-ch4 -i "$TMP/month"
edit nota '1s/,TA_F,/,TA_G,/'
bad "an unknown column in place of a needed one" "unknown column 'TA_G'" -format fluxnet-ch4 -i "$TMP/nota"
edit nota '1s/,TA_F,/,TS_9,/'
bad "a file without a needed column" "$LOM: no column 'TA_F' (needed for TA)" -format fluxnet-ch4 -i "$TMP/nota"
# TA_F is column 34 of FI-Lom's file
edit hot '70s/^\(\([^,]*,\)\{33\}\)[^,]*/\1500/'
bad "a value out of range" "$LOM:70: TA_F = 500 is outside the physical range of TA, -70..60 degC" -format fluxnet-ch4 -i "$TMP/hot"
run_np "$NP" prep -format fluxnet-ch4 -i "$TMP/hot" -o "$TMP/hot.nc" -prep_out_of_range missing > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "-prep_out_of_range missing"; }
grep -qF "$LOM: column TA_F: 1 value outside TA -70..60 degC set missing (first on line 70)" "$TMP/log" || { cat "$TMP/log"; fail "no line for the value set missing"; }
$PY - "$TMP/hot.nc" "$TMP/ch4.nc" <<'EOF' || fail "-prep_out_of_range missing: the value is not missing"
import sys, netCDF4, numpy as np
a, b = (np.ma.filled(netCDF4.Dataset(p)["TA"][:].astype(float), np.nan) for p in sys.argv[1:3])
# line 70 is 2006-03-10, day 68; FI-Lom is site 2 of BW-Gum, DE-Hte, FI-Lom
assert np.isnan(a[68, 2]) and not np.isnan(b[68, 2]), (a[68, 2], b[68, 2])
a[68, 2] = b[68, 2]
assert np.array_equal(np.isnan(a), np.isnan(b)) and np.nanmax(np.abs(a - b)) == 0
print("ok -prep_out_of_range missing: TA of FI-Lom on 2006-03-10 missing, nothing else changed")
EOF
rm -rf "$TMP/zzz"; cp -r "$TMP/ch4" "$TMP/zzz"
mv "$TMP/zzz/$LOM" "$TMP/zzz/FLX_XX-Zzz_FLUXNET-CH4_DD_2006-2010_1-1.csv"
bad "a site absent from the metadata" "FLX_XX-Zzz_FLUXNET-CH4_DD_2006-2010_1-1.csv: site XX-Zzz is not in the site metadata" -format fluxnet-ch4 -i "$TMP/zzz"
bad "a site not in the directory" "-prep_sites: no file FLX_US-Los_FLUXNET-CH4_DD_*.csv" -format fluxnet-ch4 -i "$TMP/ch4" -prep_sites FI-Lom,US-Los
bad "an unknown format" "-format fluxnet: unknown tower format" -format fluxnet -i "$TMP/ch4"
bad "the wrong format for the files" "no FLX_<SITE>_PLUMBER_FULLSET_DD_*.csv files" -format fluxdatakit -i "$TMP/ch4"
# FluxDataKit: a made-up column; a site without a class
rm -rf "$TMP/fdkfoo"; cp -r "$TMP/fdk" "$TMP/fdkfoo"
sed -i '1s/,LAI,/,FOO,/' "$TMP"/fdkfoo/FLX_US-Wkg_*.csv
bad "an unknown FluxDataKit column" "unknown column 'FOO' for format fluxdatakit" -format fluxdatakit -i "$TMP/fdkfoo"
grep -v '^US-Wkg,' inputs/fluxdatakit-igbp.csv > "$TMP/classes.csv"
# a site the class table lacks: the class unknown and a warning, not a refusal (issue 16)
run_np "$NP" prep -format fluxdatakit -i "$TMP/fdk" -prep_classes "$TMP/classes.csv" -o "$TMP/nocls.nc" > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "a site without a class refused"; }
grep -q "warning: sites without a class in the site table or -prep_classes get the class unknown (their class input is 0): US-Wkg" "$TMP/log" || { cat "$TMP/log"; fail "no warning for US-Wkg's class"; }
$PY - "$TMP/nocls.nc" <<'EOF' || fail "US-Wkg's class is not unknown"
import sys, netCDF4
d = netCDF4.Dataset(sys.argv[1])
ids = ["".join(c.decode() for c in r if c not in (b"", b"\x00")) for r in d["site_id"][:].filled(b"")]
names = d["class"].flag_meanings.split()
assert names[int(d["class"][ids.index("US-Wkg")])] == "unknown", names
assert names[int(d["class"][ids.index("BE-Bra")])] == "MF", names
print("ok a site the class table lacks gets the class unknown, with a warning")
EOF
# the real DE-Hte NEE of -96 umol m-2 s-1 on line 205
rm -rf "$TMP/hte"; mkdir "$TMP/hte"; cp "$TMP"/ch4/FLX_AA-Flx_CH4-META_*.csv "$TMP/hte/"
slice "$TMP/hte" "$CH4" 210 DE-Hte
bad "DE-Hte's NEE of -96" "FLX_DE-Hte_FLUXNET-CH4_DD_2011-2018_1-1.csv:205: NEE = -96.641 (-100.289 g m-2 d-1) is outside the physical range of NEE, -50..50 g m-2 d-1" -format fluxnet-ch4 -i "$TMP/hte"

# the real directories whole
run_np "$NP" prep -format fluxnet-ch4 -i "$CH4" -o "$TMP/ch4-all.nc" -prep_out_of_range missing > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "all of fluxnet-ch4"; }
grep -q "fluxnet-ch4, 13 sites, 4748 days from 2006-01-01 to 2018-12-31" "$TMP/log" || { cat "$TMP/log"; fail "fluxnet-ch4: not 13 sites"; }
grep -q "FLX_DE-Hte_.*column NEE: 1 value outside NEE" "$TMP/log" || { cat "$TMP/log"; fail "fluxnet-ch4: DE-Hte's NEE not reported"; }
run_np "$NP" prep -format fluxdatakit -i "$FDK" -o "$TMP/fdk-all.nc" -prep_out_of_range missing > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "all of fluxdatakit"; }
grep -q "fluxdatakit, 20 sites, 1096 days from 2019-01-01 to 2021-12-31" "$TMP/log" || { cat "$TMP/log"; fail "fluxdatakit: not 20 sites"; }
grep -q "FLX_DE-Tha_.*column PA_F: 4 values outside PA" "$TMP/log" && grep -q "FLX_DE-Geb_.*column PA_F: 1 value outside PA" "$TMP/log" || { cat "$TMP/log"; fail "fluxdatakit: DE-Tha's and DE-Geb's PA_F not reported"; }
for f in ch4-all fdk-all; do
  run_np "$NP" info "$TMP/$f.nc" > "$TMP/info" 2>&1 || { cat "$TMP/info"; fail "raci info $f"; }
done
grep -q "^time: 2019-01-01 to 2021-12-31, 1096 steps" "$TMP/info" || { cat "$TMP/info"; fail "raci info: time span"; }
run_np "$NP" train -quiet -data "$TMP/ch4-all.nc" -o "$TMP/x.ckpt" -train_epochs 1 -train_steps 5 -split_test_sites FI-Lom > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "raci train on the fluxnet-ch4 file"; }
run_np "$NP" train -quiet -data "$TMP/fdk-all.nc" -o "$TMP/y.ckpt" -train_epochs 1 -train_steps 5 -split_test_sites DE-Hai > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "raci train on the fluxdatakit file"; }
echo "ok both real directories: 13 and 20 sites, raci info and raci train read them"
echo "test_prep: ok at $NP ranks"
