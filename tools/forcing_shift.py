#!/usr/bin/python3
"""The forcing shift at towers inside a grid: predictions from the tower's own
meteorology against predictions from the grid's forcing at the tower's cell,
both scored against the tower's observed fluxes on the same days.

usage: forcing_shift.py TOWERS.nc PRED_TOWERS.nc GRID.nc PRED_GRID.nc SITE[,SITE...]

Prints, per site and flux, the RMSE and bias of each prediction on the days
both have a prediction and the tower an observation, the error the grid adds
(RMSE grid - RMSE tower), and how far the grid's daily drivers are from the
tower's on those days. Needs /usr/bin/python3 with netCDF4 and numpy.
"""
import datetime as dt
import sys

import netCDF4
import numpy as np


def dates(ds):
    t = ds.variables["time"]
    d = netCDF4.num2date(t[:], t.units, getattr(t, "calendar", "standard"))
    return np.array([dt.date(x.year, x.month, x.day).toordinal() for x in d])


def site_index(ds, site):
    ids = netCDF4.chartostring(ds.variables["site_id"][:])
    hit = [i for i, s in enumerate(ids) if str(s).strip() == site]
    if not hit:
        sys.exit(f"forcing_shift.py: error: no site {site}")
    return hit[0]


def values(ds, name, idx):
    v = np.ma.masked_invalid(np.ma.asarray(ds.variables[name][...]).astype(float))
    return np.ma.filled(v[(slice(None),) + idx], np.nan)


def main():
    towers, ptow, grid, pgrid = (netCDF4.Dataset(f) for f in sys.argv[1:5])
    sites = sys.argv[5].split(",")
    dt_t, dt_pt, dt_g, dt_pg = dates(towers), dates(ptow), dates(grid), dates(pgrid)
    glat = np.asarray(grid.variables["lat"][:], float)
    glon = np.asarray(grid.variables["lon"][:], float)
    if glat.ndim == 1:
        glon, glat = np.meshgrid(glon, glat)
    print("| site | flux | days | RMSE, tower drivers | RMSE, grid drivers | error added | bias tower | bias grid |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    drivers, cells = [], []
    for site in sites:
        s = site_index(towers, site)
        lat, lon = float(towers.variables["lat"][s]), float(towers.variables["lon"][s])
        d2 = (glat - lat) ** 2 + ((glon - lon) * np.cos(np.deg2rad(lat))) ** 2
        j, i = np.unravel_index(np.argmin(d2), d2.shape)
        common = np.intersect1d(np.intersect1d(dt_t, dt_pt), np.intersect1d(dt_g, dt_pg))
        it, ipt = np.searchsorted(dt_t, common), np.searchsorted(dt_pt, common)
        ig, ipg = np.searchsorted(dt_g, common), np.searchsorted(dt_pg, common)
        for flux in ("GPP", "NEE"):
            obs = values(towers, flux, (s,))[it]
            a = values(ptow, flux, (s,))[ipt]
            b = values(pgrid, flux, (j, i))[ipg]
            ok = np.isfinite(obs) & np.isfinite(a) & np.isfinite(b)
            if ok.sum() == 0:
                print(f"| {site} | {flux} | 0 | | | | | |")
                continue
            ra = np.sqrt(np.mean((a[ok] - obs[ok]) ** 2))
            rb = np.sqrt(np.mean((b[ok] - obs[ok]) ** 2))
            print(f"| {site} | {flux} | {ok.sum()} | {ra:.3f} | {rb:.3f} | {rb - ra:+.3f} ({(rb / ra - 1) * 100:+.0f} %) "
                  f"| {np.mean(a[ok] - obs[ok]):+.3f} | {np.mean(b[ok] - obs[ok]):+.3f} |")
        for v in ("TA", "SW_IN", "VPD", "P", "PA", "WS"):
            if v not in grid.variables or v not in towers.variables:
                continue
            x = values(towers, v, (s,))[it]
            y = values(grid, v, (j, i))[ig]
            ok = np.isfinite(x) & np.isfinite(y)
            if ok.sum():
                drivers.append((site, v, ok.sum(), np.mean(y[ok] - x[ok]), np.sqrt(np.mean((y[ok] - x[ok]) ** 2)),
                                np.corrcoef(x[ok], y[ok])[0, 1], getattr(grid.variables[v], "units", "")))
        cells.append(f"{site}: lat {lat:.4f}, lon {lon:.4f}; grid cell y {j}, x {i} at lat {glat[j, i]:.4f}, "
                     f"lon {glon[j, i]:.4f}")
    print("\n" + "\n".join(cells))
    print("\n| site | driver | days | grid - tower, mean | RMSE | correlation |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for site, v, n, b, r, c, u in drivers:
        print(f"| {site} | {v} ({u}) | {n} | {b:+.3f} | {r:.3f} | {c:.3f} |")


if __name__ == "__main__":
    main()
