#!/bin/sh
# raci prep -format fluxnet2015 on NP ranks (issue 16):
#  - slices of three real sites of ../shared (AR-SLu, BE-Bra, DE-Tha) and the
#    sites table: values picked by eye and every row as check_fluxnet2015.py
#    reads them from the CSVs (measured days by NEE_VUT_REF_QC, gap-filled
#    series, RECO = GPP_NT_VUT_REF + NEE_VUT_REF where the file has no RECO);
#    -prep_min_qc; the same file on NP ranks as on 1;
#  - an official-style FULLSET DD file (many more columns, P_F and its own
#    RECO_NT_VUT_REF) beside an HH file of the same site, which is ignored;
#  - a site whose table says IGBP NA: class unknown, a warning in prep and
#    train, and its one-hot input never trained;
#  - bad input: missing sites table, a site absent from it, an unknown
#    column, a QC outside 0..1, bad -prep_min_qc: one line, nothing written;
#  - the whole real directory: 152 sites, and raci train runs on it.
# usage: test_fluxnet2015.sh NP
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/lib.sh"
NP=${1:?usage: test_fluxnet2015.sh NP}
PY=/usr/bin/python3
HERE=$(dirname "$0")
F15="$RACI_SHARED_DATA/towers/fluxnet2015-daily"

mkdir -p "$TMP/f15"
head -n 400 "$F15"/FLX_AR-SLu_FLUXNET2015_DD_*.csv > "$TMP/f15/$(basename "$F15"/FLX_AR-SLu_FLUXNET2015_DD_*.csv)"
head -n 200 "$F15"/FLX_BE-Bra_FLUXNET2015_DD_*.csv > "$TMP/f15/$(basename "$F15"/FLX_BE-Bra_FLUXNET2015_DD_*.csv)"
head -n 200 "$F15"/FLX_DE-Tha_FLUXNET2015_DD_*.csv > "$TMP/f15/$(basename "$F15"/FLX_DE-Tha_FLUXNET2015_DD_*.csv)"
cp "$F15/sites.csv" "$TMP/f15/"

run_np "$NP" prep -format fluxnet2015 -i "$TMP/f15" -o "$TMP/f15.nc" > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "prep fluxnet2015"; }
grep -q "fluxnet2015, 3 sites" "$TMP/log" || { cat "$TMP/log"; fail "no summary"; }
# AR-SLu's measured days (NEE_VUT_REF_QC, column 9, >= 0.8) counted here
n=$(awk -F, 'NR > 1 && $9 >= 0.8 && $10 != -9999' "$TMP"/f15/FLX_AR-SLu_*.csv | wc -l)
grep -Eq "^ +AR-SLu +2009-01-01 2010-02-03 +399 +$n\$" "$TMP/log" || { cat "$TMP/log"; fail "summary of AR-SLu ($n measured GPP days)"; }
grep -q "target: GPP RECO NEE" "$TMP/log" || { cat "$TMP/log"; fail "targets"; }
grep -q "no role.*: P MAP PA WS" "$TMP/log" || { cat "$TMP/log"; fail "P, MAP, PA, WS without a role"; }
$PY "$HERE/check_fluxnet2015.py" "$TMP/f15.nc" "$TMP/f15" 0.8 hand || fail "fluxnet2015 values"
run_np "$NP" prep -quiet -format fluxnet2015 -i "$TMP/f15" -o "$TMP/f15q.nc" -prep_min_qc 0.9 || fail "-prep_min_qc 0.9"
$PY "$HERE/check_fluxnet2015.py" "$TMP/f15q.nc" "$TMP/f15" 0.9 hand || fail "fluxnet2015 values, -prep_min_qc 0.9"
if [ "$NP" -ne 1 ]; then
  run_np 1 prep -quiet -format fluxnet2015 -i "$TMP/f15" -o "$TMP/f15-1.nc" || fail "prep on 1 rank"
  same_nc "$TMP/f15.nc" "$TMP/f15-1.nc" || fail "files on $NP ranks and 1 rank differ"
  echo "ok same file on $NP ranks as on 1"
fi

