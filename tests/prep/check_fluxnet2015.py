#!/usr/bin/python3
"""Checks a `raci prep -format fluxnet2015` file against the CSVs it came
from, read here with the csv module (not raci's reader) and the file with
netCDF-C (python3-netCDF4): first values copied from the CSVs by eye, then
every row of every site: drivers, measured targets (NEE_VUT_REF_QC >= the
threshold) and gap-filled ones, RECO from its column or GPP_NT_VUT_REF +
NEE_VUT_REF, the site table's coordinates, elevation and IGBP class, MAT.

usage: check_fluxnet2015.py OUT.nc CSV_DIR MIN_QC [hand]
  CSV_DIR  the directory given to raci prep (its FLX_*_DD_*.csv and sites.csv)
  hand     also check the values picked by eye (the test's slice of the
           shared AR-SLu, BE-Bra and DE-Tha files)
"""
import csv
import datetime
import glob
import math
import os
import sys

import netCDF4
import numpy as np

path, d, min_qc = sys.argv[1], sys.argv[2], float(sys.argv[3])
hand = len(sys.argv) > 4 and sys.argv[4] == "hand"
fails = 0


def check(ok, what):
    global fails
    if not ok:
        print("FAIL " + what)
        fails += 1


def close(a, b):
    """float32 in the file against the double of the CSV."""
    return abs(a - b) <= 1e-6 * max(abs(b), 1.0)


ds = netCDF4.Dataset(path)
ds.set_auto_mask(True)
ids = ["".join(c.decode() for c in row if c not in (b"", b"\x00")) for row in ds["site_id"][:].filled(b"")]
col = {s: i for i, s in enumerate(ids)}
units = ds["time"].units
t0 = datetime.date.fromisoformat(units.split()[2])
tm = ds["time"][:]


def val(name, site, date):
    x = ds[name][(date - t0).days, col[site]]
    return None if np.ma.is_masked(x) else float(x)


def day(s):
    return datetime.date(int(s[:4]), int(s[4:6]), int(s[6:8]))


# ------------------------------------------------------------- by eye
if hand:
    D = datetime.date
    # AR-SLu 2009-01-29: TA_F 29.12, SW_IN_F 361.5, VPD_F 19.98, NEE -5.968 with QC 0, GPP_NT 10.053
    check(close(val("TA", "AR-SLu", D(2009, 1, 29)), 29.12), "AR-SLu TA 2009-01-29")
    check(close(val("SW_IN", "AR-SLu", D(2009, 1, 29)), 361.5), "AR-SLu SW_IN 2009-01-29")
    check(close(val("VPD", "AR-SLu", D(2009, 1, 29)), 19.98), "AR-SLu VPD 2009-01-29")
    check(val("NEE", "AR-SLu", D(2009, 1, 29)) is None, "AR-SLu NEE 2009-01-29 (QC 0) not measured")
    check(val("GPP", "AR-SLu", D(2009, 1, 29)) is None, "AR-SLu GPP 2009-01-29 (QC 0) not measured")
    check(close(val("NEE_gapfilled", "AR-SLu", D(2009, 1, 29)), -5.968), "AR-SLu NEE_gapfilled 2009-01-29")
    check(close(val("GPP_gapfilled", "AR-SLu", D(2009, 1, 29)), 10.053), "AR-SLu GPP_gapfilled 2009-01-29")
    check(close(val("RECO_gapfilled", "AR-SLu", D(2009, 1, 29)), 4.085), "AR-SLu RECO_gapfilled = 10.053 - 5.968")
    # 2009-12-22: QC 1; 2009-12-23: QC 0.833
    check(close(val("NEE", "AR-SLu", D(2009, 12, 22)), -5.579), "AR-SLu NEE 2009-12-22 (QC 1)")
    check(close(val("GPP", "AR-SLu", D(2009, 12, 22)), 9.534), "AR-SLu GPP 2009-12-22 (QC 1)")
    check(close(val("RECO", "AR-SLu", D(2009, 12, 22)), 3.955), "AR-SLu RECO 2009-12-22 = 9.534 - 5.579")
    m = val("NEE", "AR-SLu", D(2009, 12, 23))
    check((m is not None) == (0.833 >= min_qc), f"AR-SLu NEE 2009-12-23 (QC 0.833) measured iff {min_qc} <= 0.833")
    # BE-Bra 1996-01-01: NEE 1.984, GPP -9999 (so no RECO either)
    check(close(val("NEE_gapfilled", "BE-Bra", D(1996, 1, 1)), 1.984), "BE-Bra NEE_gapfilled 1996-01-01")
    check(val("GPP_gapfilled", "BE-Bra", D(1996, 1, 1)) is None, "BE-Bra GPP -9999 missing")
    check(val("RECO_gapfilled", "BE-Bra", D(1996, 1, 1)) is None, "BE-Bra RECO missing without GPP")
    # DE-Tha 1996-02-18: TA 0.4, NEE -2.903, GPP 3.389; elevation 380 m, ENF
    check(close(val("TA", "DE-Tha", D(1996, 2, 18)), 0.4), "DE-Tha TA 1996-02-18")
    check(close(val("RECO_gapfilled", "DE-Tha", D(1996, 2, 18)), 0.486), "DE-Tha RECO_gapfilled = 3.389 - 2.903")
    check(close(float(ds["elev"][col["DE-Tha"]]), 380), "DE-Tha elev 380")
    cls = ds["class"].flag_meanings.split()
    check(cls[int(ds["class"][col["DE-Tha"]])] == "ENF", "DE-Tha class ENF")
    check(cls[int(ds["class"][col["AR-SLu"]])] == "MF", "AR-SLu class MF")

