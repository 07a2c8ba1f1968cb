#!/usr/bin/python3
"""PNG map of held-out errors from `raci eval -eval_json`: the RMSE of every
scored location, one panel per flux.

usage: plot_errors.py EVAL.json OUT.png [--fluxes GPP,NEE] [--box=W,E,S,N] [--extent=W,E,S,N]
                      [--title TEXT] [--credit TEXT]
Coastlines and borders (Debian gmt-gshhg-low, tools/gshhg.py) and the held-out box are drawn.
Needs Debian's python3-matplotlib (/usr/bin/python3).
"""
import argparse
import json
import os
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plot_map import draw_overlays, parse_box  # noqa: E402


def units_label(u, flux):
    """carbon fluxes stored in g m-2 d-1 are g C m-2 d-1"""
    return "g C m-2 d-1" if flux in ("GPP", "RECO", "NEE") and u.replace(" ", "") == "gm-2d-1" else u


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("json")
    p.add_argument("out")
    p.add_argument("--fluxes", default="GPP,NEE")
    p.add_argument("--title", default=None)
    p.add_argument("--credit", default=None)
    p.add_argument("--box", default=None, metavar="W,E,S,N", help="outline this region (the held-out box); write --box=W,E,S,N")
    p.add_argument("--extent", default=None, metavar="W,E,S,N",
                   help="map extent (default: the box, or the locations, with a margin)")
    a = p.parse_args()
    box = parse_box(a.box)
    extent = parse_box(a.extent)
    ev = json.load(open(a.json))
    fluxes = [f for f in a.fluxes.split(",") if f in ev["fluxes"]]
    if not fluxes:
        sys.exit(f"plot_errors.py: error: {a.json}: none of {a.fluxes} was evaluated")
    fig, axes = plt.subplots(1, len(fluxes), figsize=(5.5 * len(fluxes), 4.2), dpi=110, squeeze=False)
    for ax, f in zip(axes[0], fluxes):
        e = ev["fluxes"][f]
        locs = [l for l in e["locations"] if l["metrics"]["rmse"] is not None]
        lon = np.array([l["lon"] for l in locs])
        lat = np.array([l["lat"] for l in locs])
        rmse = np.array([l["metrics"]["rmse"] for l in locs])
        m = ax.scatter(lon, lat, c=rmse, s=40, marker="s", cmap="magma_r")
        fig.colorbar(m, ax=ax, label=f"RMSE of daily {f} ({units_label(e['units'], f)})")
        pooled = e["pooled"]
        ax.set_title(f"{f}: pooled RMSE {pooled['rmse']:.3g}, R2 {pooled['r2'] or float('nan'):.2f}, {len(locs)} locations")
        ax.set_xlabel("longitude (degrees east)")
        ax.set_ylabel("latitude (degrees north)")
        if len(lat):
            if extent:
                ext = extent
            else:  # the locations and the box, with a margin
                w, e, so, n = lon.min(), lon.max(), lat.min(), lat.max()
                if box:
                    w, e, so, n = min(w, box[0]), max(e, box[1]), min(so, box[2]), max(n, box[3])
                ext = (w - 4, e + 4, so - 3, n + 3)
            draw_overlays(ax, np.array(ext[:2]), np.array(ext[2:]), box, pad=0.0)
            ax.set_aspect(1.0 / max(np.cos(np.deg2rad(lat.mean())), 0.2))
    fig.suptitle(a.title or f"held-out errors ({ev['split']} locations): {os.path.basename(ev['pred'])}")
    if a.credit:
        fig.text(0.01, -0.03, a.credit, fontsize=7, color="0.3")
    tmp = a.out + ".tmp.png"
    fig.savefig(tmp, bbox_inches="tight")
    os.replace(tmp, a.out)


if __name__ == "__main__":
    main()
