#!/usr/bin/python3
"""Checks a `raci prep` file against the tower CSVs it came from, read here
with the csv module (not raci's reader) and the file with netCDF-C
(python3-netCDF4): hand-picked values copied from the CSVs by eye, then every
row of every site, the daily axis, missing days outside each record, the site
metadata, class codes and the climate normals.

usage: check_prep.py MODE OUT.nc TOWER_DIR SITE:NLINES ...
  MODE       ch4, ch4-gapfilled or fdk
  TOWER_DIR  the original product directory (../shared/data/towers/...)
  SITE:NLINES  the sites of OUT.nc and how many lines (header included) of
             each original file were given to raci prep
"""
import csv
import datetime
import glob
import math
import sys

import netCDF4
import numpy as np

mode, path, tower_dir = sys.argv[1:4]
sites = {s: int(n) for s, n in (a.split(":") for a in sys.argv[4:])}
ch4 = mode.startswith("ch4")
gapfilled = mode == "ch4-gapfilled"
K_NEE = 12.011e-6 * 86400  # umol CO2 m-2 s-1 -> g C m-2 d-1
fails = 0


def check(ok, what):
    global fails
    if not ok:
        print("FAIL " + what)
        fails += 1


def close(a, b, rel=1e-6):
    """float32 in the file against the double of the CSV."""
    return abs(a - b) <= rel * max(abs(b), 1.0)


ds = netCDF4.Dataset(path)
ds.set_auto_mask(True)
ids = ["".join(c.decode() for c in row if c not in (b"", b"\x00")) for row in ds["site_id"][:].filled(b"")]
check(ids == sorted(sites), f"sites {ids} are the given ones in id order")
col = {s: ids.index(s) for s in ids}


def val(name, site, date):
    """Value of (name, site) on a date; None when missing."""
    t = (date - t0).days
    x = ds[name][t, col[site]]
    return None if np.ma.is_masked(x) else float(x)


# ---------------------------------------------------------------- time axis
t_units = ds["time"].units
check(ds["time"].calendar == "standard", "calendar standard")
y0 = int(t_units.split()[2][:4])
t0 = datetime.date(y0, 1, 1)

# ---------------------------------------------------------------- hand-picked
D = datetime.date
if ch4:
    check(t_units == "days since 2006-01-01 00:00:00", f"time units {t_units}")
    check(len(ds["time"]) == (D(2018, 4, 29) - D(2006, 1, 1)).days + 1, "time axis 2006-01-01 .. 2018-04-29 (BW-Gum's 119th day)")
    check(float(ds["time"][0]) == 0, "time starts at 0")
    tgt, gf = ("FCH4_measured", "FCH4") if gapfilled else ("FCH4", "FCH4_gapfilled")
    nee, neegf = ("NEE_measured", "NEE") if gapfilled else ("NEE", "NEE_gapfilled")
    hand = [
        ("TA", "FI-Lom", D(2006, 3, 15), -3.858208333333332),
        (tgt, "FI-Lom", D(2006, 3, 15), 13.605),
        (gf, "FI-Lom", D(2006, 3, 15), 13.501662979166666),
        (nee, "FI-Lom", D(2006, 3, 15), None),
        (neegf, "FI-Lom", D(2006, 3, 15), 0.2608202708333334 * 1.0377504),
        ("TS", "FI-Lom", D(2006, 3, 15), 0.10050000000000003),
        ("TA", "DE-Hte", D(2011, 1, 2), -0.654625),
        (tgt, "DE-Hte", D(2011, 1, 2), None),
        (tgt, "DE-Hte", D(2011, 4, 21), 121.15117647058823),
        ("TA", "BW-Gum", D(2018, 2, 10), 22.615833333333335),
        (tgt, "BW-Gum", D(2018, 2, 10), None),
        (gf, "BW-Gum", D(2018, 2, 10), 253.25415),
        (neegf, "BW-Gum", D(2018, 2, 10), 1.1887514583333336 * 1.0377504),
        ("PA", "BW-Gum", D(2018, 2, 10), 89.99479166666669),
        ("TS", "BW-Gum", D(2018, 2, 10), None),
        ("TA", "BW-Gum", D(2017, 12, 31), None),
        ("TA", "FI-Lom", D(2006, 4, 30), None),
    ]
    meta = {"FI-Lom": (67.99724, 24.20918, "fen"), "DE-Hte": (54.210278, 12.176111, "fen"), "BW-Gum": (-18.96472222, 22.37111111, "swamp")}
    meanings = "bog drained fen lake mangrove marsh rice salt_marsh swamp upland wet_tundra"
    roles = {"TA": "fast", "SW_IN": "fast", "VPD": "fast", "P": "fast", "PA": "fast", "WS": "fast", "TS": "fast", "FCH4": "target",
             gf if not gapfilled else tgt: None, nee: None, neegf: None, "MAT": "slow", "MAP": "slow", "class": "slow"}
    check("FLUXNET-CH4 Community Product v1.0" in ds.source and "Delwiche et al. 2021" in ds.source and "CC-BY-4.0" in ds.source, "source names the product and licence")