# an official FULLSET DD file: more columns, P_F and its own RECO; an HH file beside it
mkdir -p "$TMP/full"
cp "$F15/sites.csv" "$TMP/full/"
awk -F, 'BEGIN { OFS = "," }
  NR == 1 { print $0, "TA_F_MDS", "TA_F_MDS_QC", "TA_ERA", "P_F", "P_F_QC", "RECO_NT_VUT_REF", "NEE_VUT_USTAR50",
            "NEE_VUT_05", "LE_F_MDS", "H_CORR_JOINTUNC", "SWC_F_MDS_1_QC", "NIGHT_D", "TA_F_MDS_NIGHT_SD"; next }
  { p = (NR % 7) * 0.3; r = ($10 == -9999 || $8 == -9999) ? -9999 : $10 + $8 + 0.5
    print $0, $2, 1, $2, p, 1, r, $8, $8, 50, 3, 0.5, 0.4, 1.2 }' "$TMP"/f15/FLX_AR-SLu_*.csv \
  > "$TMP/full/FLX_AR-SLu_FLUXNET2015_FULLSET_DD_2009-2011_1-4.csv"
printf 'TIMESTAMP_START,TIMESTAMP_END,TA_F\n200901010000,200901010030,xyz\n' > "$TMP/full/FLX_AR-SLu_FLUXNET2015_FULLSET_HH_2009-2011_1-4.csv"
run_np "$NP" prep -format fluxnet2015 -i "$TMP/full" -o "$TMP/full.nc" > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "prep of a FULLSET DD file"; }
grep -q "fast: TA SW_IN VPD P$" "$TMP/log" && grep -q "slow: MAT MAP elev class" "$TMP/log" || { cat "$TMP/log"; fail "FULLSET: P and MAP not taken"; }
$PY "$HERE/check_fluxnet2015.py" "$TMP/full.nc" "$TMP/full" 0.8 || fail "FULLSET values (P, RECO_NT_VUT_REF)"
echo "ok a FULLSET DD file: P_F and RECO_NT_VUT_REF read, the HH file beside it ignored"

# a site without a class: unknown, a warning, never trained
sed 's/^DE-Tha,\([^,]*\),\([^,]*\),\([^,]*\),ENF,/DE-Tha,\1,\2,\3,NA,/' "$F15/sites.csv" > "$TMP/sites-na.csv"
grep -q '^DE-Tha,.*,NA,Europe' "$TMP/sites-na.csv" || fail "test setup: DE-Tha's class not edited"
run_np "$NP" prep -format fluxnet2015 -i "$TMP/f15" -prep_meta "$TMP/sites-na.csv" -o "$TMP/na.nc" > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "prep with a class NA"; }
grep -q "raci prep: warning: sites without a class in the site table or -prep_classes get the class unknown (their class input is 0): DE-Tha" "$TMP/log" || { cat "$TMP/log"; fail "no warning for DE-Tha's class"; }
run_np "$NP" train -data "$TMP/na.nc" -o "$TMP/na.ckpt" -train_epochs 1 -train_steps 3 -split_val_frac 0 > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "train with a class unknown"; }
grep -q "warning: 1 usable locations of $TMP/na.nc have class = [0-9]*, the class 'unknown' (none in the input): their class input is 0" "$TMP/log" || { cat "$TMP/log"; fail "train: no warning for the class unknown"; }
# DE-Tha trained with class unknown, yet its class input stays 0: relabelled to a class no
# site of the file has (CRO: one-hot 0) its predictions are identical; relabelled to MF
# (AR-SLu's, trained) they move
$PY - "$TMP/na.nc" "$TMP" <<'PYEOF' || fail "relabelling"
import sys, shutil, netCDF4
names = netCDF4.Dataset(sys.argv[1])["class"].flag_meanings.split()
for to in ("CRO", "MF"):
    out = f"{sys.argv[2]}/na-{to}.nc"
    shutil.copy(sys.argv[1], out)
    d = netCDF4.Dataset(out, "a")
    ids = ["".join(ch.decode() for ch in r if ch not in (b"", b"\x00")) for r in d["site_id"][:].filled(b"")]
    d["class"][ids.index("DE-Tha")] = names.index(to)
    d.close()
PYEOF
for f in na na-CRO na-MF; do
  run_np "$NP" predict -ckpt "$TMP/na.ckpt" -data "$TMP/$f.nc" -o "$TMP/p-$f.nc" -predict_diag_stride 0 > "$TMP/p.log" 2>&1 || { cat "$TMP/p.log"; fail "predict $f"; }
