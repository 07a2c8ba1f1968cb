#!/usr/bin/python3
"""PNG map of a variable of a raci NetCDF output: its mean over time (or the
field itself when it has no time dimension), missing cells left blank.

usage: plot_map.py FILE VAR OUT.png [--annual UNITS] [--days-like OTHER.nc [OTHERVAR]]
                   [--compare SIM.nc] [--box W,E,S,N] [--diverging | --sequential]
                   [--title TEXT] [--credit TEXT]

Time means are taken over the days on which the map has values (a
prediction's first days, the model's warm-up, are fill and left out).
--days-like OTHER.nc restricts them to the days OTHER's variable has values,
so that a simulated annual map covers exactly the days of a predicted one.
--compare SIM.nc draws three panels: SIM's VAR | FILE's VAR | FILE - SIM,
each mean over the same cell-days (those both files have), the first two on
one colour scale, the difference on a diverging scale centred at zero; an
ensemble's prediction (FILE has VAR_spread) gets a fourth, the mean daily
spread over the same cell-days, in the file's daily units.

Signed quantities (NEE and names ending in _bias, _diff, _error; --diverging
for others) are drawn on a diverging colour map whose centre, white, is zero
(limits symmetric about zero); others on a sequential map from their range.
Units: carbon fluxes stored as "g m-2 d-1" (the file's udunits-parsable
attribute, left as it is) are labelled g C m-2 d-1, annual maps with --annual
UNITS (g C m-2 yr-1). Coastlines and country/state borders come from Debian's
gmt-gshhg-low (tools/gshhg.py), drawn when installed; --box outlines a region
(the held-out box). Next to OUT.png, OUT.json records what was drawn: for each
panel its colour limits, centre and the colour position of zero, and the days
averaged (their time values). Needs Debian's python3-matplotlib and
python3-netcdf4 (/usr/bin/python3).
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
from matplotlib.collections import LineCollection
from matplotlib.patches import Rectangle

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gshhg  # noqa: E402

SIGNED_NAMES = ("NEE",)
SIGNED_SUFFIXES = ("_bias", "_diff", "_error", "_err")
CARBON = ("GPP", "RECO", "NEE", "NPP", "TER")


def is_signed(var):
    """True when VAR is a signed quantity drawn diverging by default"""
    return var in SIGNED_NAMES or var.endswith(SIGNED_SUFFIXES)


def color_norm(arrays, diverging):
    """(matplotlib norm, record) for the values of ARRAYS drawn on one scale.
    Diverging: limits symmetric about zero (the 99th percentile of |x|, so one
    outlier does not wash the map out), centre zero. Sequential: the range."""
    vals = np.concatenate([np.ma.compressed(np.ma.masked_invalid(a)).ravel() for a in arrays])
    if vals.size == 0:
        vals = np.zeros(1)
    if diverging:
        lim = float(np.percentile(np.abs(vals), 99.0)) or float(np.abs(vals).max()) or 1.0
        norm = mcolors.TwoSlopeNorm(vmin=-lim, vcenter=0.0, vmax=lim)
        rec = {"diverging": True, "vmin": -lim, "vcenter": 0.0, "vmax": lim}
    else:
        lo, hi = float(vals.min()), float(vals.max())
        if hi <= lo:
            hi = lo + 1.0
        norm = mcolors.Normalize(vmin=lo, vmax=hi)
        rec = {"diverging": False, "vmin": lo, "vcenter": None, "vmax": hi}
    rec["data_min"], rec["data_max"] = float(vals.min()), float(vals.max())
    rec["zero_at"] = float(norm(0.0)) if rec["vmin"] <= 0.0 <= rec["vmax"] else None
    ext = {(False, False): "neither", (True, False): "min", (False, True): "max", (True, True): "both"}
    rec["extend"] = ext[(rec["data_min"] < rec["vmin"], rec["data_max"] > rec["vmax"])]
    return norm, rec


def units_label(v, var):
    """the units as a reader should see them: 'g C m-2 d-1' for carbon fluxes in g m-2 d-1"""
    u = getattr(v, "units", "-")
    carbon = "carbon" in getattr(v, "long_name", "").lower() or var.split("_")[0] in CARBON
    if carbon and u.replace(" ", "") in ("gm-2d-1", "gm-2day-1", "gm^-2d^-1"):
        return "g C m-2 d-1"
    return u


def coord(ds, names):
    for n in names:
        if n in ds.variables:
            return np.asarray(ds.variables[n][...], dtype=float)
    return None


class Field:
    """a variable of a file: data (time, y, x) or (y, x), its time values, coordinates"""

    def __init__(self, path, var):
        with netCDF4.Dataset(path) as ds:
            if var not in ds.variables:
                sys.exit(f"plot_map.py: error: {path}: no variable '{var}'")
            v = ds.variables[var]
            self.data = np.ma.masked_invalid(np.ma.asarray(v[...]).astype(float))
            self.timed = bool(v.dimensions) and v.dimensions[0] == "time" and self.data.ndim == 3
            self.time = np.asarray(ds.variables["time"][...], float) if self.timed and "time" in ds.variables \
                else (np.arange(self.data.shape[0], dtype=float) if self.timed else None)
            self.units = units_label(v, var)
            self.lat = coord(ds, ["lat", "latitude", "y"])
            self.lon = coord(ds, ["lon", "longitude", "x"])
        self.path, self.var = path, var
        if not self.timed and self.data.ndim != 2:
            sys.exit(f"plot_map.py: error: {path}: '{var}' is not a map (dims {self.data.shape})")

    def valid(self):
        return ~np.ma.getmaskarray(self.data)

    def days(self):
        """time values of the days on which the map has any value"""
        return self.time[self.valid().reshape(len(self.time), -1).any(axis=1)]


def mean_over(f, keep):
    """time mean of field F over the cell-days KEEP (bool like f.data); (map, time values used)"""
    d = np.ma.masked_where(~keep, f.data)
    used = f.time[keep.reshape(len(f.time), -1).any(axis=1)]
    return d.mean(axis=0), used


def days_mask(f, times):
    """cell-days of F on the days TIMES (time values)"""
    sel = np.isin(f.time, times)
    return f.valid() & sel[:, None, None]


def draw_overlays(ax, lon, lat, box=None, pad=None):
    """coastlines, country/state borders (when gmt-gshhg-low is installed) and the box
    W,E,S,N over a map whose 1-D lon/lat span the axes; returns how many coastline and border
    segments fall in the map's box (0 without gmt-gshhg-low, or over open sea)"""
    w, e = float(np.nanmin(lon)), float(np.nanmax(lon))
    s, n = float(np.nanmin(lat)), float(np.nanmax(lat))
    # the axes reach half a cell beyond the outer cell centres (or PAD degrees)
    dx = pad if pad is not None else (abs(lon[1] - lon[0]) / 2 if len(lon) > 1 else 0.5)
    dy = pad if pad is not None else (abs(lat[1] - lat[0]) / 2 if len(lat) > 1 else 0.5)
    drawn = 0

    def inside(segs):  # segments with a point on the map (the bins read reach beyond it)
        return sum(bool(((g[:, 0] >= w - dx) & (g[:, 0] <= e + dx) & (g[:, 1] >= s - dy) & (g[:, 1] <= n + dy)).any())
                   for g in map(np.asarray, segs))

    coast = gshhg.segments("coast", (1,), w, e, s, n)
    if coast is not None:  # and lakes of 5000 km2 or more (the Great Lakes, Winnipeg, Great Slave...)
        coast += gshhg.segments("coast", (2,), w, e, s, n, min_area=5000.0)
        ax.add_collection(LineCollection(coast, colors="0.15", linewidths=0.5), autolim=False)
        drawn += inside(coast)
    border = gshhg.segments("border", (1, 2), w, e, s, n)
    if border is not None:
        lv1 = gshhg.segments("border", (1,), w, e, s, n)
        ax.add_collection(LineCollection(border, colors="0.35", linewidths=0.25), autolim=False)
        ax.add_collection(LineCollection(lv1, colors="0.15", linewidths=0.5), autolim=False)
        drawn += inside(border)
    if box is not None:
        bw, be, bs, bn = box
        ax.add_patch(Rectangle((bw, bs), be - bw, bn - bs, fill=False, edgecolor="k", linewidth=1.3,
                               linestyle="--", zorder=5))
        ax.text(bw, bn + 0.3, "held out", fontsize=7, va="bottom", zorder=5)
    ax.set_xlim(w - dx, e + dx)
    ax.set_ylim(s - dy, n + dy)
    return drawn