# ------------------------------------------------------------- every row
table = {r["SITE_ID"]: r for r in csv.DictReader(open(os.path.join(d, "sites.csv")))}
meanings = ds["class"].flag_meanings.split()
check(list(ds["class"].flag_values) == list(range(len(meanings))), "class flag_values 0..n-1")
want = sorted({(r["IGBP"] if r["IGBP"] not in ("NA", "") else "unknown") for r in table.values()})
check(meanings == want, f"classes {meanings} are those of the sites table {want}")
files = sorted(f for f in glob.glob(os.path.join(d, "FLX_*_FLUXNET2015_*.csv")) if "_DD_" in os.path.basename(f))
check(sorted(ids) == ids and ids == [os.path.basename(f).split("_")[1] for f in files], f"sites {ids}")
first = None
for f in files:
    site = os.path.basename(f).split("_")[1]
    s = col[site]
    rows = list(csv.DictReader(open(f)))
    first = min(first or day(rows[0]["TIMESTAMP"]), day(rows[0]["TIMESTAMP"]))
    t = table[site]
    check(close(float(ds["lat"][s]), float(t["LAT"])) and close(float(ds["lon"][s]), float(t["LON"])), site + " lat/lon")
    e = ds["elev"][s]
    check((np.ma.is_masked(e) and t["ELEV"] == "-9999") or close(float(e), float(t["ELEV"])), site + " elev")
    c = t["IGBP"] if t["IGBP"] not in ("NA", "") else "unknown"
    check(meanings[int(ds["class"][s])] == c, f"{site} class {c}")
    ta = []
    names = ["TA", "SW_IN", "VPD", "GPP", "GPP_gapfilled", "RECO", "RECO_gapfilled", "NEE", "NEE_gapfilled"]
    if "P_F" in rows[0]:
        names.append("P")
    got = {n: ds[n][:, s] for n in names}
    span = [(day(r["TIMESTAMP"]) - t0).days for r in rows]
    for n in names:  # nothing outside the record
        inside = np.zeros(len(tm), bool)
        inside[span[0]:span[-1] + 1] = True
        check(np.ma.getmaskarray(got[n])[~inside].all(), f"{site} {n} missing outside the record")
    for r in rows:
        i = (day(r["TIMESTAMP"]) - t0).days

        def num(c):
            x = float(r[c])
            return None if x == -9999 else x

        qc = num("NEE_VUT_REF_QC")
        meas = qc is not None and qc >= min_qc
        gpp, nee = num("GPP_NT_VUT_REF"), num("NEE_VUT_REF")
        if "RECO_NT_VUT_REF" in r:
            reco = num("RECO_NT_VUT_REF")
        else:
            reco = None if gpp is None or nee is None else gpp + nee
        expect = {"TA": num("TA_F"), "SW_IN": num("SW_IN_F"), "VPD": num("VPD_F"),
                  "GPP_gapfilled": gpp, "RECO_gapfilled": reco, "NEE_gapfilled": nee,
                  "GPP": gpp if meas else None, "RECO": reco if meas else None, "NEE": nee if meas else None}
        if "P" in names:
            expect["P"] = num("P_F")
        for n, x in expect.items():
            g = got[n][i]
            if x is None:
                check(np.ma.is_masked(g), f"{site} {r['TIMESTAMP']} {n} missing")
            else:
                check(not np.ma.is_masked(g) and close(float(g), x), f"{site} {r['TIMESTAMP']} {n} = {x}")
        if expect["TA"] is not None:
            ta.append(expect["TA"])
    check(close(float(ds["MAT"][s]), sum(ta) / len(ta)), site + " MAT = mean of TA")
check(t0 == datetime.date(first.year, 1, 1) and (first - t0).days == tm[0], "time axis starts at the first record")
for v in ("GPP", "RECO", "NEE"):
    check(ds[v].raci_role == "target", v + " is a target")
    check(not hasattr(ds[v + "_gapfilled"], "raci_role"), v + "_gapfilled has no role")
if fails:
    print(f"check_fluxnet2015: {fails} failures")
    sys.exit(1)
print(f"check_fluxnet2015: ok, {len(ids)} sites, every row{' and the values picked by eye' if hand else ''}")
