#!/usr/bin/python3
"""Physical checks of a `raci simulate` file (noise-free, targets everywhere),
read with netCDF-C (python3-netCDF4) and recomputed in numpy from the equations
of docs/SIMULATOR.md, independently of the C code.

usage: check_sim.py FILE TOWERS_DIR
"""
import glob
import sys

import netCDF4
import numpy as np

# docs/SIMULATOR.md, table 2 (regime order = class flag_values)
#        eps  fmin  fmax  tgrn topt tw  tmin vpd0 wlo whi  ra    r10  q10 anaer ch4
TABLE = np.array([
    [1.0, 0.05, 0.55, 3, 14, 10, -2, 40, 0, 0, 0.45, 0.7, 2.5, 0, 40],
    [1.3, 0.35, 0.85, 4, 16, 11, -3, 30, 0, 0, 0.50, 1.0, 2.2, 0, 50],
    [1.6, 0.20, 0.90, 8, 22, 12, 0, 25, 8, 20, 0.50, 1.8, 2.0, 0, 30],
    [1.4, 0.10, 0.75, 8, 20, 9, 2, 15, 10, 28, 0.45, 1.3, 2.0, 0, 25],
    [2.4, 0.05, 0.95, 0, 25, 11, 5, 20, 10, 26, 0.45, 1.6, 2.0, 0, 25],
    [0.8, 0.05, 0.30, 10, 15, 9, 2, 12, 6, 18, 0.40, 0.4, 2.0, 0, 20],
    [1.2, 0.10, 0.80, 5, 20, 12, -1, 35, 0, 0, 0.50, 1.6, 2.0, 1, 80],
])
CROPLAND = 4

fails = 0


def check(ok, what):
    global fails
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        fails += 1


def fluxes(cls, soc, wet, doy, ta, sw, vpd, ts, swc):
    """The equations of docs/SIMULATOR.md section 3, vectorised."""
    p = TABLE[cls]
    eps, fmin, fmax, tgrn, topt, tw, tmin, vpd0, wlo, whi, ra, r10, q10, anaer, ch4 = np.moveaxis(p, -1, 0)
    par = 0.5 * sw * 0.0864
    s = (doy - 130) / 130.0
    crop = np.where((s > 0) & (s < 1), np.sin(np.pi * s) ** 2, 0.0)
    green = np.where(cls == CROPLAND, crop, 1 / (1 + np.exp(-(ts - tgrn) / 2)))
    fapar = fmin + (fmax - fmin) * green
    ft = np.where(ta <= tmin, 0.0, np.exp(-((ta - topt) / tw) ** 2))
    fv = 1 / (1 + vpd / vpd0)
    fw = np.where(whi > wlo, np.clip((swc - wlo) / np.where(whi > wlo, whi - wlo, 1), 0, 1), 1.0)
    gpp = eps * fapar * par * ft * fv * fw
    fm = np.where(anaer > 0, 1 - 0.7 * np.clip((swc - 30) / 15, 0, 1), 0.2 + 0.8 * np.clip((swc - 5) / 25, 0, 1))
    rh = r10 * np.sqrt(soc / 10) * q10 ** ((ts - 10) / 10) * fm
    reco = ra * gpp + rh
    sat = np.clip((swc - 5) / 40, 0, 1)
    fch4 = wet * ch4 * 3.0 ** ((ts - 10) / 10) * sat ** 3 * np.where(ts < 0, 0.1, 1.0)
    return gpp, reco, reco - gpp, fch4


def tower_values(towers):
    """Daily values pooled over the real tower files, FLUXNET names."""
    out = {k: [] for k in ("TA", "SW_IN", "VPD", "P", "GPP", "FCH4")}
    cols = {"TA": ["TA_F_MDS", "TA_F"], "SW_IN": ["SW_IN_F_MDS", "SW_IN_F"], "VPD": ["VPD_F_MDS", "VPD_F"],
            "P": ["P_F"], "GPP": ["GPP_NT_VUT_REF"], "FCH4": ["FCH4_F"]}
    for path in sorted(glob.glob(towers + "/*/FLX_*_D*.csv")):
        with open(path) as f:
            head = f.readline().strip().split(",")
        data = np.genfromtxt(path, delimiter=",", skip_header=1, missing_values=["NA", "-9999"], filling_values=np.nan)
        if data.ndim != 2:
            continue
        for k, names in cols.items():
            for n in names:
                if n in head:
                    v = data[:, head.index(n)]
                    out[k].append(v[np.isfinite(v) & (v > -9990)])
                    break
    return {k: np.concatenate(v) if v else np.array([]) for k, v in out.items()}