def panel(ax, f, data, cmap, norm, title, box, ylabel=True):
    if f.lat is not None and f.lon is not None and f.lat.ndim == 1 and f.lon.ndim == 1:
        m = ax.pcolormesh(f.lon, f.lat, data, shading="nearest", cmap=cmap, norm=norm)
        ax.set_xlabel("longitude (degrees east)")
        if ylabel:
            ax.set_ylabel("latitude (degrees north)")
        draw_overlays(ax, f.lon, f.lat, box)
        ax.set_aspect(1.0 / max(np.cos(np.deg2rad(np.nanmean(f.lat))), 0.2))
    else:
        m = ax.pcolormesh(data, shading="nearest", cmap=cmap, norm=norm)
    ax.set_title(title, fontsize=10)
    return m


def parse_box(s):
    if s is None:
        return None
    try:
        w, e, so, n = (float(x) for x in s.split(","))
    except ValueError:
        sys.exit(f"plot_map.py: error: --box '{s}': expected W,E,S,N in degrees")
    return w, e, so, n


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
    p.add_argument("--cmap", default=None, help="colour map (default RdBu_r when diverging, else viridis)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--diverging", dest="diverging", action="store_true", default=None,
                   help="a signed quantity: diverging colours centred at zero (default for NEE, *_bias, *_diff)")
    g.add_argument("--sequential", dest="diverging", action="store_false", help="not diverging")
    p.add_argument("--days-like", nargs="+", default=None, metavar=("OTHER.nc", "OTHERVAR"),
                   help="average only the days on which OTHER.nc's OTHERVAR (default VAR) has values")
    p.add_argument("--compare", default=None, metavar="SIM.nc",
                   help="three panels: SIM.nc's VAR | FILE's VAR | FILE - SIM over the same cell-days")
    p.add_argument("--box", default=None, metavar="W,E,S,N", help="outline this region (e.g. the held-out box)")
    a = p.parse_args()
    box = parse_box(a.box)
    diverging = is_signed(a.var) if a.diverging is None else a.diverging
    cmap = a.cmap or ("RdBu_r" if diverging else "viridis")
    f = Field(a.file, a.var)
    factor = (a.scale if a.scale is not None else 365.0) if a.annual else 1.0
    units = a.annual if a.annual else f.units

    def what(prefix=""):
        if not f.timed:
            return f"{prefix}{a.var} ({units})"
        return f"{'annual' if a.annual else 'mean'} {prefix}{a.var} ({units})"

    info = {"file": os.path.abspath(a.file), "var": a.var, "units": units, "annual": bool(a.annual),
            "scale": factor, "panels": []}
    if a.compare:
        s = Field(a.compare, a.var)
        if s.data.shape != f.data.shape or (f.timed and not np.array_equal(s.time, f.time)):
            sys.exit(f"plot_map.py: error: --compare {a.compare}: '{a.var}' is not on the grid and days of {a.file}")
        keep = f.valid() & s.valid()
        if not keep.any():
            sys.exit(f"plot_map.py: error: {a.file} and {a.compare} have no cell-day with '{a.var}' in both")
        if f.timed:
            pm, used = mean_over(f, keep)
            sm, used_s = mean_over(s, keep)
        else:
            pm, sm, used, used_s = np.ma.masked_where(~keep, f.data), np.ma.masked_where(~keep, s.data), None, None
        pm, sm = pm * factor, sm * factor
        diff = pm - sm
        norm, rec = color_norm([sm, pm], diverging)
        dnorm, drec = color_norm([diff], True)
        spread = None
        with netCDF4.Dataset(a.file) as ds:
            has_spread = a.var + "_spread" in ds.variables
        if f.timed and has_spread:  # an ensemble: its spread too
            sp = Field(a.file, a.var + "_spread")
            spread, _ = mean_over(sp, keep)
            snorm, srec = color_norm([spread], False)
            snorm = mcolors.Normalize(vmin=0.0, vmax=srec["vmax"])
            srec.update(vmin=0.0, zero_at=0.0)
        fig, axes = plt.subplots(1, 3 if spread is None else 4, figsize=(17 if spread is None else 22, 4.6), dpi=110,
                                 layout="constrained")
        nd = f"{len(used)} days" if used is not None else "static"
        m0 = panel(axes[0], s, sm, cmap, norm, f"simulated ({os.path.basename(a.compare)}), {nd}", box)
        panel(axes[1], f, pm, cmap, norm, f"predicted ({os.path.basename(a.file)}), {nd}", box, False)
        m2 = panel(axes[2], f, diff, "RdBu_r", dnorm, "predicted - simulated", box, False)
        fig.colorbar(m0, ax=list(axes[:2]), label=what(), shrink=0.85, extend=rec["extend"])
        fig.colorbar(m2, ax=axes[2], label=f"predicted - simulated ({units})", shrink=0.85, extend=drec["extend"])
        for name, r, u in (("simulated", rec, used_s), ("predicted", rec, used), ("difference", drec, used)):
            info["panels"].append(dict(r, name=name, cmap="RdBu_r" if name == "difference" else cmap,
                                       days=None if u is None else [float(t) for t in u]))
        if spread is not None:
            m3 = panel(axes[3], sp, spread, "Purples", snorm, "ensemble spread (mean daily)", box, False)
            fig.colorbar(m3, ax=axes[3], label=f"{a.var}_spread ({sp.units})", shrink=0.85)
            info["panels"].append(dict(srec, name="spread", cmap="Purples", days=[float(t) for t in used]))
        if a.title:
            fig.suptitle(a.title)
    else:
        if f.timed:
            keep = f.valid()
            if a.days_like:
                ofile = a.days_like[0]
                ovar = a.days_like[1] if len(a.days_like) > 1 else a.var
                if len(a.days_like) > 2:
                    sys.exit("plot_map.py: error: --days-like takes OTHER.nc [OTHERVAR]")
                o = Field(ofile, ovar)
                if not o.timed:
                    sys.exit(f"plot_map.py: error: --days-like {ofile}: '{ovar}' has no time dimension")
                od = o.days()
                missing = np.setdiff1d(od, f.time)
                if missing.size:
                    sys.exit(f"plot_map.py: error: --days-like {ofile}: {missing.size} of its days are not in {a.file}")
                keep = days_mask(f, od)
            data, used = mean_over(f, keep)
            data = data * factor
        else:
            data, used = f.data, None
        norm, rec = color_norm([data], diverging)
        fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
        m = panel(ax, f, data, cmap, norm, a.title or f"{a.var}: {os.path.basename(a.file)}", box)
        label = what()
        if used is not None:
            label += f", {len(used)} days"
        fig.colorbar(m, ax=ax, label=label, extend=rec["extend"])
        info["panels"].append(dict(rec, name=a.var, cmap=cmap, days=None if used is None else [float(t) for t in used]))
    info["coastlines"] = gshhg.find("coast") is not None
    if not info["coastlines"]:
        print("plot_map.py: note: no coastlines (install gmt-gshhg-low: tools/install-deps.sh)", file=sys.stderr)
    if a.credit:
        fig.text(0.01, -0.04, a.credit, fontsize=7, color="0.3")
    tmp = a.out + ".tmp.png"
    fig.savefig(tmp, bbox_inches="tight")
    os.replace(tmp, a.out)
    side = os.path.splitext(a.out)[0] + ".json"
    with open(side + ".tmp", "w") as fh:
        json.dump(info, fh, indent=1)
    os.replace(side + ".tmp", side)


if __name__ == "__main__":
    main()
