#!/usr/bin/python3
"""Annual flux maps of an upscaled grid: for each flux, the ensemble mean's
annual total and the members' mean daily disagreement, side by side, one PNG per flux.

usage: plot_upscale.py PRED.nc OUTDIR [--fluxes GPP,NEE] [--credit TEXT]

Writes OUTDIR/flux-annual.png and, beside it, flux-annual.json: the days averaged,
the colour norm (plot_map.color_norm's record) and how many coastline and border
segments were drawn.

The annual total is the mean over the days every mapped cell has a
prediction (the same days everywhere) x 365.25, in g C m-2 yr-1. NEE is
drawn on a diverging scale centred at zero (sinks blue, sources red); GPP
and the spreads on sequential scales from zero. The spread panel is the yearly
mean of the members' daily standard deviation (X_member_sd, g C m-2 d-1; the
file's X_spread adds a residual spread learnt on validation sites, the same
everywhere, given in the title): the spread of an annual total depends on how
the daily errors correlate, which the ensemble does not say. 2-D lat/lon (projected grids) are
drawn as they are. NEE's scale and the coastlines and borders (gmt-gshhg-low, over the
cells' extent for regular and 2-D coordinates alike) are plot_map.py's. Needs Debian's python3-matplotlib and python3-netcdf4.
"""
import argparse
import json
import os
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import netCDF4
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import plot_map  # noqa: E402  (one colour norm and one set of overlays for every map)


def annual(ds, name):
    """(annual total map, number of days) over the days every cell with any prediction has one"""
    v = np.ma.masked_invalid(np.ma.asarray(ds.variables[name][...]).astype(float))
    have = ~np.ma.getmaskarray(v)                 # (time, y, x)
    cells = have.any(axis=0)                      # cells predicted on some day
    if not cells.any():
        sys.exit(f"plot_upscale.py: error: {name} has no predicted value")
    days = have[:, cells].all(axis=1)             # days on which every such cell is predicted
    if not days.any():
        sys.exit(f"plot_upscale.py: error: {name}: no day on which every predicted cell has a value")
    m = v[days].mean(axis=0) * 365.25
    return np.ma.masked_where(~cells, m), int(days.sum())


def panel(ax, lat, lon, data, title, cmap, norm, label):
    """one map; returns how many coastline and border segments were drawn over it"""
    drawn = 0
    if lat is not None and lon is not None:
        if lat.ndim == 1:
            lon, lat = np.meshgrid(lon, lat)
        m = ax.pcolormesh(lon, lat, data, shading="nearest", cmap=cmap, norm=norm)
        # coastlines and borders over the cells' extent and half a cell beyond (regular or 2-D coordinates)
        half = 0.5 * max(float(np.nanmedian(np.abs(np.diff(lon, axis=1)))) if lon.shape[1] > 1 else 1.0,
                         float(np.nanmedian(np.abs(np.diff(lat, axis=0)))) if lat.shape[0] > 1 else 1.0)
        drawn = plot_map.draw_overlays(ax, np.array([np.nanmin(lon), np.nanmax(lon)]),
                                       np.array([np.nanmin(lat), np.nanmax(lat)]), pad=half)
        ax.set_xlabel("longitude (degrees east)")
        ax.set_ylabel("latitude (degrees north)")
        ax.set_aspect(1.0 / max(np.cos(np.deg2rad(np.nanmean(lat))), 0.2))
    else:
        m = ax.pcolormesh(data, shading="nearest", cmap=cmap, norm=norm)
    ax.set_title(title, fontsize=10)
    plt.colorbar(m, ax=ax, label=label, shrink=0.85)
    return drawn


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("pred")
    p.add_argument("outdir")
    p.add_argument("--fluxes", default="GPP,NEE")
    p.add_argument("--credit", default=None)
    a = p.parse_args()
    written = []
    with netCDF4.Dataset(a.pred) as ds:
        lat = np.asarray(ds.variables["lat"][...], float) if "lat" in ds.variables else None
        lon = np.asarray(ds.variables["lon"][...], float) if "lon" in ds.variables else None
        for flux in a.fluxes.split(","):
            if flux not in ds.variables:
                sys.exit(f"plot_upscale.py: error: {a.pred}: no variable '{flux}'")
            mean, nd = annual(ds, flux)
            spread, resid = None, None
            if flux + "_member_sd" in ds.variables:  # a daily sd: its yearly mean, not an annual total's sd
                spread, _ = annual(ds, flux + "_member_sd")
                spread = spread / 365.25
                if flux + "_spread" in ds.variables:  # spread^2 = member sd^2 + residual^2
                    tot = np.ma.masked_invalid(np.ma.asarray(ds.variables[flux + "_spread"][...]).astype(float))
                    msd = np.ma.masked_invalid(np.ma.asarray(ds.variables[flux + "_member_sd"][...]).astype(float))
                    resid = float(np.ma.median(np.ma.sqrt(np.ma.maximum(tot ** 2 - msd ** 2, 0))))
            fig, axes = plt.subplots(1, 2 if spread is not None else 1, figsize=(11 if spread is not None else 6, 4.6),
                                     dpi=110, squeeze=False)
            norm, rec = plot_map.color_norm([mean], plot_map.is_signed(flux))
            if plot_map.is_signed(flux):
                cmap, what = "RdBu_r", f"{flux} (negative: uptake)"
            else:
                cmap, what = "YlGn", flux
            info = {"flux": flux, "days": nd, "units": "g C m-2 yr-1", "norm": rec, "spread_norm": None}
            info["overlay_segments"] = panel(axes[0, 0], lat, lon, mean, f"{what}, ensemble mean, annual ({nd} days)", cmap, norm,
                  "g C m-2 yr-1")
            if spread is not None:
                extra = f"\n(the spread in the file adds a residual of {resid:.2f} from validation)" if resid else ""
                top = float(np.ma.max(spread)) or 1.0
                info["spread_norm"] = {"vmin": 0.0, "vmax": top}
                panel(axes[0, 1], lat, lon, spread, f"{flux}: members' disagreement, mean daily sd{extra}",
                      "Purples", mcolors.Normalize(0.0, top), "g C m-2 d-1")
            if a.credit:
                fig.text(0.01, -0.03, a.credit, fontsize=7, color="0.3")
            out = os.path.join(a.outdir, f"{flux.lower()}-annual.png")
            fig.savefig(out + ".tmp.png", bbox_inches="tight")
            plt.close(fig)
            os.replace(out + ".tmp.png", out)
            with open(out[:-4] + ".json.tmp", "w") as fh:  # what was drawn, for tests and readers
                json.dump(info, fh, indent=1)
            os.replace(out[:-4] + ".json.tmp", out[:-4] + ".json")
            written.append(out)
    for w in written:
        print(w)


if __name__ == "__main__":
    main()