else:
    check(t_units == "days since 2019-01-01 00:00:00", f"time units {t_units}")
    check(len(ds["time"]) == (D(2020, 1, 7) - D(2019, 1, 1)).days + 1, "time axis 2019-01-01 .. 2020-01-07 (DE-Gri's last day)")
    hand = [
        ("TA", "BE-Bra", D(2019, 3, 1), 6.67616996765139),
        ("GPP", "BE-Bra", D(2019, 3, 1), 0.237515008154635),
        ("LAI", "BE-Bra", D(2019, 3, 1), 2.8332),
        ("PA", "BE-Bra", D(2019, 3, 1), 101.7),
        ("GPP", "US-Wkg", D(2019, 4, 10), 1.5863154487209),
        ("VPD", "US-Wkg", D(2019, 4, 10), 12.4980624814828),
        ("PA", "US-Wkg", D(2019, 4, 10), 84.04125),
        ("PA", "DE-Gri", D(2020, 1, 1), None),  # -9999 in a NA-marked file
        ("TA", "DE-Gri", D(2020, 1, 1), 0.68916536966962),
        ("GPP", "DE-Gri", D(2020, 1, 1), 2.65880582729975),
        ("GPP", "BE-Bra", D(2020, 1, 7), None),  # after BE-Bra's 119 rows
    ]
    meta = {"BE-Bra": (51.30761, 4.51984, "MF", 16, 262.9107971191406), "DE-Gri": (50.95004, 13.51259, "GRA", 385, 232.6336669921875),
            "US-Wkg": (31.7365, -109.9419, "GRA", 1531, 129.5244598388672)}
    meta = {s: m for s, m in meta.items() if s in sites}
    meanings = "CRO DBF EBF ENF GRA MF"
    roles = {"TA": "fast", "SW_IN": "fast", "VPD": "fast", "P": "fast", "PA": "fast", "WS": "fast", "LAI": "fast", "GPP": "target",
             "MAT": "slow", "MAP": "slow", "elev": "slow", "whc": "slow", "class": "slow"}
    check("FluxDataKit" in ds.source and "CC-BY-4.0" in ds.source, "source names the product and licence")
    hand = [h for h in hand if h[1] in sites]
for name, site, date, want in hand:
    got = val(name, site, date)
    check((got is None) if want is None else (got is not None and close(got, want)), f"{name} at {site} on {date}: {got}, CSV {want}")

check(ds.Conventions == "CF-1.8" and ds.featureType == "timeSeries", "Conventions and featureType")
check("raci prep" in ds.history, "history names the command")
for name, role in roles.items():
    got = getattr(ds[name], "raci_role", None)
    check(got == role, f"role of {name}: {got}, want {role}")
for s, m in meta.items():
    check(close(float(ds["lat"][col[s]]), m[0]) and close(float(ds["lon"][col[s]]), m[1]), f"lat/lon of {s}")
    check(ds["class"].flag_meanings == meanings, f"class categories {ds['class'].flag_meanings}")
    check(list(ds["class"].flag_values) == list(range(len(meanings.split()))), "flag_values 0..n-1")
    check(meanings.split()[int(ds["class"][col[s]])] == m[2], f"class of {s}")
    if not ch4:
        check(close(float(ds["elev"][col[s]]), m[3]) and close(float(ds["whc"][col[s]]), m[4]), f"elev and whc of {s}")

# ---------------------------------------------------------------- every row
if ch4:
    columns = {"TA": "TA_F", "SW_IN": "SW_IN_F", "VPD": "VPD_F", "P": "P_F", "PA": "PA_F", "WS": "WS_F", "TS": "TS_1",
               tgt: "FCH4", gf: "FCH4_F", nee: "NEE", neegf: "NEE_F"}
    pattern, missing = "FLX_{}_FLUXNET-CH4_DD_*.csv", ("-9999",)
else:
    columns = {"TA": "TA_F_MDS", "SW_IN": "SW_IN_F_MDS", "VPD": "VPD_F_MDS", "P": "P_F", "PA": "PA_F", "WS": "WS_F", "LAI": "LAI",
               "GPP": "GPP_NT_VUT_REF"}
    pattern, missing = "FLX_{}_PLUMBER_FULLSET_DD_*.csv", ("NA", "-9999")
nt = len(ds["time"])
arrays = {name: np.ma.filled(ds[name][:].astype(float), np.nan) for name in columns}
for s, nlines in sites.items():
    (orig,) = glob.glob(f"{tower_dir}/" + pattern.format(s))
    with open(orig, newline="") as fh:
        rows = list(csv.DictReader(fh))[: nlines - 1]
    fmt = "%Y%m%d" if ch4 else "%Y-%m-%d"
    days = [(datetime.datetime.strptime(r["TIMESTAMP"], fmt).date() - t0).days for r in rows]
    inside = np.zeros(nt, bool)
    inside[days] = True
    bad = 0
    for name, c in columns.items():
        a = arrays[name][:, col[s]]
        bad += int(np.any(~np.isnan(a[~inside])))
        for d, r in zip(days, rows):
            text = r.get(c, "-9999")
            want = math.nan if text in missing else float(text) * (K_NEE if c in ("NEE", "NEE_F") else 1.0)
            if math.isnan(want) != math.isnan(a[d]) or (not math.isnan(want) and not close(a[d], want)):
                bad += 1
    check(bad == 0, f"{s}: every value of {len(rows)} rows as in the CSV, missing outside its record ({bad} differences)")
    ta = [float(r[columns["TA"]]) for r in rows if r[columns["TA"]] not in missing]
    p = [float(r[columns["P"]]) for r in rows if r[columns["P"]] not in missing]
    check(close(float(ds["MAT"][col[s]]), sum(ta) / len(ta), 1e-5), f"{s}: MAT {float(ds['MAT'][col[s]])} = mean TA {sum(ta) / len(ta)}")
    check(close(float(ds["MAP"][col[s]]), sum(p) / len(p) * 365.25, 1e-5), f"{s}: MAP = mean P x 365.25")

print(f"check_prep {mode}: {'ok' if not fails else str(fails) + ' failures'} ({len(sites)} sites, {nt} days)")
sys.exit(1 if fails else 0)
