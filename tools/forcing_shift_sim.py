#!/usr/bin/python3
"""The forcing shift on the simulation (tools/forcing-shift-sim.sh).

usage: forcing_shift_sim.py TOWERS.nc PRED_TOWERS.nc GRID.nc PRED_GRID.nc BOXES
       forcing_shift_sim.py --table OUTDIR

TOWERS.nc is the simulation with point weather (-sim_local S), GRID.nc the same
world with the cells' smooth weather (-sim_local 0); both keep targets at the
same towers. BOXES (lon0,lon1,lat0,lat1,...) are the held-out towers. The first
form prints, per flux, on the held-out tower-days that both predictions have:
the RMSE against the towers' fluxes of the prediction from the tower's weather
and from the cell forcing, the error the forcing adds, the RMSE of the cell
forcing's prediction against the cell's own fluxes, and how far the towers'
fluxes are from the cell's (no model); then the drivers' RMSE, tower against
cell. The second form gathers every report under OUTDIR into one Markdown table.
"""
import glob
import os
import sys

import netCDF4
import numpy as np

FLUXES = ("GPP", "RECO", "NEE")
DRIVERS = ("TA", "SW_IN", "VPD", "P", "TS", "SWC")


def read(ds, name):
    return np.ma.filled(ds[name][:].astype(float), np.nan)


def report(towers, pred_towers, grid, pred_grid, boxes):
    box = [float(x) for x in boxes.split(",")]
    t, pt, g, pg = (netCDF4.Dataset(p) for p in (towers, pred_towers, grid, pred_grid))
    lat, lon = t["lat"][:], t["lon"][:]
    inbox = np.zeros((len(lat), len(lon)), bool)
    for k in range(0, len(box), 4):
        inbox |= ((lon[None, :] >= box[k]) & (lon[None, :] <= box[k + 1]) & (lat[:, None] >= box[k + 2]) &
                  (lat[:, None] <= box[k + 3]))
    rows = []
    for f in FLUXES:
        obs, cell = read(t, f), read(g, f)
        a, b = read(pt, f), read(pg, f)
        m = inbox[None] & np.isfinite(obs) & np.isfinite(cell) & np.isfinite(a) & np.isfinite(b)
        rm = lambda x, y: float(np.sqrt(np.mean((x[m] - y[m]) ** 2)))
        ra, rb = rm(a, obs), rm(b, obs)
        rows.append((f, int(m.sum()), int(m.any(axis=0).sum()), ra, rb, rb - ra, rm(b, cell), rm(obs, cell)))
    print("flux days towers rmse_tower_drivers rmse_grid_drivers added rmse_grid_vs_cell_flux rmse_tower_vs_cell_flux")
    for r in rows:
        print("%s %d %d %.4f %.4f %.4f %.4f %.4f" % r)
    m = inbox[None] & np.isfinite(read(t, "GPP"))
    print("driver rmse_tower_vs_cell corr")
    for d in DRIVERS:
        x, y = read(t, d)[m], read(g, d)[m]
        print("%s %.4f %.4f" % (d, np.sqrt(np.mean((x - y) ** 2)), np.corrcoef(x, y)[0, 1]))


def table(out):
    runs = sorted(glob.glob(os.path.join(out, "seed*", "local*", "report.txt")))
    if not runs:
        sys.exit(f"forcing_shift_sim.py: error: no report under {out}")
    print("| seed | -sim_local | flux | tower-days | towers | RMSE, tower drivers | RMSE, cell forcing | error added | "
          "cell forcing vs cell flux | tower flux vs cell flux |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    drivers = []
    for r in runs:
        seed = r.split(os.sep)[-3][4:]
        local = r.split(os.sep)[-2][5:]
        lines = open(r).read().split("\n")
        k = lines.index(next(x for x in lines if x.startswith("driver ")))
        for x in lines[1:k]:
            f, n, nt, ra, rb, add, rc, ro = x.split()
            print(f"| {seed} | {local} | {f} | {n} | {nt} | {float(ra):.3f} | {float(rb):.3f} | "
                  f"{float(add):+.3f} ({100 * float(add) / float(ra):+.0f} %) | {float(rc):.3f} | {float(ro):.3f} |")
        for x in lines[k + 1:]:
            if x.strip():
                d, rmse, corr = x.split()
                drivers.append((seed, local, d, float(rmse), float(corr)))
    print()
    print("| seed | -sim_local | driver | RMSE, tower vs cell | correlation |")
    print("| --- | ---: | --- | ---: | ---: |")
    for seed, local, d, rmse, corr in drivers:
        print(f"| {seed} | {local} | {d} | {rmse:.3f} | {corr:.3f} |")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--table":
        table(sys.argv[2])
    elif len(sys.argv) == 6:
        report(*sys.argv[1:])
    else:
        sys.exit(__doc__)