done
$PY - "$TMP" <<'PYEOF' || fail "the class unknown was trained"
import sys, numpy as np, netCDF4
t = sys.argv[1]
d = netCDF4.Dataset(f"{t}/na.nc")
s = ["".join(ch.decode() for ch in r if ch not in (b"", b"\x00")) for r in d["site_id"][:].filled(b"")].index("DE-Tha")
g = {f: np.ma.filled(netCDF4.Dataset(f"{t}/p-{f}.nc")["GPP"][:, s], np.nan) for f in ("na", "na-CRO", "na-MF")}
m = np.isfinite(g["na"])
assert m.sum() > 50, m.sum()
dc, dm = np.abs(g["na"][m] - g["na-CRO"][m]).max(), np.abs(g["na"][m] - g["na-MF"][m]).max()
assert dc == 0, f"DE-Tha as unknown and as CRO (never trained) differ by {dc}"
assert dm > 1e-4, f"relabelling DE-Tha to MF (trained) changes nothing ({dm})"
print(f"ok class unknown: DE-Tha as CRO identical, as MF GPP moves by up to {dm:.4f}")
PYEOF

# bad input: one error line naming what, non-zero exit, nothing written (bad: tests/prep/lib.sh)
edit() { # NAME SCRIPT: a copy of the slice with AR-SLu's file run through sed SCRIPT
  rm -rf "$TMP/$1"
  cp -r "$TMP/f15" "$TMP/$1"
  sed -i "$2" "$TMP/$1"/FLX_AR-SLu_*.csv
}
SLU=$(basename "$(ls "$TMP"/f15/FLX_AR-SLu_*.csv)")
rm -rf "$TMP/nosites"; cp -r "$TMP/f15" "$TMP/nosites"; rm "$TMP/nosites/sites.csv"
bad "a missing sites table" "$TMP/nosites: no site metadata sites*.csv (give -prep_meta FILE)" -format fluxnet2015 -i "$TMP/nosites"
grep -v '^BE-Bra,' "$F15/sites.csv" > "$TMP/sites-nobra.csv"
bad "a site absent from the sites table" "site BE-Bra is not in the site metadata $TMP/sites-nobra.csv" -format fluxnet2015 -i "$TMP/f15" -prep_meta "$TMP/sites-nobra.csv"
edit foo '1s/$/,FOO_F/; 2,$s/$/,1/'
bad "an unknown column" "$SLU: unknown column 'FOO_F' for format fluxnet2015" -format fluxnet2015 -i "$TMP/foo"
edit badqual '1s/$/,NEE_VUT_WHAT/; 2,$s/$/,1/'
bad "an unknown qualifier" "$SLU: unknown column 'NEE_VUT_WHAT' for format fluxnet2015" -format fluxnet2015 -i "$TMP/badqual"
edit qc '60s/^\(\([^,]*,\)\{8\}\)[^,]*/\11.7/'
bad "a QC outside 0..1" "$SLU:60: NEE_VUT_REF_QC = 1.7 is outside 0..1" -format fluxnet2015 -i "$TMP/qc"
edit noqc '1s/NEE_VUT_REF_QC/NEE_CUT_REF_QC/'
bad "a file without the QC column" "$SLU: no column 'NEE_VUT_REF_QC' (needed for GPP)" -format fluxnet2015 -i "$TMP/noqc"
bad "-prep_min_qc above 1" "-prep_min_qc" -format fluxnet2015 -i "$TMP/f15" -prep_min_qc 1.5
bad "-prep_min_qc for another format" "-prep_min_qc is for -format fluxnet2015" -format fluxdatakit -i "$TMP/f15" -prep_min_qc 0.5

