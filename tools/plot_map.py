#!/usr/bin/python3
"""PNG map of a variable of a raci NetCDF output: its mean over time (or the
field itself when it has no time dimension), missing cells left blank.

usage: plot_map.py FILE VAR OUT.png [--title TEXT] [--credit TEXT]
Needs Debian's python3-matplotlib and python3-netcdf4 (/usr/bin/python3).
"""
import argparse
import os
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import netCDF4
import numpy as np


def coord(ds, names):
    for n in names:
        if n in ds.variables:
            return np.asarray(ds.variables[n][...], dtype=float)
    return None


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("file")
    p.add_argument("var")
    p.add_argument("out")
    p.add_argument("--title", default=None)
    p.add_argument("--credit", default=None, help="data credit printed under the map")
    p.add_argument("--annual", default=None, metavar="UNITS",
                   help="plot the annual total (time mean x 365) with these units, e.g. 'g C m-2 yr-1'")
    p.add_argument("--scale", type=float, default=None, metavar="FACTOR",
                   help="with --annual: factor from the time mean to the annual total (default 365, for per-day units)")
    p.add_argument("--cmap", default="viridis")
    a = p.parse_args()
    with netCDF4.Dataset(a.file) as ds:
        if a.var not in ds.variables:
            sys.exit(f"plot_map.py: error: {a.file}: no variable '{a.var}'")
        v = ds.variables[a.var]
        data = np.ma.masked_invalid(np.ma.asarray(v[...]).astype(float))
        label = f"{a.var} ({getattr(v, 'units', '-')})"
        if v.dimensions and v.dimensions[0] in ("time",) and data.ndim == 3:
            data = data.mean(axis=0)
            label = "mean " + label
            if a.annual:
                data = data * (a.scale if a.scale is not None else 365.0)
                label = f"annual {a.var} ({a.annual})"
        if data.ndim != 2:
            sys.exit(f"plot_map.py: error: {a.file}: '{a.var}' is not a map (dims {v.dimensions})")
        lat = coord(ds, ["lat", "latitude", "y"])
        lon = coord(ds, ["lon", "longitude", "x"])
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    if lat is not None and lon is not None and lat.ndim == 1 and lon.ndim == 1:
        m = ax.pcolormesh(lon, lat, data, shading="nearest", cmap=a.cmap)
        ax.set_xlabel("longitude (degrees east)")
        ax.set_ylabel("latitude (degrees north)")
        ax.set_aspect(1.0 / max(np.cos(np.deg2rad(np.nanmean(lat))), 0.2))
    else:
        m = ax.pcolormesh(data, shading="nearest", cmap=a.cmap)
    fig.colorbar(m, ax=ax, label=label)
    ax.set_title(a.title or f"{a.var}: {os.path.basename(a.file)}")
    if a.credit:
        fig.text(0.01, -0.04, a.credit, fontsize=7, color="0.3")
    tmp = a.out + ".tmp.png"
    fig.savefig(tmp, bbox_inches="tight")
    os.replace(tmp, a.out)


if __name__ == "__main__":
    main()