def main():
    path, towers = sys.argv[1], sys.argv[2]
    with netCDF4.Dataset(path) as ds:
        g = {n: np.ma.filled(np.ma.asarray(ds[n][...]).astype(np.float64), np.nan) for n in ds.variables if n != "time"}
        lat = g["lat"]
        nt = ds.dimensions["time"].size
    cls = g["class"]
    land = np.isfinite(cls)
    check(land.sum() > 0, f"{int(land.sum())} land cells")
    for n in ("TA", "SW_IN", "VPD", "P", "TS", "SWC", "GPP", "RECO", "NEE", "FCH4"):
        v = g[n]
        check(np.isfinite(v[:, land]).all() and np.isnan(v[:, ~land]).all(), f"{n}: a value at every land cell and day, _FillValue over the ocean")
    for n in ("elev", "clay", "soc", "wetland_frac", "whc", "MAT", "MAP"):
        check(np.isfinite(g[n][land]).all() and np.isnan(g[n][~land]).all(), f"{n}: static map defined on land only")
    L = lambda n: g[n][:, land]
    gpp, reco, nee, ch4 = L("GPP"), L("RECO"), L("NEE"), L("FCH4")
    check(gpp.min() >= 0, f"GPP >= 0 (min {gpp.min():.3g})")
    check(reco.min() >= 0, f"RECO >= 0 (min {reco.min():.3g})")
    err = np.abs(nee - (reco - gpp)) / (np.abs(reco) + np.abs(gpp) + 1e-6)
    check(err.max() < 1e-6, f"NEE = RECO - GPP to float rounding (max relative {err.max():.2g})")
    wet = g["wetland_frac"][land]
    check((ch4[:, wet == 0] == 0).all(), f"CH4 is exactly 0 at the {int((wet == 0).sum())} cells without wetland")
    check(ch4.min() >= 0 and ch4[:, wet > 0.3].mean() > 0, "CH4 >= 0 and positive where there is wetland")

    # seasonal GPP peak in the northern summer
    north = g["lat"][:, None].repeat(g["lon"].size, axis=1)[land] > 30
    doy = np.arange(nt) % 365
    daily = gpp[:, north].mean(axis=1)
    month_mean = [daily[(doy >= 30.4 * m) & (doy < 30.4 * (m + 1))].mean() for m in range(12)]
    peak = int(np.argmax(month_mean)) + 1
    check(peak in (6, 7, 8), f"GPP north of 30N peaks in month {peak} (June to August expected)")
    winter = np.mean(month_mean[0:2] + month_mean[11:12])
    check(winter < 0.3 * max(month_mean), f"northern winter GPP {winter:.2f} is well below the summer peak {max(month_mean):.2f}")

    # the equations, recomputed from the file's drivers (float32 inputs: rtol 1e-4)
    days = np.arange(0, nt, 7)
    c = cls[land].astype(int)[None, :]
    args = [c, g["soc"][land][None, :], wet[None, :], doy[days][:, None]] + [L(n)[days] for n in ("TA", "SW_IN", "VPD", "TS", "SWC")]
    for name, mine, theirs in zip(("GPP", "RECO", "NEE", "FCH4"), fluxes(*args), (gpp[days], reco[days], nee[days], ch4[days])):
        bad = np.abs(mine - theirs) > 1e-4 * np.abs(mine) + 2e-4
        check(not bad.any(), f"{name} equals the docs/SIMULATOR.md equation at {mine.size} cell-days ({int(bad.sum())} differ)")

    # weather: persistent in time, smooth in space
    ta = L("TA")
    k = np.ones(31) / 31
    anom = np.array([ta[:, i] - np.convolve(ta[:, i], k, mode="same") for i in range(ta.shape[1])])[:, 20:-20]
    r1 = np.mean([np.corrcoef(a[:-1], a[1:])[0, 1] for a in anom])
    check(0.3 < r1 < 0.95, f"TA anomalies persist from day to day (lag-1 autocorrelation {r1:.2f})")
    # spatial: anomalies about each cell's 31-day running mean (seasons are shared)
    ta3 = g["TA"]
    ny, nx = ta3.shape[1:]
    cs = np.cumsum(np.concatenate([np.zeros((1, ny, nx)), ta3]), axis=0)
    a3 = (ta3[15:-15] - (cs[31:] - cs[:-31]) / 31.0)
    near, far = [], []
    for y in range(0, ny, 3):
        for x in range(0, nx - 30, 3):
            if land[y, x] and land[y, x + 1]:
                near.append(np.corrcoef(a3[:, y, x], a3[:, y, x + 1])[0, 1])
            if land[y, x] and land[y, x + 30]:
                far.append(np.corrcoef(a3[:, y, x], a3[:, y, x + 30])[0, 1])
    check(np.mean(near) > 0.7 and np.mean(far) < 0.4, f"TA anomalies: neighbouring cells alike, cells 30 apart not ({np.mean(near):.2f} vs {np.mean(far):.2f})")

    # magnitudes against the real towers (mid-latitude cells, pooled days)
    t = tower_values(towers)
    mid = (g["lat"][:, None].repeat(g["lon"].size, axis=1)[land] > 35) & (g["lat"][:, None].repeat(g["lon"].size, axis=1)[land] < 65)
    print(f"{'':6} {'simulated 35-65N: p5':>22} {'p50':>8} {'p95':>8} | {'towers: p5':>10} {'p50':>8} {'p95':>8}")
    for n in ("TA", "SW_IN", "VPD", "P", "GPP"):
        sv = L(n)[:, mid].ravel()
        tv = t[n]
        sp, tp = np.percentile(sv, [5, 50, 95]), np.percentile(tv, [5, 50, 95])
        print(f"{n:6} {sp[0]:22.2f} {sp[1]:8.2f} {sp[2]:8.2f} | {tp[0]:10.2f} {tp[1]:8.2f} {tp[2]:8.2f}")
        spread = tp[2] - tp[0]
        check(abs(sp[1] - tp[1]) < 0.5 * spread and abs(sp[2] - tp[2]) < 0.6 * spread,
              f"{n}: simulated median and 95th percentile within half the towers' 5-95 range of theirs")
    sv = ch4[:, wet > 0.45].ravel()
    tv = t["FCH4"]
    print(f"FCH4 wetland cells p50 {np.median(sv):.1f}, p95 {np.percentile(sv, 95):.1f} | wetland towers p50 {np.median(tv):.1f}, p95 {np.percentile(tv, 95):.1f} nmol m-2 s-1")
    check(np.percentile(tv, 95) / 4 < np.percentile(sv, 95) < 4 * np.percentile(tv, 95), "FCH4: wetland-cell 95th percentile within a factor 4 of the wetland towers'")
    print("check_sim: " + ("FAILED" if fails else "ok"))
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