# several sources in one file: two fluxnet2015 directories with DE-Tha in both (rows 1-300 in
# A; rows 200-499 in B, TA_F + 1 there so the source of every value shows) and a site in each
# alone: one DE-Tha over the union of days, A's values where both have one
THA=$(basename "$(ls "$F15"/FLX_DE-Tha_FLUXNET2015_DD_*.csv)")
mkdir -p "$TMP/srcA" "$TMP/srcB"
cp "$F15/sites.csv" "$TMP/srcA/"; cp "$F15/sites.csv" "$TMP/srcB/"
head -n 301 "$F15/$THA" > "$TMP/srcA/$THA"
cp "$TMP"/f15/FLX_AR-SLu_*.csv "$TMP/srcA/"
{ head -n 1 "$F15/$THA"; sed -n 201,500p "$F15/$THA" | awk -F, 'BEGIN { OFS = "," } { $2 = $2 + 1; print }'; } > "$TMP/srcB/$THA"
cp "$TMP"/f15/FLX_BE-Bra_*.csv "$TMP/srcB/"
run_np "$NP" prep -format fluxnet2015 -i "$TMP/srcA" -format fluxnet2015 -i "$TMP/srcB" -o "$TMP/ab.nc" > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "prep of two sources"; }
grep -q "wrote $TMP/ab.nc: fluxnet2015+fluxnet2015, 3 sites" "$TMP/log" || { cat "$TMP/log"; fail "two sources: not 3 sites"; }
grep -Eq "^ +DE-Tha +1996-01-01 1997-05-13 +600 " "$TMP/log" || { cat "$TMP/log"; fail "two sources: DE-Tha's record is not the union (rows of both counted)"; }
$PY - "$TMP/ab.nc" "$F15/$THA" <<'PYEOF' || fail "two sources: DE-Tha's values"
import sys, csv, datetime, numpy as np, netCDF4
d = netCDF4.Dataset(sys.argv[1])
ids = ["".join(c.decode() for c in r if c not in (b"", b"\x00")) for r in d["site_id"][:].filled(b"")]
assert ids == ["AR-SLu", "BE-Bra", "DE-Tha"], ids
t0 = datetime.date.fromisoformat(d["time"].units.split()[2])
ta = np.ma.filled(d["TA"][:, ids.index("DE-Tha")].astype(float), np.nan)
rows = list(csv.DictReader(open(sys.argv[2])))[:499]
for i, r in enumerate(rows):
    day = datetime.date(int(r["TIMESTAMP"][:4]), int(r["TIMESTAMP"][4:6]), int(r["TIMESTAMP"][6:]))
    want = float(r["TA_F"]) + (1.0 if i >= 300 else 0.0)  # rows 1-300 from A, the rest from B (+1)
    got = ta[(day - t0).days]
    assert abs(got - want) < 1e-4, (r["TIMESTAMP"], got, want)
assert np.isnan(ta[(day - t0).days + 1:]).all()
print("ok two sources: DE-Tha over the union of days, the first source's values where both have one, B's after")
PYEOF
# the three networks, real directories: the 20 FluxDataKit sites are also FLUXNET2015 sites
# (disjoint years: US-Ha1 1991-2012 and 2019-2020), one location each; FluxDataKit's P, PA, WS
# and LAI, which those sites' FLUXNET2015 records lack, are kept in FluxDataKit's years (a note
# names them); training flags them (absent at the FLUXNET2015-only sites, missing for years at the
# shared ones) and loses no day of a record to them
FDK="$RACI_SHARED_DATA/towers/fluxdatakit-daily"
CH4="$RACI_SHARED_DATA/towers/fluxnet-ch4-daily"
n=$( (ls "$F15" | sed -n 's/^FLX_\([^_]*\)_FLUXNET2015_DD_.*/\1/p'; ls "$FDK" | sed -n 's/^FLX_\([^_]*\)_PLUMBER_.*/\1/p';
      ls "$CH4" | sed -n 's/^FLX_\([^_]*\)_FLUXNET-CH4_DD_.*/\1/p') | sort -u | wc -l)
run_np "$NP" prep -format fluxnet2015 -i "$F15" -format fluxdatakit -i "$FDK" -format fluxnet-ch4 -i "$CH4" -o "$TMP/three.nc" -prep_out_of_range missing > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "prep of the three networks"; }
grep -q "fluxnet2015+fluxdatakit+fluxnet-ch4, $n sites" "$TMP/log" || { cat "$TMP/log"; fail "three networks: not the $n distinct sites"; }
grep -Eq "^ +US-Ha1 +1991-01-01 2020-12-31 " "$TMP/log" || { cat "$TMP/log"; fail "US-Ha1 not one location over both records"; }
grep -q "note: drivers that one of a site's sources lacks, kept where the others have them .* US-Ha1:P " "$TMP/log" || { cat "$TMP/log"; fail "US-Ha1's P not named as kept in part"; }
grep -q "fast: TA SW_IN VPD P PA WS LAI TS$" "$TMP/log" || { cat "$TMP/log"; fail "three networks: fast drivers"; }
$PY - "$TMP/three.nc" <<'PYEOF' || fail "US-Ha1's P not kept in FluxDataKit's years"
import sys, datetime, netCDF4, numpy as np
d = netCDF4.Dataset(sys.argv[1])
ids = ["".join(c.decode() for c in r if c not in (b"", b"\x00")) for r in d["site_id"][:].filled(b"")]
s = ids.index("US-Ha1")
t = netCDF4.num2date(d["time"][:], d["time"].units, only_use_cftime_datetimes=False)
p = np.ma.filled(d["P"][:, s].astype(float), np.nan)
ta = np.ma.filled(d["TA"][:, s].astype(float), np.nan)
years = np.array([x.year for x in t])
assert np.isfinite(p[years == 2019]).sum() > 300, "no P in 2019 (FluxDataKit)"
assert not np.isfinite(p[years == 2005]).any() and np.isfinite(ta[years == 2005]).sum() > 300, "P in 2005 (FLUXNET2015 has none)"
print("ok US-Ha1: P of FluxDataKit's years kept, none in FLUXNET2015's")
PYEOF
run_np "$NP" train -data "$TMP/three.nc" -o "$TMP/three.ckpt" -train_epochs 1 -train_steps 3 -split_test_sites US-Ha1 > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "train on the three networks"; }
grep -q "availability flags .*P (absent at " "$TMP/log" || { cat "$TMP/log"; fail "train: P not flagged"; }
grep -q "location-days with drivers: [0-9]* scored, 0 lost to driver gaps" "$TMP/log" || { cat "$TMP/log"; fail "days lost to the drivers a network lacks"; }
# no day of a record is lost to gaps made by the merge: US-Ha1 and DE-Tha are not among the worst
grep -q "location-days with drivers" "$TMP/log" || { cat "$TMP/log"; fail "no report of the days"; }
grep "sites losing the largest share" "$TMP/log" | grep -q "US-Ha1\|DE-Tha" && { cat "$TMP/log"; fail "a merged site loses its record"; }
echo "ok three networks: $n sites, shared sites one location with both records, P kept where a network has it, flagged, no day lost"
bad "unpaired -format and -i" "2 -format and 3 -i options" -format fluxnet2015 -i "$TMP/srcA" -format fluxnet2015 -i "$TMP/srcB" -i "$TMP/f15"
bad "two -i with one -format" "1 -format and 2 -i options" -format fluxnet2015 -i "$TMP/srcA" -i "$TMP/srcB"
bad "-prep_meta with several sources" "-prep_meta and -prep_sites take one source" -format fluxnet2015 -i "$TMP/srcA" -format fluxnet2015 -i "$TMP/srcB" -prep_meta "$F15/sites.csv"

# the real directory whole
run_np "$NP" prep -format fluxnet2015 -i "$F15" -o "$TMP/all.nc" -prep_out_of_range missing > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "all of fluxnet2015"; }
grep -q "fluxnet2015, 152 sites, 8766 days from 1991-01-01 to 2014-12-31" "$TMP/log" || { cat "$TMP/log"; fail "fluxnet2015: not 152 sites"; }
grep -q "FLX_AT-Neu_.*column GPP_NT_VUT_REF: 1 value outside GPP" "$TMP/log" || { cat "$TMP/log"; fail "fluxnet2015: AT-Neu's GPP of -10.4 not reported"; }
# validation on site files: a share of the other sites, at least 3 when there are 10 or more
# (1 % of 150 would round to 2); the 4 sites without elevation kept (elev's availability flag)
run_np "$NP" train -data "$TMP/all.nc" -o "$TMP/all.ckpt" -train_epochs 1 -train_steps 3 -split_test_sites US-Ha1,DE-Tha -split_val_frac 0.01 > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "raci train on the FLUXNET2015 file"; }
grep -q "152 locations (147 train, 3 validation, 2 test, 0 ocean or no data, 0 unusable)" "$TMP/log" || { cat "$TMP/log"; fail "not 3 validation sites among 150"; }
grep -q "availability flags .*elev (absent at 4)" "$TMP/log" || { cat "$TMP/log"; fail "elev's flag"; }
echo "ok the real directory: 152 sites, 3 validation sites of 150 at -split_val_frac 0.01, the 4 without elevation flagged"
echo "test_fluxnet2015: ok at $NP ranks"
